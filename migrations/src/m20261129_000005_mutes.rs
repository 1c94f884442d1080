//! Room mutes, so that a mute and its end survive a restart of the app (they lived only in the
//! room actor's memory).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RoomMutes {
    Table,
    RoomId,
    UserId,
    UntilMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RoomMutes::Table)
                .if_not_exists()
                .col(ColumnDef::new(RoomMutes::RoomId).big_integer().not_null())
                .col(ColumnDef::new(RoomMutes::UserId).big_integer().not_null())
                .col(ColumnDef::new(RoomMutes::UntilMs).big_integer().not_null())
                .primary_key(Index::create().col(RoomMutes::RoomId).col(RoomMutes::UserId))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(RoomMutes::Table).if_exists().to_owned()).await
    }
}

//! Live rooms and their bans.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Rooms {
    Table,
    Id,
    AnchorId,
    Title,
    Kind,
    Status,
    SlowModeS,
    StartedAt,
    ClosedAt,
}

#[derive(DeriveIden)]
enum RoomBans {
    Table,
    RoomId,
    UserId,
    CreatedAt,
}

/// One row per anchor who is live: its primary key makes "one live room per anchor" hold
/// under concurrent creates on every database.
#[derive(DeriveIden)]
enum LiveAnchors {
    Table,
    AnchorId,
    RoomId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Rooms::Table)
                .if_not_exists()
                .col(ColumnDef::new(Rooms::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(Rooms::AnchorId).big_integer().not_null())
                .col(ColumnDef::new(Rooms::Title).string_len(240).not_null())
                .col(ColumnDef::new(Rooms::Kind).string_len(10).not_null())
                .col(ColumnDef::new(Rooms::Status).string_len(10).not_null())
                .col(ColumnDef::new(Rooms::SlowModeS).integer().not_null().default(0))
                .col(ColumnDef::new(Rooms::StartedAt).big_integer().not_null())
                .col(ColumnDef::new(Rooms::ClosedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_rooms_status_started")
                .table(Rooms::Table)
                .col(Rooms::Status)
                .col(Rooms::StartedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_rooms_anchor")
                .table(Rooms::Table)
                .col(Rooms::AnchorId)
                .col(Rooms::Status)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RoomBans::Table)
                .if_not_exists()
                .col(ColumnDef::new(RoomBans::RoomId).big_integer().not_null())
                .col(ColumnDef::new(RoomBans::UserId).big_integer().not_null())
                .col(ColumnDef::new(RoomBans::CreatedAt).big_integer().not_null())
                .primary_key(Index::create().col(RoomBans::RoomId).col(RoomBans::UserId))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LiveAnchors::Table)
                .if_not_exists()
                .col(ColumnDef::new(LiveAnchors::AnchorId).big_integer().not_null().primary_key())
                .col(ColumnDef::new(LiveAnchors::RoomId).big_integer().not_null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(LiveAnchors::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(RoomBans::Table).if_exists().to_owned()).await?;
        m.drop_table(Table::drop().table(Rooms::Table).if_exists().to_owned()).await
    }
}

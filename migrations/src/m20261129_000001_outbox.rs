//! The transactional outbox: deferred work written in the same transaction as the business
//! change that needs it, then relayed to the delay queue. Also versions products' stock, so a
//! room can tell a stale stock announcement from a newer one.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Kind,
    Payload,
    DueAt,
    CreatedAt,
    Attempts,
    LockedUntil,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    StockVersion,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Outbox::Table)
                .if_not_exists()
                .col(ColumnDef::new(Outbox::Id).string_len(40).not_null().primary_key())
                .col(ColumnDef::new(Outbox::Kind).string_len(40).not_null())
                .col(ColumnDef::new(Outbox::Payload).text().not_null())
                .col(ColumnDef::new(Outbox::DueAt).big_integer().not_null())
                .col(ColumnDef::new(Outbox::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Outbox::Attempts).integer().not_null().default(0))
                .col(ColumnDef::new(Outbox::LockedUntil).big_integer().not_null().default(0))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_outbox_locked").table(Outbox::Table).col(Outbox::LockedUntil).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Products::Table)
                .add_column(ColumnDef::new(Products::StockVersion).big_integer().not_null().default(0))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Products::Table).drop_column(Products::StockVersion).to_owned()).await?;
        m.drop_table(Table::drop().table(Outbox::Table).if_exists().to_owned()).await
    }
}

//! Users, wallets, trades, id segments and the local delay queue's jobs.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Phone,
    Nickname,
    Avatar,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Wallets {
    Table,
    UserId,
    Balance,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Trades {
    Table,
    Id,
    UserId,
    Kind,
    Ref,
    Amount,
    BalanceAfter,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdSegments {
    Table,
    Biz,
    MaxId,
    Step,
    Version,
}

#[derive(DeriveIden)]
enum DelayedJobs {
    Table,
    Id,
    Kind,
    Payload,
    DueAt,
    Attempts,
    LockedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .if_not_exists()
                .col(ColumnDef::new(Users::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(Users::Phone).string_len(20).not_null().unique_key())
                .col(ColumnDef::new(Users::Nickname).string_len(80).not_null())
                .col(ColumnDef::new(Users::Avatar).string_len(300).not_null().default(""))
                .col(ColumnDef::new(Users::CreatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Wallets::Table)
                .if_not_exists()
                .col(ColumnDef::new(Wallets::UserId).big_integer().not_null().primary_key())
                .col(ColumnDef::new(Wallets::Balance).big_integer().not_null().default(0))
                .col(ColumnDef::new(Wallets::UpdatedAt).big_integer().not_null())
                .check(Expr::col(Wallets::Balance).gte(0))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Trades::Table)
                .if_not_exists()
                .col(ColumnDef::new(Trades::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(Trades::UserId).big_integer().not_null())
                .col(ColumnDef::new(Trades::Kind).string_len(20).not_null())
                .col(ColumnDef::new(Trades::Ref).string_len(100).not_null())
                .col(ColumnDef::new(Trades::Amount).big_integer().not_null())
                .col(ColumnDef::new(Trades::BalanceAfter).big_integer().not_null())
                .col(ColumnDef::new(Trades::CreatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_trades_kind_ref")
                .table(Trades::Table)
                .col(Trades::Kind)
                .col(Trades::Ref)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_trades_user").table(Trades::Table).col(Trades::UserId).col(Trades::Id).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(IdSegments::Table)
                .if_not_exists()
                .col(ColumnDef::new(IdSegments::Biz).string_len(40).not_null().primary_key())
                .col(ColumnDef::new(IdSegments::MaxId).big_integer().not_null())
                .col(ColumnDef::new(IdSegments::Step).big_integer().not_null())
                .col(ColumnDef::new(IdSegments::Version).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(DelayedJobs::Table)
                .if_not_exists()
                .col(ColumnDef::new(DelayedJobs::Id).string_len(40).not_null().primary_key())
                .col(ColumnDef::new(DelayedJobs::Kind).string_len(40).not_null())
                .col(ColumnDef::new(DelayedJobs::Payload).text().not_null())
                .col(ColumnDef::new(DelayedJobs::DueAt).big_integer().not_null())
                .col(ColumnDef::new(DelayedJobs::Attempts).integer().not_null().default(0))
                .col(ColumnDef::new(DelayedJobs::LockedUntil).big_integer().not_null().default(0))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_delayed_jobs_due").table(DelayedJobs::Table).col(DelayedJobs::DueAt).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            DelayedJobs::Table.into_iden(),
            IdSegments::Table.into_iden(),
            Trades::Table.into_iden(),
            Wallets::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}

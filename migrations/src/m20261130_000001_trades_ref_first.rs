//! The trades' unique index leads with `ref` instead of `kind`. The wallet writer finds the
//! writes of a batch that were applied before with one `ref IN (...)` of up to 256 refs; with
//! `kind` first, Postgres' generic plan for that prepared statement (made while the table was
//! small) walked every trade of the kind and filtered the refs, 50–400 ms a batch once the
//! table held some 50,000 gifts. With `ref` first, no plan can do better than one index probe
//! per ref. `(kind, ref)` stays unique either way.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Trades {
    Table,
    Kind,
    Ref,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ux_trades_ref_kind")
                .table(Trades::Table)
                .col(Trades::Ref)
                .col(Trades::Kind)
                .unique()
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name("ux_trades_kind_ref").table(Trades::Table).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
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
        m.drop_index(Index::drop().name("ux_trades_ref_kind").table(Trades::Table).to_owned()).await
    }
}

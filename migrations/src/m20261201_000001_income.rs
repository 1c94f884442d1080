//! Anchor income. A gift's or an order's coins go to the anchor who received or sold, less the
//! platform's share, in the same transaction as the buyer's debit: `wallets.income` is the
//! anchor's running total (not spendable as coins), and `earnings` one row per credit, naming
//! the sender, what was bought, the coins paid, the platform's fee and the anchor's part, so
//! coins are conserved row by row: `coins = fee + amount`, and `coins` is the debit of the
//! trade named by `trade_id`. `trades.note` says in words what a trade was ("Gift sent:
//! Rocket ×1").

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Wallets {
    Table,
    Income,
}

#[derive(DeriveIden)]
enum Trades {
    Table,
    Note,
}

#[derive(DeriveIden)]
enum Earnings {
    Table,
    Id,
    UserId,
    TradeId,
    Kind,
    FromId,
    RoomId,
    Title,
    Coins,
    Fee,
    Amount,
    IncomeAfter,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Wallets::Table)
                .add_column(ColumnDef::new(Wallets::Income).big_integer().not_null().default(0))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Trades::Table)
                .add_column(ColumnDef::new(Trades::Note).string_len(200).null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Earnings::Table)
                .if_not_exists()
                .col(ColumnDef::new(Earnings::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(Earnings::UserId).big_integer().not_null())
                .col(ColumnDef::new(Earnings::TradeId).big_integer().not_null().unique_key())
                .col(ColumnDef::new(Earnings::Kind).string_len(20).not_null())
                .col(ColumnDef::new(Earnings::FromId).big_integer().not_null())
                .col(ColumnDef::new(Earnings::RoomId).big_integer().null())
                .col(ColumnDef::new(Earnings::Title).string_len(200).not_null())
                .col(ColumnDef::new(Earnings::Coins).big_integer().not_null())
                .col(ColumnDef::new(Earnings::Fee).big_integer().not_null())
                .col(ColumnDef::new(Earnings::Amount).big_integer().not_null())
                .col(ColumnDef::new(Earnings::IncomeAfter).big_integer().not_null())
                .col(ColumnDef::new(Earnings::CreatedAt).big_integer().not_null())
                .check(Expr::col(Earnings::Coins).eq(Expr::col(Earnings::Fee).add(Expr::col(Earnings::Amount))))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_earnings_user")
                .table(Earnings::Table)
                .col(Earnings::UserId)
                .col(Earnings::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Earnings::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Trades::Table).drop_column(Trades::Note).to_owned()).await?;
        m.alter_table(Table::alter().table(Wallets::Table).drop_column(Wallets::Income).to_owned()).await
    }
}

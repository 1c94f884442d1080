//! A PK's tally kept in its row, written in the same transaction as each gift's debit: the
//! score, each side's coins and the number of gifts counted; and its scale (coins per point of
//! the bar), fixed when it starts (`pk.coins_per_point`). Whatever node took a gift, the
//! row's lock orders the gifts of one PK, so the score is the rule applied in commit order,
//! and a node that takes a PK over reads it instead of rebuilding it. A gift row keeps its
//! place in that order (`pk_seq`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Pks {
    Table,
    HostCoins,
    ChallengerCoins,
    Gifts,
    CoinsPerPoint,
}

#[derive(DeriveIden)]
enum GiftSends {
    Table,
    PkSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for col in [Pks::HostCoins, Pks::ChallengerCoins, Pks::Gifts] {
            m.alter_table(
                Table::alter()
                    .table(Pks::Table)
                    .add_column(ColumnDef::new(col).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Pks::Table)
                .add_column(ColumnDef::new(Pks::CoinsPerPoint).big_integer().not_null().default(10))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(GiftSends::Table)
                .add_column(ColumnDef::new(GiftSends::PkSeq).big_integer().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(GiftSends::Table).drop_column(GiftSends::PkSeq).to_owned()).await?;
        for col in [Pks::HostCoins, Pks::ChallengerCoins, Pks::Gifts, Pks::CoinsPerPoint] {
            m.alter_table(Table::alter().table(Pks::Table).drop_column(col).to_owned()).await?;
        }
        Ok(())
    }
}

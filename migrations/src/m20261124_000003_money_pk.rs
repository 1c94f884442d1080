//! Recharge products and recharges, the gift catalogue, gifts sent, PK battles.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RechargeProducts {
    Table,
    Id,
    Name,
    Coins,
    PriceCents,
}

#[derive(DeriveIden)]
enum Recharges {
    Table,
    Id,
    UserId,
    ProductId,
    Coins,
    PriceCents,
    IdemKey,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Gifts {
    Table,
    Id,
    Name,
    Price,
    Effect,
}

#[derive(DeriveIden)]
enum GiftSends {
    Table,
    Id,
    RoomId,
    UserId,
    ToId,
    GiftId,
    Count,
    Coins,
    PkId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Pks {
    Table,
    Id,
    RoomId,
    HostId,
    ChallengerId,
    ChallengerRoomId,
    Status,
    Score,
    StartedAt,
    EndsAt,
    Winner,
    EndedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RechargeProducts::Table)
                .if_not_exists()
                .col(ColumnDef::new(RechargeProducts::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(RechargeProducts::Name).string_len(60).not_null())
                .col(ColumnDef::new(RechargeProducts::Coins).big_integer().not_null())
                .col(ColumnDef::new(RechargeProducts::PriceCents).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        let mut seed = Query::insert();
        seed.into_table(RechargeProducts::Table).columns([
            RechargeProducts::Id,
            RechargeProducts::Name,
            RechargeProducts::Coins,
            RechargeProducts::PriceCents,
        ]);
        for (id, name, coins, cents) in [
            (1, "60 coins", 60, 600),
            (2, "300 coins", 300, 3000),
            (3, "980 coins", 980, 9800),
            (4, "1980 coins", 1980, 19800),
            (5, "6480 coins", 6480, 64800),
        ] {
            seed.values_panic([id.into(), name.into(), coins.into(), cents.into()]);
        }
        m.exec_stmt(seed).await?;

        m.create_table(
            Table::create()
                .table(Recharges::Table)
                .if_not_exists()
                .col(ColumnDef::new(Recharges::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(Recharges::UserId).big_integer().not_null())
                .col(ColumnDef::new(Recharges::ProductId).big_integer().not_null())
                .col(ColumnDef::new(Recharges::Coins).big_integer().not_null())
                .col(ColumnDef::new(Recharges::PriceCents).big_integer().not_null())
                .col(ColumnDef::new(Recharges::IdemKey).string_len(100).not_null())
                .col(ColumnDef::new(Recharges::Status).string_len(10).not_null())
                .col(ColumnDef::new(Recharges::CreatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_recharges_user_key")
                .table(Recharges::Table)
                .col(Recharges::UserId)
                .col(Recharges::IdemKey)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Gifts::Table)
                .if_not_exists()
                .col(ColumnDef::new(Gifts::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(Gifts::Name).string_len(40).not_null())
                .col(ColumnDef::new(Gifts::Price).big_integer().not_null())
                .col(ColumnDef::new(Gifts::Effect).string_len(40).not_null())
                .to_owned(),
        )
        .await?;
        let mut seed = Query::insert();
        seed.into_table(Gifts::Table).columns([Gifts::Id, Gifts::Name, Gifts::Price, Gifts::Effect]);
        for (id, name, price, effect) in [
            (1, "Rose", 1, "rose"),
            (2, "Heart", 10, "heart"),
            (3, "Lollipop", 20, "lollipop"),
            (4, "Crown", 100, "crown"),
            (5, "Sports car", 500, "car"),
            (6, "Rocket", 1000, "rocket"),
        ] {
            seed.values_panic([id.into(), name.into(), price.into(), effect.into()]);
        }
        m.exec_stmt(seed).await?;

        m.create_table(
            Table::create()
                .table(GiftSends::Table)
                .if_not_exists()
                .col(ColumnDef::new(GiftSends::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(GiftSends::RoomId).big_integer().not_null())
                .col(ColumnDef::new(GiftSends::UserId).big_integer().not_null())
                .col(ColumnDef::new(GiftSends::ToId).big_integer().not_null())
                .col(ColumnDef::new(GiftSends::GiftId).big_integer().not_null())
                .col(ColumnDef::new(GiftSends::Count).big_integer().not_null())
                .col(ColumnDef::new(GiftSends::Coins).big_integer().not_null())
                .col(ColumnDef::new(GiftSends::PkId).big_integer().null())
                .col(ColumnDef::new(GiftSends::CreatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_gift_sends_room").table(GiftSends::Table).col(GiftSends::RoomId).to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_gift_sends_pk").table(GiftSends::Table).col(GiftSends::PkId).to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Pks::Table)
                .if_not_exists()
                .col(ColumnDef::new(Pks::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(Pks::RoomId).big_integer().not_null())
                .col(ColumnDef::new(Pks::HostId).big_integer().not_null())
                .col(ColumnDef::new(Pks::ChallengerId).big_integer().null())
                .col(ColumnDef::new(Pks::ChallengerRoomId).big_integer().null())
                .col(ColumnDef::new(Pks::Status).string_len(10).not_null())
                .col(ColumnDef::new(Pks::Score).big_integer().not_null())
                .col(ColumnDef::new(Pks::StartedAt).big_integer().null())
                .col(ColumnDef::new(Pks::EndsAt).big_integer().null())
                .col(ColumnDef::new(Pks::Winner).big_integer().null())
                .col(ColumnDef::new(Pks::EndedAt).big_integer().null())
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_pks_room").table(Pks::Table).col(Pks::RoomId).to_owned()).await?;
        m.create_index(Index::create().name("ix_pks_status").table(Pks::Table).col(Pks::Status).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Pks::Table.into_iden(),
            GiftSends::Table.into_iden(),
            Gifts::Table.into_iden(),
            Recharges::Table.into_iden(),
            RechargeProducts::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}

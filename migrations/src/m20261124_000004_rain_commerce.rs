//! Red-packet applications and rains with their packets; products and orders.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RedPacketApplications {
    Table,
    Id,
    AnchorId,
    TotalCoins,
    Packets,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Rains {
    Table,
    Id,
    RoomId,
    AnchorId,
    ApplicationId,
    Status,
    TotalCoins,
    Packets,
    EndsAt,
    Refunded,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RedPackets {
    Table,
    Id,
    RainId,
    Amount,
    UserId,
    Refunded,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    Id,
    AnchorId,
    Name,
    Price,
    Stock,
    LeftStock,
    Status,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    UserId,
    RoomId,
    Status,
    Total,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OrderItems {
    Table,
    OrderId,
    ProductId,
    Count,
    Price,
    Reserved,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(RedPacketApplications::Table)
                .if_not_exists()
                .col(ColumnDef::new(RedPacketApplications::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(RedPacketApplications::AnchorId).big_integer().not_null())
                .col(ColumnDef::new(RedPacketApplications::TotalCoins).big_integer().not_null())
                .col(ColumnDef::new(RedPacketApplications::Packets).big_integer().not_null())
                .col(ColumnDef::new(RedPacketApplications::Status).string_len(10).not_null())
                .col(ColumnDef::new(RedPacketApplications::CreatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_rpa_anchor_status")
                .table(RedPacketApplications::Table)
                .col(RedPacketApplications::AnchorId)
                .col(RedPacketApplications::Status)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Rains::Table)
                .if_not_exists()
                .col(ColumnDef::new(Rains::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(Rains::RoomId).big_integer().not_null())
                .col(ColumnDef::new(Rains::AnchorId).big_integer().not_null())
                .col(ColumnDef::new(Rains::ApplicationId).big_integer().not_null())
                .col(ColumnDef::new(Rains::Status).string_len(10).not_null())
                .col(ColumnDef::new(Rains::TotalCoins).big_integer().not_null())
                .col(ColumnDef::new(Rains::Packets).big_integer().not_null())
                .col(ColumnDef::new(Rains::EndsAt).big_integer().null())
                .col(ColumnDef::new(Rains::Refunded).big_integer().null())
                .col(ColumnDef::new(Rains::CreatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_rains_room").table(Rains::Table).col(Rains::RoomId).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(RedPackets::Table)
                .if_not_exists()
                .col(ColumnDef::new(RedPackets::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(RedPackets::RainId).big_integer().not_null())
                .col(ColumnDef::new(RedPackets::Amount).big_integer().not_null())
                .col(ColumnDef::new(RedPackets::UserId).big_integer().null())
                .col(ColumnDef::new(RedPackets::Refunded).boolean().not_null().default(false))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_packets_rain").table(RedPackets::Table).col(RedPackets::RainId).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Products::Table)
                .if_not_exists()
                .col(ColumnDef::new(Products::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(Products::AnchorId).big_integer().not_null())
                .col(ColumnDef::new(Products::Name).string_len(240).not_null())
                .col(ColumnDef::new(Products::Price).big_integer().not_null())
                .col(ColumnDef::new(Products::Stock).big_integer().not_null())
                .col(ColumnDef::new(Products::LeftStock).big_integer().not_null())
                .col(ColumnDef::new(Products::Status).string_len(10).not_null())
                .col(ColumnDef::new(Products::CreatedAt).big_integer().not_null())
                .check(Expr::col(Products::LeftStock).gte(0))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_products_anchor").table(Products::Table).col(Products::AnchorId).to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Orders::Table)
                .if_not_exists()
                .col(ColumnDef::new(Orders::Id).big_integer().not_null().primary_key())
                .col(ColumnDef::new(Orders::UserId).big_integer().not_null())
                .col(ColumnDef::new(Orders::RoomId).big_integer().not_null())
                .col(ColumnDef::new(Orders::Status).string_len(10).not_null())
                .col(ColumnDef::new(Orders::Total).big_integer().not_null())
                .col(ColumnDef::new(Orders::ExpiresAt).big_integer().not_null())
                .col(ColumnDef::new(Orders::CreatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_orders_user").table(Orders::Table).col(Orders::UserId).to_owned())
            .await?;
        m.create_index(Index::create().name("ix_orders_status").table(Orders::Table).col(Orders::Status).to_owned())
            .await?;
        m.create_table(
            Table::create()
                .table(OrderItems::Table)
                .if_not_exists()
                .col(ColumnDef::new(OrderItems::OrderId).big_integer().not_null())
                .col(ColumnDef::new(OrderItems::ProductId).big_integer().not_null())
                .col(ColumnDef::new(OrderItems::Count).big_integer().not_null())
                .col(ColumnDef::new(OrderItems::Price).big_integer().not_null())
                .col(ColumnDef::new(OrderItems::Reserved).boolean().not_null())
                .primary_key(Index::create().col(OrderItems::OrderId).col(OrderItems::ProductId))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            OrderItems::Table.into_iden(),
            Orders::Table.into_iden(),
            Products::Table.into_iden(),
            RedPackets::Table.into_iden(),
            Rains::Table.into_iden(),
            RedPacketApplications::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}

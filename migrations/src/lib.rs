//! Schema migrations, run at start-up. Never edit one after it lands: add another.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_foundation;
mod m20261124_000002_rooms;
mod m20261124_000003_money_pk;
mod m20261124_000004_rain_commerce;
mod m20261129_000001_outbox;
mod m20261129_000003_idempotency_digests;
mod m20261129_000005_mutes;
mod m20261130_000001_trades_ref_first;
mod m20261130_000002_pk_tally;
mod m20261201_000001_income;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_foundation::Migration),
            Box::new(m20261124_000002_rooms::Migration),
            Box::new(m20261124_000003_money_pk::Migration),
            Box::new(m20261124_000004_rain_commerce::Migration),
            Box::new(m20261129_000001_outbox::Migration),
            Box::new(m20261129_000003_idempotency_digests::Migration),
            Box::new(m20261129_000005_mutes::Migration),
            Box::new(m20261130_000001_trades_ref_first::Migration),
            Box::new(m20261130_000002_pk_tally::Migration),
            Box::new(m20261201_000001_income::Migration),
        ]
    }
}

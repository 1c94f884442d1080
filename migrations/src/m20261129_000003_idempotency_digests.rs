//! Recharges store the SHA-256 digest (hex) of the client's Idempotency-Key instead of the key
//! with a `k:` prefix, which overflowed the 100-character column for keys of 99 or 100
//! characters. Rows stored the old way are rewritten so a retry across the upgrade still finds
//! them; rows made without a key (a random 32-digit id) are left as they are.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Recharges {
    Table,
    Id,
    IdemKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let backend = m.get_database_backend();
        let select = Query::select()
            .columns([Recharges::Id, Recharges::IdemKey])
            .from(Recharges::Table)
            .and_where(Expr::col(Recharges::IdemKey).like("k:%"))
            .to_owned();
        for row in db.query_all(backend.build(&select)).await? {
            let id: i64 = row.try_get("", "id")?;
            let stored: String = row.try_get("", "idem_key")?;
            let Some(key) = stored.strip_prefix("k:") else { continue };
            let digest = hex::encode(Sha256::digest(key.as_bytes()));
            let update = Query::update()
                .table(Recharges::Table)
                .value(Recharges::IdemKey, digest)
                .and_where(Expr::col(Recharges::Id).eq(id))
                .to_owned();
            db.execute(backend.build(&update)).await?;
        }
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        // A digest cannot be turned back into its key; the old code simply no longer finds
        // these rows by key.
        Ok(())
    }
}

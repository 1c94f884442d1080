//! Buying coins: a recharge is stored `pending` under the buyer's Idempotency-Key digest, then
//! credited once (its trade is unique by the recharge), either at once by the simulated
//! provider or by the real provider's signed callback. A retry, even of a request that died
//! half-way, completes the same recharge and answers the same body.

use super::{AppError, AppResult, Services};
use crate::domain::money::{RechargeStatus, TradeKind};
use crate::storage::entities::recharges;
use crate::storage::recharges as store;
use crate::storage::wallets::{Effect, Outcome, WalletOp};
use crate::storage::Stated;

/// A recharge as answered: the same for the first request and every replay.
#[derive(Debug, Clone)]
pub struct Recharged {
    pub recharge_id: i64,
    pub coins: i64,
    pub balance: i64,
    pub status: String,
}

fn recharge_ref(id: i64) -> String {
    format!("recharge:{id}")
}

/// `user_id` buys `product_id` under `key` (the digest of their Idempotency-Key, or a fresh
/// value): the same key again answers the same recharge and credits nothing more.
pub async fn buy(svc: &Services, user_id: i64, product_id: i64, key: &str) -> AppResult<Recharged> {
    let product = store::product(&svc.b.db, product_id).await?.ok_or(AppError::NotFound("product"))?;
    if let Some(r) = store::by_key(&svc.b.db, user_id, key).await? {
        return answer(svc, r).await;
    }
    let id = svc.b.ids.next("recharge").await?;
    let row = match store::insert(&svc.b.db, id, user_id, &product, key).await {
        Ok(r) => r,
        // The same key raced in: answer what the first one does.
        Err(e) => store::by_key(&svc.b.db, user_id, key).await?.ok_or_else(|| AppError::internal(e))?,
    };
    answer(svc, row).await
}

/// The provider says `recharge_id` was paid: credits it once; true when this call credited it.
pub async fn paid(svc: &Services, recharge_id: i64) -> AppResult<bool> {
    let r = store::find(&svc.b.db, recharge_id).await?.ok_or(AppError::NotFound("recharge"))?;
    if r.is(RechargeStatus::Paid) {
        return Ok(false);
    }
    Ok(matches!(credit(svc, r.user_id, r.id, r.coins).await?, Outcome::Done { .. }))
}

async fn credit(svc: &Services, user_id: i64, recharge_id: i64, coins: i64) -> AppResult<Outcome> {
    let op = WalletOp::new(
        user_id,
        coins,
        TradeKind::Recharge,
        recharge_ref(recharge_id),
        Effect::MarkRechargePaid { recharge_id },
    )
    .with_note(format!("Recharge: {coins} coins"));
    svc.b.wallets.apply(op).await.map_err(AppError::internal)
}

/// The answer for a recharge row, first time or replay: the same status and body. With the
/// simulated provider a row still pending is paid here: the first request may be crediting it
/// right now, or may have died between the row and the credit; the credit is applied once
/// whoever gets there first (its trade is unique by the recharge), so a retry completes it.
async fn answer(svc: &Services, mut r: recharges::Model) -> AppResult<Recharged> {
    let mut balance = None;
    if r.is(RechargeStatus::Pending) && svc.settings.payments.settles_at_once() {
        match credit(svc, r.user_id, r.id, r.coins).await? {
            Outcome::Done { balance: b, .. } | Outcome::Duplicate { balance: b, .. } => {
                r.status = RechargeStatus::Paid.as_str().into();
                balance = Some(b);
            }
            // Paid meanwhile by another node: read what it stored.
            Outcome::Refused => {
                r = store::find(&svc.b.db, r.id).await?.ok_or(AppError::NotFound("recharge"))?;
            }
            Outcome::Insufficient => {
                return Err(AppError::internal(anyhow::anyhow!("a recharge credit was refused as a debit")));
            }
        }
    }
    let balance = match balance {
        Some(b) => b,
        None => match svc.b.wallets.trade_by_ref(TradeKind::Recharge, &recharge_ref(r.id)).await? {
            Some(t) => t.balance_after,
            None => svc.b.wallets.balance(r.user_id).await?,
        },
    };
    Ok(Recharged { recharge_id: r.id, coins: r.coins, balance, status: r.status })
}

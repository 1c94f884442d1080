//! A gift: the sender's debit, its trade, the receiving anchor's income (less the platform's
//! share) and, in a running PK, the PK's tally commit together
//! (group-committed by the wallet writer); then, in commit order, everyone in the room sees it
//! and the PK's actor shows the new tally.

use super::live_room::live_actor;
use super::{AppError, AppResult, Services};
use crate::actors::registry::RunningRoom;
use crate::actors::room;
use crate::clock::{now_ms, rfc3339};
use crate::domain::error::ErrorCode;
use crate::domain::events::{GiftItem, GiftSent};
use crate::domain::money::{cost, count_in, platform_fee, TradeKind};
use crate::domain::pk::PkStatus;
use crate::domain::user::UserRef;
use crate::storage::wallets::{Earning, EarningKind, Effect, Outcome, WalletOp};
use serde_json::json;

/// What a gift asks for.
#[derive(Debug, Clone)]
pub struct GiftOrder {
    pub room_id: i64,
    pub gift_id: i64,
    pub count: i64,
    /// The anchor (default), or in a running PK the host or the challenger.
    pub to: Option<i64>,
    /// The trade's ref: an `Idempotency-Key`'s digest, so a retry pays once; None: a fresh one.
    pub idem_ref: Option<String>,
}

/// Sends a gift from `user_id`; the new balance and the trade. The same `idem_ref` again
/// answers the first charge and charges nothing.
pub async fn send(svc: &Services, user_id: i64, g: GiftOrder) -> AppResult<(i64, i64)> {
    let idem_ref = g.idem_ref;
    if let Some(r) = &idem_ref {
        if let Some(t) = svc.b.wallets.trade_by_ref(TradeKind::Gift, r).await? {
            return Ok((t.balance_after, t.id));
        }
    }
    let count = count_in("count", g.count, 99)?;
    // No row reads here but the idempotency check: the room from its running actor (or the
    // row, when none runs), the gift from the cached catalogue, the sender's nickname from
    // the nickname cache, the running PK as the room shows it (either anchor's room, on any
    // node). Whether the gift still counts in that PK is decided at its commit.
    let RunningRoom { addr, anchor_id } = live_actor(svc, g.room_id).await?;
    let gift = svc.gifts.find(g.gift_id).await?.ok_or(AppError::NotFound("gift"))?;
    let running_pk = addr
        .send(room::CurrentPk)
        .await
        .map_err(AppError::internal)?
        .filter(|p| p.status == PkStatus::Running.as_str());
    let to = g.to.unwrap_or(anchor_id);
    let sides: Vec<i64> = match &running_pk {
        Some(p) => [Some(p.host.id), p.challenger.as_ref().map(|c| c.id)].into_iter().flatten().collect(),
        None => vec![anchor_id],
    };
    if !sides.contains(&to) {
        return Err(AppError::invalid(
            "to",
            "gifts go to the room's anchor, or in a running PK to the host or the challenger",
        ));
    }
    let amount = cost(gift.price, count).ok_or_else(|| AppError::invalid("count", "too expensive"))?;
    let nickname = svc.nicknames.get(user_id).await?.ok_or_else(AppError::unauthorized)?;
    let from = UserRef { id: user_id, nickname };
    let pk_id = running_pk.as_ref().map(|p| p.id);
    let what = format!("{} ×{count}", gift.name);
    let earning = Earning {
        anchor_id: to,
        kind: EarningKind::Gift,
        room_id: Some(g.room_id),
        title: what.clone(),
        fee: platform_fee(amount, svc.settings.wallet.platform_share_pct),
    };
    let sent = GiftSent {
        at: String::new(),
        count,
        first_at: None,
        from,
        gift: GiftItem { effect: gift.effect, id: gift.id, name: gift.name, price: gift.price },
        sends: 1,
        to,
    };
    let op = WalletOp::new(
        user_id,
        -amount,
        TradeKind::Gift,
        // A fresh ref is time-ordered (UUIDv7): a batch's new refs go to the last pages of the
        // trades' unique `(ref, kind)` index, where random ones dirtied a page each.
        idem_ref.unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string()),
        Effect::GiftSend { room_id: g.room_id, to_id: to, gift_id: gift.id, count, pk_id },
    )
    .with_note(format!("Gift sent: {what}"))
    .paying(earning);
    // Effects run in the wallet writer in commit order.
    let svc2 = svc.clone();
    let on_commit = Box::new(move |o: &Outcome| {
        if let Outcome::Done { pk, .. } = o {
            let sent = GiftSent { at: rfc3339(now_ms()), ..sent };
            addr.do_send(room::GiftEffect { coins: amount, gift: sent });
            if let Some(t) = pk {
                super::pk::after_gift(&svc2, *t);
            }
        }
    });
    match svc.b.wallets.apply_then(op, Some(on_commit)).await.map_err(AppError::internal)? {
        Outcome::Done { trade_id, balance, .. } | Outcome::Duplicate { trade_id, balance } => Ok((balance, trade_id)),
        Outcome::Insufficient => {
            let _ = svc
                .notices
                .send(
                    user_id,
                    "gift_failed",
                    json!({"reason": "insufficient_balance", "gift_id": gift.id, "count": count, "room_id": g.room_id}),
                )
                .await;
            Err(AppError::InsufficientBalance)
        }
        // The room closed before the gift could commit (its close, on any node, came first).
        Outcome::Refused => {
            svc.rooms.closing(g.room_id);
            Err(AppError::conflict(ErrorCode::RoomClosed, "the room is closed"))
        }
    }
}

/// The top 20 gifters of a live room's session, from its actor: in a cluster, the home's,
/// which counts every node's gifts.
pub async fn ranking(svc: &Services, room_id: i64) -> AppResult<Vec<(crate::domain::user::UserRef, i64)>> {
    if let Some(c) = &svc.cluster {
        if let Some(home) = c.elsewhere(room_id).await? {
            let v = c.on_home(&home, room_id, super::cluster::OnHome::Ranking).await?;
            return serde_json::from_value(v).map_err(AppError::internal);
        }
    }
    let r = super::live_room::live_room(svc, room_id).await?;
    super::live_room::room_actor(svc, &r).await?.send(crate::actors::room::Ranking).await.map_err(AppError::internal)
}

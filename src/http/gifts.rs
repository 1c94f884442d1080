//! Gifts: the catalogue, sending one into a room (debit first, effect after commit), and the
//! room's gift ranking.

use super::error::{AppError, AppResult};
use super::extract::Json;
use super::rooms::{live_room, room_actor};
use super::session::AuthUser;
use super::state::AppState;
use super::views::UserRef;
use super::wallet::IdempotencyKey;
use crate::actors::{pk, room};
use crate::domain::money::{cost, count_in, TradeKind};
use crate::storage::wallets::{Effect, Outcome, WalletOp};
use crate::storage::{gifts as catalog, users};
use actix_web::{web, HttpRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/gifts", web::get().to(list))
        .route("/rooms/{id}/gifts", web::post().to(send))
        .route("/rooms/{id}/ranking", web::get().to(ranking));
}

#[derive(Serialize, ToSchema, Clone)]
pub struct GiftView {
    pub id: i64,
    pub name: String,
    pub price: i64,
    pub effect: String,
}

/// The gift catalogue (no auth).
#[utoipa::path(get, path = "/api/gifts", tag = "gifts", responses((status = 200, body = Vec<GiftView>)))]
pub async fn list(state: web::Data<AppState>) -> AppResult<web::Json<Vec<GiftView>>> {
    let v = catalog::catalogue(&state.b.db).await?;
    Ok(web::Json(
        v.into_iter().map(|g| GiftView { id: g.id, name: g.name, price: g.price, effect: g.effect }).collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct SendGift {
    pub gift_id: i64,
    /// Default 1.
    #[schema(minimum = 1, maximum = 99)]
    pub count: Option<i64>,
    /// The anchor, or in a running PK the host or the challenger (default: the room's anchor);
    /// anyone else is 400 with `field` `to`.
    pub to: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Sent {
    pub balance: i64,
    pub trade_id: i64,
}

/// Sends a gift to the anchor (or, in a running PK, to the host or the challenger). The debit
/// and its trade commit first; then everyone in the room sees the gift. With an
/// `Idempotency-Key`, the same key again answers the first charge's body and charges nothing.
#[utoipa::path(post, path = "/api/rooms/{id}/gifts", tag = "gifts", request_body = SendGift, params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,100}$", description = "1 to 100 visible ASCII characters; a retry with the same key pays once")),
    responses((status = 200, body = Sent), (status = 400, body = super::openapi::ErrorBody), (status = 402, body = super::openapi::ErrorBody),
        (status = 404, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody)))]
pub async fn send(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    id: web::Path<i64>,
    body: Json<SendGift>,
) -> AppResult<web::Json<Sent>> {
    // The trade's ref is the key's digest: the wallet applies a ref once, so retries of one
    // key (even concurrent ones, even on other nodes) charge once and answer the first charge.
    let idem_ref = IdempotencyKey::from_request(&req)?.map(|k| k.trade_ref(user.id));
    if let Some(r) = &idem_ref {
        if let Some(t) = state.b.wallets.trade_by_ref(TradeKind::Gift, r).await? {
            return Ok(web::Json(Sent { balance: t.balance_after, trade_id: t.id }));
        }
    }
    let count = count_in("count", body.0.count.unwrap_or(1), 99)?;
    let r = live_room(&state, *id).await?;
    let gift = catalog::gift(&state.b.db, body.0.gift_id).await?.ok_or(AppError::NotFound("gift"))?;
    let pk_addr = state.pk.get(r.id);
    let running_pk = match &pk_addr {
        Some(a) => Some(a.send(pk::Get).await.map_err(AppError::internal)?),
        None => None,
    };
    let to = body.0.to.unwrap_or(r.anchor_id);
    let sides: Vec<i64> = match &running_pk {
        Some(p) => [p["host"]["id"].as_i64(), p["challenger"]["id"].as_i64()].into_iter().flatten().collect(),
        None => vec![r.anchor_id],
    };
    if !sides.contains(&to) {
        return Err(AppError::invalid(
            "to",
            "gifts go to the room's anchor, or in a running PK to the host or the challenger",
        ));
    }
    let amount = cost(gift.price, count).ok_or_else(|| AppError::invalid("count", "too expensive"))?;
    let from = users::find(&state.b.db, user.id).await?.ok_or_else(AppError::unauthorized)?;
    let from = UserRef { id: from.id, nickname: from.nickname };
    let addr = room_actor(&state, &r).await?;
    let pk_id = running_pk.as_ref().and_then(|p| p["id"].as_i64());
    let data = json!({
        "from": from,
        "to": to,
        "gift": {"id": gift.id, "name": gift.name, "price": gift.price, "effect": gift.effect},
        "count": count,
    });
    let op = WalletOp {
        user_id: user.id,
        delta: -amount,
        kind: TradeKind::Gift,
        r#ref: idem_ref.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
        effect: Effect::GiftSend { room_id: r.id, to_id: to, gift_id: gift.id, count, pk_id },
    };
    // Effects run in the wallet writer in commit order, so PK scores follow commit order.
    let on_commit = Box::new(move |o: &Outcome| {
        if let Outcome::Done { .. } = o {
            addr.do_send(room::GiftEffect { from, coins: amount, data });
            if let Some(p) = pk_addr {
                p.do_send(pk::PkGift { to, coins: amount });
            }
        }
    });
    match state.b.wallets.apply_then(op, Some(on_commit)).await.map_err(AppError::internal)? {
        Outcome::Done { trade_id, balance } | Outcome::Duplicate { trade_id, balance } => {
            Ok(web::Json(Sent { balance, trade_id }))
        }
        Outcome::Insufficient => {
            let _ = state
                .notices
                .send(
                    user.id,
                    "gift_failed",
                    json!({"reason": "insufficient_balance", "gift_id": gift.id, "count": count, "room_id": r.id}),
                )
                .await;
            Err(AppError::InsufficientBalance)
        }
        other => Err(AppError::internal(anyhow::anyhow!("unexpected gift outcome {other:?}"))),
    }
}

#[derive(Serialize, ToSchema)]
pub struct RankEntry {
    #[schema(value_type = Object)]
    pub user: UserRef,
    pub coins: i64,
}

/// The top 20 gifters of the room's current live session.
#[utoipa::path(get, path = "/api/rooms/{id}/ranking", tag = "gifts", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<RankEntry>), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn ranking(
    state: web::Data<AppState>,
    _user: AuthUser,
    id: web::Path<i64>,
) -> AppResult<web::Json<Vec<RankEntry>>> {
    let r = crate::storage::rooms::find(&state.b.db, *id).await?.ok_or(AppError::NotFound("room"))?;
    let rows = if r.status == crate::domain::room::LIVE {
        room_actor(&state, &r).await?.send(room::Ranking).await.map_err(AppError::internal)?
    } else {
        catalog::ranking(&state.b.db, r.id)
            .await?
            .into_iter()
            .take(20)
            .map(|(id, n, c)| (UserRef { id, nickname: n }, c))
            .collect()
    };
    Ok(web::Json(rows.into_iter().map(|(user, coins)| RankEntry { user, coins }).collect()))
}

//! Gifts: the catalogue, sending one into a room (debit first, effect after commit), and the
//! room's gift ranking.

use super::error::{AppError, AppResult};
use super::extract::Json;
use super::session::AuthUser;
use super::state::AppState;
use super::views::UserRef;
use super::wallet::IdempotencyKey;
use crate::services::gifts::{self, GiftOrder};
use crate::storage::gifts as catalog;
use actix_web::{web, HttpRequest};
use serde::{Deserialize, Serialize};
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
    let v = state.gifts.all().await?;
    Ok(web::Json(
        v.iter()
            .map(|g| GiftView { id: g.id, name: g.name.clone(), price: g.price, effect: g.effect.clone() })
            .collect(),
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
    responses((status = 200, body = Sent), (status = 400, body = super::error::ErrorBody), (status = 402, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
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
    let order =
        GiftOrder { room_id: *id, gift_id: body.0.gift_id, count: body.0.count.unwrap_or(1), to: body.0.to, idem_ref };
    let (balance, trade_id) = gifts::send(&state, user.id, order).await?;
    Ok(web::Json(Sent { balance, trade_id }))
}

#[derive(Serialize, ToSchema)]
pub struct RankEntry {
    #[schema(value_type = Object)]
    pub user: UserRef,
    pub coins: i64,
}

/// The top 20 gifters of the room's current live session.
#[utoipa::path(get, path = "/api/rooms/{id}/ranking", tag = "gifts", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<RankEntry>), (status = 404, body = super::error::ErrorBody)))]
pub async fn ranking(
    state: web::Data<AppState>,
    _user: AuthUser,
    id: web::Path<i64>,
) -> AppResult<web::Json<Vec<RankEntry>>> {
    let r = crate::storage::rooms::find(&state.b.db, *id).await?.ok_or(AppError::NotFound("room"))?;
    let rows = if r.status == crate::domain::room::LIVE {
        crate::services::gifts::ranking(&state, r.id).await?
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

//! `/api/wallet`: balance, recharge products, recharges (idempotent), trades; and the payment
//! provider's signed callback.

use super::error::{AppError, AppResult};
use super::extract::{read_limited, Json, PageQuery};
use super::session::AuthUser;
use super::state::AppState;
use super::views::{PageOf, UserRef};
use crate::clock::rfc3339;
use crate::domain::error::ErrorCode;
use crate::domain::money::RechargeStatus;
use crate::domain::paging::Page;
use crate::services::recharges;
use actix_web::{web, HttpRequest, HttpResponse};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/wallet", web::get().to(wallet))
        .route("/wallet/products", web::get().to(products))
        .route("/wallet/recharges", web::post().to(recharge))
        .route("/wallet/trades", web::get().to(trades))
        .route("/wallet/earnings", web::get().to(earnings))
        .route("/payments/notify", web::post().to(notify));
}

#[derive(Serialize, ToSchema)]
pub struct Balance {
    /// Coins to spend.
    pub balance: i64,
    /// What gifts received and products sold earned, less the platform's share; it only grows,
    /// and is not spent as coins.
    pub income: i64,
}

/// The caller's balance and income.
#[utoipa::path(get, path = "/api/wallet", tag = "wallet", responses((status = 200, body = Balance), (status = 401, body = super::error::ErrorBody)))]
pub async fn wallet(state: web::Data<AppState>, user: AuthUser) -> AppResult<web::Json<Balance>> {
    let (balance, income) = state.b.wallets.wallet(user.id).await?;
    Ok(web::Json(Balance { balance, income }))
}

#[derive(Serialize, ToSchema)]
pub struct RechargeProduct {
    pub id: i64,
    pub name: String,
    pub coins: i64,
    pub price_cents: i64,
}

/// What coins can be bought with.
#[utoipa::path(get, path = "/api/wallet/products", tag = "wallet", responses((status = 200, body = Vec<RechargeProduct>)))]
pub async fn products(state: web::Data<AppState>, _user: AuthUser) -> AppResult<web::Json<Vec<RechargeProduct>>> {
    let v = crate::storage::recharges::products(&state.b.db).await?;
    Ok(web::Json(
        v.into_iter()
            .map(|p| RechargeProduct { id: p.id, name: p.name, coins: p.coins, price_cents: p.price_cents })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct RechargeBody {
    pub product_id: i64,
}

#[derive(Serialize, ToSchema)]
pub struct RechargeAnswer {
    pub recharge_id: i64,
    pub coins: i64,
    pub balance: i64,
    pub status: String,
}

/// Longest `Idempotency-Key` accepted.
pub const IDEMPOTENCY_KEY_MAX: usize = 100;

/// A client's `Idempotency-Key` header (recharges, gifts): 1 to 100 visible ASCII characters.
/// It is stored only as a fixed-size digest, so its length never meets a column's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The request's key; None without the header; 400 naming the header when it is malformed.
    pub fn from_request(req: &HttpRequest) -> AppResult<Option<Self>> {
        let Some(v) = req.headers().get("idempotency-key") else {
            return Ok(None);
        };
        let bad = || {
            AppError::invalid(
                "Idempotency-Key",
                format!("Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"),
            )
        };
        v.to_str().ok().and_then(Self::parse).map(Some).ok_or_else(bad)
    }

    /// A key as a client sends it; None when it is empty, too long or not visible ASCII.
    pub fn parse(k: &str) -> Option<Self> {
        let ok = !k.is_empty() && k.len() <= IDEMPOTENCY_KEY_MAX && k.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(k.to_owned()))
    }

    /// SHA-256 of the key, hex: what a recharge row stores (unique per user and digest).
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// SHA-256 of the user and the key, hex: the `ref` of a trade made under this key, unique
    /// per kind across users.
    pub fn trade_ref(&self, user_id: i64) -> String {
        hex::encode(Sha256::digest(format!("{user_id}:{}", self.0).as_bytes()))
    }
}

/// Buys coins. The same `Idempotency-Key` again answers the same body and credits nothing.
#[utoipa::path(post, path = "/api/wallet/recharges", tag = "wallet", request_body = RechargeBody,
    params(("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]{1,100}$", description = "1 to 100 visible ASCII characters; the same key answers the same result")),
    responses((status = 201, body = RechargeAnswer), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn recharge(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: AuthUser,
    body: Json<RechargeBody>,
) -> AppResult<HttpResponse> {
    let key = match IdempotencyKey::from_request(&req)? {
        Some(k) => k.digest(),
        // No key: a fresh one, which no digest (64 hex digits) can equal.
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    let r = recharges::buy(&state, user.id, body.0.product_id, &key).await?;
    Ok(HttpResponse::Created().json(RechargeAnswer {
        recharge_id: r.recharge_id,
        coins: r.coins,
        balance: r.balance,
        status: r.status,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct TradeView {
    pub id: i64,
    pub kind: String,
    pub amount: i64,
    pub balance_after: i64,
    pub at: String,
    /// What it was, in words ("Gift sent: Rocket ×1", "Recharge: 60 coins"); null on trades made
    /// before notes were kept.
    pub note: Option<String>,
}

/// The caller's trades, newest first; `amount` is signed.
#[utoipa::path(get, path = "/api/wallet/trades", tag = "wallet", params(("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "from 1 (default 1)"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)")), responses((status = 200, body = PageOf<TradeView>)))]
pub async fn trades(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> AppResult<web::Json<PageOf<TradeView>>> {
    let page = Page::parse(q.page, q.page_size)?;
    let (rows, total) = state.b.wallets.trades(user.id, page.offset(), page.page_size).await?;
    let items = rows
        .into_iter()
        .map(|t| TradeView {
            id: t.id,
            kind: t.kind,
            amount: t.amount,
            balance_after: t.balance_after,
            at: rfc3339(t.created_at),
            note: t.note,
        })
        .collect();
    Ok(web::Json(PageOf { items, page: page.page, page_size: page.page_size, total }))
}

#[derive(Serialize, ToSchema)]
pub struct EarningView {
    pub id: i64,
    /// `gift` or `order`.
    pub kind: String,
    /// Who paid.
    pub from: UserRef,
    pub room_id: Option<i64>,
    /// What was bought ("Rocket ×1", "Order #12: Mug ×2").
    pub title: String,
    /// What the buyer paid.
    pub coins: i64,
    /// The platform's share of `coins` (`wallet.platform_share_pct`).
    pub fee: i64,
    /// What the caller's income gained: `coins - fee`.
    pub amount: i64,
    pub income_after: i64,
    pub at: String,
}

/// What the caller earned from gifts received and products sold, newest first. Each credit
/// committed with the buyer's debit.
#[utoipa::path(get, path = "/api/wallet/earnings", tag = "wallet", params(("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "from 1 (default 1)"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)")), responses((status = 200, body = PageOf<EarningView>), (status = 401, body = super::error::ErrorBody)))]
pub async fn earnings(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> AppResult<web::Json<PageOf<EarningView>>> {
    let page = Page::parse(q.page, q.page_size)?;
    let (rows, total) = state.b.wallets.earnings(user.id, page.offset(), page.page_size).await?;
    let mut items = Vec::with_capacity(rows.len());
    for e in rows {
        let nickname = state.nicknames.get(e.from_id).await?.unwrap_or_default();
        items.push(EarningView {
            id: e.id,
            kind: e.kind,
            from: UserRef { id: e.from_id, nickname },
            room_id: e.room_id,
            title: e.title,
            coins: e.coins,
            fee: e.fee,
            amount: e.amount,
            income_after: e.income_after,
            at: rfc3339(e.created_at),
        });
    }
    Ok(web::Json(PageOf { items, page: page.page, page_size: page.page_size, total }))
}

#[derive(Deserialize, ToSchema)]
pub struct Notify {
    pub recharge_id: i64,
    pub status: String,
}

/// The payment provider's callback, signed with HMAC-SHA256 of the body in `X-Signature`
/// (hex). A replay credits nothing and answers 200.
#[utoipa::path(post, path = "/api/payments/notify", tag = "wallet", request_body = Notify,
    responses((status = 200), (status = 401, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody)))]
pub async fn notify(
    state: web::Data<AppState>,
    req: HttpRequest,
    mut payload: web::Payload,
) -> AppResult<HttpResponse> {
    let body = read_limited(&mut payload).await?;
    let sig = req.headers().get("x-signature").and_then(|v| v.to_str().ok()).and_then(|s| hex::decode(s.trim()).ok());
    let mut mac =
        Hmac::<Sha256>::new_from_slice(state.settings.payments.notify_secret.as_bytes()).map_err(AppError::internal)?;
    mac.update(&body);
    if sig.is_none_or(|s| mac.verify_slice(&s).is_err()) {
        return Err(AppError::unauthorized_as(ErrorCode::Unauthorized, "bad signature"));
    }
    let n: Notify = super::extract::parse_json(&body)?;
    if n.status != RechargeStatus::Paid.as_str() {
        return Ok(HttpResponse::Ok().json(serde_json::json!({"credited": false})));
    }
    let credited = recharges::paid(&state, n.recharge_id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"credited": credited})))
}

/// Signs a notify body as the provider does (tests and tools).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

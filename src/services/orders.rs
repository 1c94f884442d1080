//! Orders of live commerce: carts (in the key-value store), orders that reserve stock and
//! expire unpaid (the expiry waits in the outbox with the order), payment from the wallet, and
//! the expiry job and start-up sweep.

use super::jobs::{self, Fired};
use super::live_room::{live_room, room_actor};
use super::{AppError, AppResult, Services};
use crate::actors::room;
use crate::clock::{now_ms, rfc3339};
use crate::domain::error::ErrorCode;
use crate::domain::money::{count_in, TradeKind};
use crate::domain::order::{is_overdue, OrderStatus, Settled};
use crate::domain::product::ProductStatus;
use crate::storage::commerce::{self as shop, Line, PlaceError, StockLevel};
use crate::storage::entities::{order_items, orders, products};
use crate::storage::queue::{Job, JobHandler};
use crate::storage::wallets::{Effect, Outcome, WalletOp};
use crate::storage::Stated;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use utoipa::ToSchema;

pub const EXPIRE_JOB: &str = shop::EXPIRE_JOB;

#[derive(Serialize, ToSchema)]
pub struct CartLine {
    pub product_id: i64,
    pub name: String,
    pub price: i64,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Cart {
    pub items: Vec<CartLine>,
    pub total: i64,
}

fn cart_key(user: i64, room: i64) -> String {
    crate::storage::kv::keys::cart(user, room)
}

async fn read_cart(svc: &Services, user: i64, room: i64) -> AppResult<Vec<(products::Model, i64)>> {
    let raw = svc.b.kv.hgetall(&cart_key(user, room)).await?;
    let mut lines = vec![];
    for (pid, count) in raw {
        let (Ok(pid), Ok(count)) = (pid.parse::<i64>(), count.parse::<i64>()) else { continue };
        if let Some(p) = shop::product(&svc.b.db, pid).await? {
            lines.push((p, count));
        }
    }
    lines.sort_by_key(|(p, _)| p.id);
    Ok(lines)
}

/// `user`'s cart in `room`.
pub async fn cart(svc: &Services, user: i64, room: i64) -> AppResult<Cart> {
    let lines = read_cart(svc, user, room).await?;
    let total = lines.iter().map(|(p, c)| p.price * c).sum();
    let items =
        lines.into_iter().map(|(p, c)| CartLine { product_id: p.id, name: p.name, price: p.price, count: c }).collect();
    Ok(Cart { items, total })
}

/// Puts `count` of a product in `user`'s cart in `room_id` (sets its count).
pub async fn add_to_cart(svc: &Services, user_id: i64, room_id: i64, product_id: i64, count: i64) -> AppResult<Cart> {
    let count = count_in("count", count, 99)?;
    let r = live_room(svc, room_id).await?;
    let p = shop::product(&svc.b.db, product_id)
        .await?
        .filter(|p| p.anchor_id == r.anchor_id && p.is(ProductStatus::Approved))
        .ok_or(AppError::NotFound("product"))?;
    let ttl = Duration::from_secs(svc.settings.commerce.cart_ttl_s);
    svc.b.kv.hset(&cart_key(user_id, r.id), &p.id.to_string(), &count.to_string(), Some(ttl)).await?;
    cart(svc, user_id, r.id).await
}

/// Takes a product out of `user`'s cart in `room`.
pub async fn remove_from_cart(svc: &Services, user: i64, room: i64, product_id: i64) -> AppResult<Cart> {
    svc.b.kv.hdel(&cart_key(user, room), &product_id.to_string()).await?;
    cart(svc, user, room).await
}

#[derive(Serialize, ToSchema)]
pub struct OrderLine {
    pub product_id: i64,
    pub count: i64,
    pub price: i64,
    pub reserved: bool,
}

#[derive(Serialize, ToSchema)]
pub struct OrderView {
    pub id: i64,
    pub status: String,
    pub items: Vec<OrderLine>,
    pub total: i64,
    pub expires_at: String,
}

pub fn order_view(o: orders::Model, items: Vec<order_items::Model>) -> OrderView {
    OrderView {
        id: o.id,
        status: o.status,
        items: items
            .into_iter()
            .map(|i| OrderLine { product_id: i.product_id, count: i.count, price: i.price, reserved: i.reserved })
            .collect(),
        total: o.total,
        expires_at: rfc3339(o.expires_at),
    }
}

/// Tells the room the new stock of products (versioned: a late, stale one is ignored there).
fn announce_stock(svc: &Services, room_id: i64, levels: &[StockLevel]) {
    if let Some(addr) = svc.rooms.get(room_id) {
        for l in levels {
            addr.do_send(room::Stock { product_id: l.product_id, left: l.left, version: l.version });
        }
    }
}

/// Orders what is in `user_id`'s cart in `room_id`: each line with stock is reserved; the others
/// stay in the cart.
pub async fn place_order(svc: &Services, user_id: i64, room_id: i64) -> AppResult<OrderView> {
    let r = live_room(svc, room_id).await?;
    let lines = read_cart(svc, user_id, r.id).await?;
    if lines.is_empty() {
        return Err(AppError::conflict(ErrorCode::CartEmpty, "the cart is empty"));
    }
    // The room's live counts are a hint for fast rejection: a line they say is short is checked
    // against the database before it is skipped, so a stale count never refuses a sale.
    let addr = room_actor(svc, &r).await?;
    let known = match addr.send(room::StockLeft { product_ids: lines.iter().map(|(p, _)| p.id).collect() }).await {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(room = r.id, error = %e, "room stock hint unavailable; asking the database");
            HashMap::new()
        }
    };
    let doubtful: Vec<i64> =
        lines.iter().filter(|(p, c)| known.get(&p.id).is_some_and(|left| left < c)).map(|(p, _)| p.id).collect();
    let truth: HashMap<i64, i64> = if doubtful.is_empty() {
        HashMap::new()
    } else {
        let levels = shop::stock_levels(&svc.b.db, &doubtful).await?;
        announce_stock(svc, r.id, &levels); // heals the room's hint if it was stale
        levels.iter().map(|l| (l.product_id, l.left)).collect()
    };
    let mut to_try = vec![];
    let mut skipped = vec![];
    for (p, count) in &lines {
        let line = Line { product_id: p.id, count: *count, price: p.price };
        if truth.get(&p.id).is_some_and(|left| left < count) {
            skipped.push(line);
        } else {
            to_try.push(line);
        }
    }
    if to_try.is_empty() {
        return Err(AppError::conflict(ErrorCode::SoldOut, "none of the cart's products has stock left"));
    }
    let expiry = Duration::from_secs(svc.settings.commerce.order_expiry_s);
    let order_id = svc.b.ids.next("order").await?;
    let cap = svc.settings.commerce.max_pending_units_per_product;
    let expires_at = now_ms() + expiry.as_millis() as i64;
    let placed = match shop::place_order(&svc.b.db, order_id, user_id, r.id, to_try, expires_at, cap).await {
        Ok(p) => p,
        Err(PlaceError::SoldOut) => {
            return Err(AppError::conflict(ErrorCode::SoldOut, "none of the cart's products has stock left"))
        }
        Err(PlaceError::OverLimit { product_id, held, asked, cap }) => {
            return Err(AppError::conflict(
                ErrorCode::LimitExceeded,
                format!(
                    "product {product_id}: at most {cap} units may be held in pending orders \
                     ({held} held, {asked} asked); pay or wait for an order to expire"
                ),
            ))
        }
        Err(PlaceError::Db(e)) => return Err(AppError::internal(e)),
    };
    // Committed, expiry included (in the outbox). From here on nothing may fail the request:
    // a retry would reserve again.
    svc.b.outbox.wake();
    let shop::Placed { order, mut items, levels } = placed;
    announce_stock(svc, r.id, &levels);
    for i in items.iter().filter(|i| i.reserved) {
        if let Err(e) = svc.b.kv.hdel(&cart_key(user_id, r.id), &i.product_id.to_string()).await {
            tracing::warn!(order = order.id, error = %e, "could not clear an ordered line from the cart");
        }
    }
    items.extend(skipped.into_iter().map(|l| order_items::Model {
        order_id: order.id,
        product_id: l.product_id,
        count: l.count,
        price: l.price,
        reserved: false,
    }));
    Ok(order_view(order, items))
}

pub async fn own_order(svc: &Services, user: i64, id: i64) -> AppResult<(orders::Model, Vec<order_items::Model>)> {
    let (o, items) = shop::order(&svc.b.db, id).await?.ok_or(AppError::NotFound("order"))?;
    if o.user_id != user {
        return Err(AppError::NotFound("order"));
    }
    Ok((o, items))
}

/// `user`'s orders, newest first, and the total.
pub async fn orders_of(
    svc: &Services,
    user: i64,
    status: Option<OrderStatus>,
    page: crate::domain::paging::Page,
) -> AppResult<(Vec<OrderView>, u64)> {
    let (os, total) = shop::orders_of(&svc.b.db, user, status, page.offset(), page.page_size).await?;
    let ids: Vec<i64> = os.iter().map(|o| o.id).collect();
    let mut by_order: HashMap<i64, Vec<order_items::Model>> = HashMap::new();
    for i in shop::items_of(&svc.b.db, &ids).await? {
        by_order.entry(i.order_id).or_default().push(i);
    }
    let items = os.into_iter().map(|o| {
        let it = by_order.remove(&o.id).unwrap_or_default();
        order_view(o, it)
    });
    Ok((items.collect(), total))
}

/// Pays a pending order of `user_id` from the wallet; 410 once it expired.
pub async fn pay(svc: &Services, user_id: i64, id: i64) -> AppResult<OrderView> {
    let (o, _) = own_order(svc, user_id, id).await?;
    match o.state()?.pay() {
        Ok(_) => {}
        Err(e @ Settled::Expired) => return Err(AppError::Expired(e.to_string())),
        Err(e @ Settled::Paid) => return Err(AppError::conflict(ErrorCode::NotPending, e.to_string())),
    }
    let now = now_ms();
    if is_overdue(o.expires_at, now) {
        // Past its time: expired whatever happens next; if returning the stock fails here, the
        // expiry job returns it on its next try.
        if let Err(e) = expire_order(svc, o.id).await {
            tracing::warn!(order = o.id, error = %e, "expiring an overdue order failed; the job will retry");
        }
        return Err(AppError::Expired("the order expired".into()));
    }
    let op = WalletOp {
        user_id,
        delta: -o.total,
        kind: TradeKind::Order,
        r#ref: format!("order:{}", o.id),
        effect: Effect::Guards(vec![shop::pay_guard(&svc.b.db, o.id, now)]),
    };
    match svc.b.wallets.apply(op).await.map_err(AppError::internal)? {
        Outcome::Done { .. } => {
            let _ = svc.notices.send(user_id, "order_paid", json!({"order_id": o.id, "total": o.total})).await;
        }
        Outcome::Insufficient => return Err(AppError::InsufficientBalance),
        Outcome::Duplicate { .. } | Outcome::Refused => {}
    }
    // Paid by this call or a racing one; otherwise the guard refused it: past its time.
    let (o, items) = own_order(svc, user_id, id).await?;
    if o.is(OrderStatus::Paid) {
        Ok(order_view(o, items))
    } else {
        Err(AppError::Expired(Settled::Expired.to_string()))
    }
}

/// Expires an order if still pending: its stock returns and the buyer gets `order_expired`.
pub async fn expire_order(svc: &Services, order_id: i64) -> anyhow::Result<()> {
    if let Some(lefts) = shop::expire(&svc.b.db, order_id).await? {
        if let Some((o, _)) = shop::order(&svc.b.db, order_id).await? {
            announce_stock(svc, o.room_id, &lefts);
            let _ = svc.notices.send(o.user_id, "order_expired", json!({"order_id": o.id})).await;
        }
    }
    Ok(())
}

/// The expiry timer.
pub struct ExpireJob(pub Services);

#[async_trait::async_trait]
impl JobHandler for ExpireJob {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        // Paid or expired already: nothing to do.
        let Fired::Due(o) = jobs::due::<orders::Model>(&self.0.b.db, job).await? else { return Ok(()) };
        expire_order(&self.0, o.id).await
    }
}

/// At start-up: orders that came due while the server was down expire now.
pub async fn sweep(svc: &Services) -> anyhow::Result<()> {
    for o in shop::overdue(&svc.b.db, now_ms()).await? {
        expire_order(svc, o.id).await?;
    }
    Ok(())
}

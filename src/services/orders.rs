//! Orders of live commerce: carts (in the key-value store), orders that reserve stock and
//! expire unpaid (the expiry waits in the outbox with the order), payment from the wallet, and
//! the expiry job and start-up sweep.

use super::fresh::Fresh;
use super::jobs::{self, Fired};
use super::live_room::{live_actor, live_room};
use super::stock_gate::StockGates;
use super::{AppError, AppResult, Services};
use crate::actors::room;
use crate::clock::{now_ms, rfc3339};
use crate::domain::error::ErrorCode;
use crate::domain::money::{count_in, platform_fee, TradeKind};
use crate::domain::order::{is_overdue, OrderStatus, Settled};
use crate::domain::product::ProductStatus;
use crate::storage::commerce::{self as shop, Line, PlaceError, StockLevel};
use crate::storage::entities::{order_items, orders, products};
use crate::storage::queue::{Job, JobHandler};
use crate::storage::wallets::{Earning, EarningKind, Effect, Outcome, WalletOp};
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

/// The cart's lines with their products as the database has them now (a read that started
/// after this call, shared with the requests that came while it was in flight).
async fn read_cart(svc: &Services, user: i64, room: i64) -> AppResult<Vec<(products::Model, i64)>> {
    let raw = svc.b.kv.hgetall(&cart_key(user, room)).await?;
    let counts: HashMap<i64, i64> =
        raw.into_iter().filter_map(|(pid, count)| Some((pid.parse().ok()?, count.parse().ok()?))).collect();
    let reads = counts.keys().map(|&id| {
        let db = svc.b.db.clone();
        svc.desk.products.get(id, move || {
            let db = db.clone();
            async move { shop::product(&db, id).await }
        })
    });
    let mut lines = vec![];
    for p in futures_util::future::join_all(reads).await {
        if let Some(p) = p? {
            let count = counts[&p.id];
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
    if count > p.left_stock {
        let msg = match p.left_stock {
            0 => format!("{} is sold out", p.name),
            1 => format!("only 1 {} is left; put 1 in the cart", p.name),
            n => format!("only {n} of {} are left; put {n} or fewer in the cart", p.name),
        };
        return Err(AppError::conflict(ErrorCode::SoldOut, msg));
    }
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

/// What concurrent orders share on this node: fresh product reads and the products' gates.
#[derive(Default)]
pub struct OrderDesk {
    products: Fresh<Option<products::Model>>,
    gates: StockGates,
}

/// Tells the room the new stock of products (versioned: a late, stale one is ignored there).
fn announce_stock(svc: &Services, room_id: i64, levels: &[StockLevel]) {
    if let Some(addr) = svc.rooms.get(room_id) {
        for l in levels {
            addr.do_send(room::Stock { product_id: l.product_id, left: l.left, version: l.version });
        }
    }
}

/// The lines with stock for them, and the others (`left` of a product not found: none).
fn split_by_stock(
    lines: impl IntoIterator<Item = Line>,
    mut left: impl FnMut(i64) -> Option<i64>,
) -> (Vec<Line>, Vec<Line>) {
    lines.into_iter().partition(|l| left(l.product_id).is_some_and(|left| left >= l.count))
}

/// Orders what is in `user_id`'s cart in `room_id`: each line with stock is reserved; the others
/// stay in the cart.
///
/// A line the database says is short is not tried. The others wait for their products' gates
/// (`stock_gate`): one reservation per product at a time on this node, and once a product is
/// sold out the buyers who were waiting behind are answered from that reading, not one by one.
pub async fn place_order(svc: &Services, user_id: i64, room_id: i64) -> AppResult<OrderView> {
    // The running room's actor vouches for the room being live (see `live_actor`): no read of
    // the room's row per buyer; it also announces the new stock to the room.
    live_actor(svc, room_id).await?;
    let lines = read_cart(svc, user_id, room_id).await?;
    if lines.is_empty() {
        return Err(AppError::conflict(ErrorCode::CartEmpty, "the cart is empty"));
    }
    let sold_out = || AppError::conflict(ErrorCode::SoldOut, "none of the cart's products has stock left");
    let read_left: HashMap<i64, i64> = lines.iter().map(|(p, _)| (p.id, p.left_stock)).collect();
    let lines = lines.iter().map(|(p, count)| Line { product_id: p.id, count: *count, price: p.price });
    let (to_try, mut skipped) = split_by_stock(lines, |id| read_left.get(&id).copied());
    if to_try.is_empty() {
        return Err(sold_out());
    }
    let ids: Vec<i64> = to_try.iter().map(|l| l.product_id).collect();
    let mut turn = svc.desk.gates.enter(&ids).await;
    // What was read above may have changed while this request waited: take what the turns
    // before learned while it waited, or read again.
    let unknown: Vec<i64> = ids.iter().copied().filter(|id| turn.known_left(*id).is_none()).collect();
    if !unknown.is_empty() {
        let stamp = turn.stamp();
        for l in shop::stock_levels(&svc.b.db, &unknown).await? {
            turn.learn(l.product_id, l.left, stamp);
        }
    }
    let (to_try, short) = split_by_stock(to_try, |id| turn.known_left(id));
    skipped.extend(short);
    if to_try.is_empty() {
        return Err(sold_out());
    }
    let expiry = Duration::from_secs(svc.settings.commerce.order_expiry_s);
    let order_id = svc.b.ids.next("order").await?;
    let cap = svc.settings.commerce.max_pending_units_per_product;
    let expires_at = now_ms() + expiry.as_millis() as i64;
    let stamp = turn.stamp();
    let placed = shop::place_order(&svc.b.db, order_id, user_id, room_id, to_try, expires_at, cap).await;
    match &placed {
        Ok(p) => p.levels.iter().for_each(|l| turn.learn(l.product_id, l.left, stamp)),
        Err(_) => turn.forget(),
    }
    drop(turn);
    let placed = match placed {
        Ok(p) => p,
        Err(PlaceError::SoldOut) => return Err(sold_out()),
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
    announce_stock(svc, room_id, &levels);
    for i in items.iter().filter(|i| i.reserved) {
        if let Err(e) = svc.b.kv.hdel(&cart_key(user_id, room_id), &i.product_id.to_string()).await {
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
    let (o, items) = own_order(svc, user_id, id).await?;
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
    let op = WalletOp::new(
        user_id,
        -o.total,
        TradeKind::Order,
        format!("order:{}", o.id),
        Effect::Guards(vec![shop::pay_guard(&svc.b.db, o.id, now)]),
    );
    let op = paying_the_seller(svc, op, &o, &items).await?;
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

/// `op` with its note, paying the anchor who sells the order's products (every line of an order
/// is from the room's anchor) their part of the total.
async fn paying_the_seller(
    svc: &Services,
    op: WalletOp,
    o: &orders::Model,
    items: &[order_items::Model],
) -> AppResult<WalletOp> {
    let reserved: Vec<&order_items::Model> = items.iter().filter(|i| i.reserved).collect();
    let ids: Vec<i64> = reserved.iter().map(|i| i.product_id).collect();
    let products: HashMap<i64, products::Model> =
        shop::products_by_ids(&svc.b.db, &ids).await?.into_iter().map(|p| (p.id, p)).collect();
    let lines: Vec<String> = reserved
        .iter()
        .map(|i| {
            let name = products.get(&i.product_id).map_or("a product", |p| p.name.as_str());
            format!("{name} ×{}", i.count)
        })
        .collect();
    let title = clip(&format!("Order #{}: {}", o.id, lines.join(", ")), 200);
    let op = op.with_note(title.clone());
    let Some(seller) = products.values().next().map(|p| p.anchor_id) else { return Ok(op) };
    Ok(op.paying(Earning {
        anchor_id: seller,
        kind: EarningKind::Order,
        room_id: Some(o.room_id),
        title,
        fee: platform_fee(o.total, svc.settings.wallet.platform_share_pct),
    }))
}

/// `s` cut to at most `max` characters, with an ellipsis when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
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

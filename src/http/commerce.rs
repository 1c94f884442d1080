//! Live commerce: products (admins approve), the room's shelf, carts in the key-value store,
//! orders that reserve stock and expire unpaid, and payment.

use super::error::{AppError, AppResult};
use super::extract::Json;
use super::limits;
use super::rain::{parse_status, StatusQuery};
use super::rooms::{live_room, room_actor};
use super::session::{Admin, AuthUser};
use super::state::AppState;
use super::views::PageOf;
use crate::actors::room;
use crate::clock::{now_ms, rfc3339};
use crate::domain::money::{count_in, TradeKind};
use crate::domain::paging::Page;
use crate::domain::ratelimit::Limit;
use crate::storage::commerce::{self as shop, Line, PlaceError, StockLevel};
use crate::storage::entities::{order_items, orders, products};
use crate::storage::queue::{Job, JobHandler};
use crate::storage::wallets::{Effect, Outcome, WalletOp};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use utoipa::ToSchema;

pub const EXPIRE_JOB: &str = shop::EXPIRE_JOB;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/products", web::post().to(create_product))
        .route("/admin/products", web::get().to(admin_products))
        .route("/admin/products/{id}/approve", web::post().to(approve))
        .route("/admin/products/{id}/reject", web::post().to(reject))
        .route("/rooms/{id}/products", web::get().to(shelf))
        .route("/rooms/{id}/cart", web::get().to(cart))
        .route("/rooms/{id}/cart/items", web::post().to(add_to_cart))
        .route("/rooms/{id}/cart/items/{product_id}", web::delete().to(remove_from_cart))
        .route("/rooms/{id}/orders", web::post().to(place_order))
        .route("/orders", web::get().to(my_orders))
        .route("/orders/{id}", web::get().to(get_order))
        .route("/orders/{id}/pay", web::post().to(pay));
}

#[derive(Serialize, ToSchema, Clone)]
pub struct ProductView {
    pub id: i64,
    pub anchor_id: i64,
    pub name: String,
    pub price: i64,
    pub stock: i64,
    pub left: i64,
    pub status: String,
}

fn product_view(p: products::Model) -> ProductView {
    ProductView {
        id: p.id,
        anchor_id: p.anchor_id,
        name: p.name,
        price: p.price,
        stock: p.stock,
        left: p.left_stock,
        status: p.status,
    }
}

#[derive(Deserialize, ToSchema)]
pub struct NewProduct {
    /// 1 to 60 characters once trimmed (spaces around are ignored), no control characters.
    #[schema(
        pattern = r#"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\x00-\x1f\x7f-\x9f]{0,58}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"#
    )]
    pub name: String,
    #[schema(minimum = 1, maximum = 100_000_000)]
    pub price: i64,
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub stock: i64,
}

/// An anchor applies to sell a product (pending until an admin approves).
#[utoipa::path(post, path = "/api/products", tag = "commerce", request_body = NewProduct,
    responses((status = 201, body = ProductView), (status = 400, body = super::openapi::ErrorBody)))]
pub async fn create_product(
    state: web::Data<AppState>,
    user: AuthUser,
    body: Json<NewProduct>,
) -> AppResult<HttpResponse> {
    let name = body.0.name.trim().to_owned();
    let n = name.chars().count();
    if n == 0 || n > 60 || name.chars().any(char::is_control) {
        return Err(AppError::invalid("name", "name must be 1 to 60 characters"));
    }
    if body.0.price < 1 || body.0.price > 100_000_000 {
        return Err(AppError::invalid("price", "price must be at least 1"));
    }
    if !(1..=1_000_000).contains(&body.0.stock) {
        return Err(AppError::invalid("stock", "stock must be 1 to 1000000"));
    }
    let p = shop::create_product(
        &state.b.db,
        state.b.ids.next("product").await?,
        user.id,
        name,
        body.0.price,
        body.0.stock,
    )
    .await?;
    Ok(HttpResponse::Created().json(product_view(p)))
}

/// Products, newest first; admins only.
#[utoipa::path(get, path = "/api/admin/products", tag = "admin", params(("status" = Option<String>, Query, pattern = r"^(pending|approved|rejected)$"), ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "from 1 (default 1)"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)")),
    responses((status = 200, body = PageOf<ProductView>), (status = 403, body = super::openapi::ErrorBody)))]
pub async fn admin_products(
    state: web::Data<AppState>,
    _a: Admin,
    q: web::Query<StatusQuery>,
) -> AppResult<web::Json<PageOf<ProductView>>> {
    let page = Page::parse(q.page, q.page_size)?;
    let status = parse_status(q.status.as_deref(), &[shop::PENDING, shop::APPROVED, shop::REJECTED])?;
    let (items, total) = shop::products_page(&state.b.db, status, page.offset(), page.page_size).await?;
    Ok(web::Json(PageOf {
        items: items.into_iter().map(product_view).collect(),
        page: page.page,
        page_size: page.page_size,
        total,
    }))
}

async fn decide(state: &AppState, id: i64, to: &str) -> AppResult<web::Json<ProductView>> {
    shop::product(&state.b.db, id).await?.ok_or(AppError::NotFound("product"))?;
    shop::decide_product(&state.b.db, id, to).await?;
    let p = shop::product(&state.b.db, id).await?.ok_or(AppError::NotFound("product"))?;
    if p.status != to {
        return Err(AppError::conflict("not_pending", "the product was decided already"));
    }
    if to == shop::APPROVED {
        // The anchor's live room shows the new shelf.
        if let Some(room_id) = crate::storage::rooms::live_room_of(&state.b.db, p.anchor_id).await? {
            if let Some(addr) = state.rooms.get(room_id) {
                let items: Vec<ProductView> =
                    shop::shelf(&state.b.db, p.anchor_id).await?.into_iter().map(product_view).collect();
                addr.do_send(room::Publish { kind: "products", data: json!({"items": items}) });
            }
        }
    }
    Ok(web::Json(product_view(p)))
}

/// Approves a product; admins only.
#[utoipa::path(post, path = "/api/admin/products/{id}/approve", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = ProductView), (status = 403, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody, description = "not_pending: decided already")))]
pub async fn approve(state: web::Data<AppState>, _a: Admin, id: web::Path<i64>) -> AppResult<web::Json<ProductView>> {
    decide(&state, *id, shop::APPROVED).await
}

/// Rejects a product; admins only.
#[utoipa::path(post, path = "/api/admin/products/{id}/reject", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = ProductView), (status = 403, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody), (status = 409, body = super::openapi::ErrorBody, description = "not_pending: decided already")))]
pub async fn reject(state: web::Data<AppState>, _a: Admin, id: web::Path<i64>) -> AppResult<web::Json<ProductView>> {
    decide(&state, *id, shop::REJECTED).await
}

#[derive(Serialize, ToSchema)]
pub struct Shelf {
    pub items: Vec<ProductView>,
}

/// Approved products of the room's anchor, with what is left.
#[utoipa::path(get, path = "/api/rooms/{id}/products", tag = "commerce", params(("id" = i64, Path)),
    responses((status = 200, body = Shelf), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn shelf(state: web::Data<AppState>, _u: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<Shelf>> {
    let r = crate::storage::rooms::find(&state.b.db, *id).await?.ok_or(AppError::NotFound("room"))?;
    Ok(web::Json(Shelf { items: shop::shelf(&state.b.db, r.anchor_id).await?.into_iter().map(product_view).collect() }))
}

pub async fn shelf_json(state: &AppState, anchor_id: i64) -> AppResult<Vec<serde_json::Value>> {
    Ok(shop::shelf(&state.b.db, anchor_id).await?.into_iter().map(|p| json!(product_view(p))).collect())
}

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
    format!("cart:{user}:{room}")
}

async fn read_cart(state: &AppState, user: i64, room: i64) -> AppResult<Vec<(products::Model, i64)>> {
    let raw = state.b.kv.hgetall(&cart_key(user, room)).await?;
    let mut lines = vec![];
    for (pid, count) in raw {
        let (Ok(pid), Ok(count)) = (pid.parse::<i64>(), count.parse::<i64>()) else { continue };
        if let Some(p) = shop::product(&state.b.db, pid).await? {
            lines.push((p, count));
        }
    }
    lines.sort_by_key(|(p, _)| p.id);
    Ok(lines)
}

async fn cart_view(state: &AppState, user: i64, room: i64) -> AppResult<web::Json<Cart>> {
    let lines = read_cart(state, user, room).await?;
    let total = lines.iter().map(|(p, c)| p.price * c).sum();
    let items =
        lines.into_iter().map(|(p, c)| CartLine { product_id: p.id, name: p.name, price: p.price, count: c }).collect();
    Ok(web::Json(Cart { items, total }))
}

/// The caller's cart in this room.
#[utoipa::path(get, path = "/api/rooms/{id}/cart", tag = "commerce", params(("id" = i64, Path)), responses((status = 200, body = Cart)))]
pub async fn cart(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<Cart>> {
    cart_view(&state, user.id, *id).await
}

#[derive(Deserialize, ToSchema)]
pub struct CartItem {
    pub product_id: i64,
    #[schema(minimum = 1, maximum = 99)]
    pub count: i64,
}

/// Puts a product in the cart (sets its count).
#[utoipa::path(post, path = "/api/rooms/{id}/cart/items", tag = "commerce", request_body = CartItem, params(("id" = i64, Path)),
    responses((status = 200, body = Cart), (status = 400, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn add_to_cart(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: Json<CartItem>,
) -> AppResult<web::Json<Cart>> {
    let count = count_in("count", body.0.count, 99)?;
    let r = live_room(&state, *id).await?;
    let p = shop::product(&state.b.db, body.0.product_id)
        .await?
        .filter(|p| p.anchor_id == r.anchor_id && p.status == shop::APPROVED)
        .ok_or(AppError::NotFound("product"))?;
    let ttl = Duration::from_secs(state.settings.commerce.cart_ttl_s);
    state.b.kv.hset(&cart_key(user.id, r.id), &p.id.to_string(), &count.to_string(), Some(ttl)).await?;
    cart_view(&state, user.id, r.id).await
}

/// Takes a product out of the cart.
#[utoipa::path(delete, path = "/api/rooms/{id}/cart/items/{product_id}", tag = "commerce", params(("id" = i64, Path), ("product_id" = i64, Path)),
    responses((status = 200, body = Cart)))]
pub async fn remove_from_cart(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
) -> AppResult<web::Json<Cart>> {
    let (room, pid) = path.into_inner();
    state.b.kv.hdel(&cart_key(user.id, room), &pid.to_string()).await?;
    cart_view(&state, user.id, room).await
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

fn order_view(o: orders::Model, items: Vec<order_items::Model>) -> OrderView {
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
fn announce_stock(state: &AppState, room_id: i64, levels: &[StockLevel]) {
    if let Some(addr) = state.rooms.get(room_id) {
        for l in levels {
            addr.do_send(room::Stock { product_id: l.product_id, left: l.left, version: l.version });
        }
    }
}

/// Orders what is in the cart: each line with stock is reserved; the others stay in the cart.
#[utoipa::path(post, path = "/api/rooms/{id}/orders", tag = "commerce", params(("id" = i64, Path)),
    responses((status = 201, body = OrderView),
        (status = 409, body = super::openapi::ErrorBody, description = "sold_out, cart_empty, or limit_exceeded (the caller would hold more than `commerce.max_pending_units_per_product` units of one product in pending orders)"),
        (status = 429, body = super::openapi::ErrorBody)))]
pub async fn place_order(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<HttpResponse> {
    limits::check(&state, &format!("order:{}", user.id), Limit::new(3, 5)).await?;
    let r = live_room(&state, *id).await?;
    let lines = read_cart(&state, user.id, r.id).await?;
    if lines.is_empty() {
        return Err(AppError::conflict("cart_empty", "the cart is empty"));
    }
    // The room's live counts are a hint for fast rejection: a line they say is short is checked
    // against the database before it is skipped, so a stale count never refuses a sale.
    let addr = room_actor(&state, &r).await?;
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
        let levels = shop::stock_levels(&state.b.db, &doubtful).await?;
        announce_stock(&state, r.id, &levels); // heals the room's hint if it was stale
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
        return Err(AppError::conflict("sold_out", "none of the cart's products has stock left"));
    }
    let expiry = Duration::from_secs(state.settings.commerce.order_expiry_s);
    let order_id = state.b.ids.next("order").await?;
    let cap = state.settings.commerce.max_pending_units_per_product;
    let expires_at = now_ms() + expiry.as_millis() as i64;
    let placed = match shop::place_order(&state.b.db, order_id, user.id, r.id, to_try, expires_at, cap).await {
        Ok(p) => p,
        Err(PlaceError::SoldOut) => {
            return Err(AppError::conflict("sold_out", "none of the cart's products has stock left"))
        }
        Err(PlaceError::OverLimit { product_id, held, asked, cap }) => {
            return Err(AppError::conflict(
                "limit_exceeded",
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
    state.b.outbox.wake();
    let shop::Placed { order, mut items, levels } = placed;
    announce_stock(&state, r.id, &levels);
    for i in items.iter().filter(|i| i.reserved) {
        if let Err(e) = state.b.kv.hdel(&cart_key(user.id, r.id), &i.product_id.to_string()).await {
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
    Ok(HttpResponse::Created().json(order_view(order, items)))
}

async fn own_order(state: &AppState, user: i64, id: i64) -> AppResult<(orders::Model, Vec<order_items::Model>)> {
    let (o, items) = shop::order(&state.b.db, id).await?.ok_or(AppError::NotFound("order"))?;
    if o.user_id != user {
        return Err(AppError::NotFound("order"));
    }
    Ok((o, items))
}

/// One of the caller's orders; 404 for another user's.
#[utoipa::path(get, path = "/api/orders/{id}", tag = "commerce", params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = super::openapi::ErrorBody)))]
pub async fn get_order(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> AppResult<web::Json<OrderView>> {
    let (o, items) = own_order(&state, user.id, *id).await?;
    Ok(web::Json(order_view(o, items)))
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/api/orders", tag = "commerce", params(("status" = Option<String>, Query, pattern = r"^(pending|paid|expired)$"), ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "from 1 (default 1)"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)")), responses((status = 200, body = PageOf<OrderView>)))]
pub async fn my_orders(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<StatusQuery>,
) -> AppResult<web::Json<PageOf<OrderView>>> {
    let page = Page::parse(q.page, q.page_size)?;
    let status = parse_status(q.status.as_deref(), &[shop::PENDING, shop::PAID, shop::EXPIRED])?;
    let (os, total) = shop::orders_of(&state.b.db, user.id, status, page.offset(), page.page_size).await?;
    let ids: Vec<i64> = os.iter().map(|o| o.id).collect();
    let mut by_order: HashMap<i64, Vec<order_items::Model>> = HashMap::new();
    for i in shop::items_of(&state.b.db, &ids).await? {
        by_order.entry(i.order_id).or_default().push(i);
    }
    let items = os.into_iter().map(|o| {
        let it = by_order.remove(&o.id).unwrap_or_default();
        order_view(o, it)
    });
    Ok(web::Json(PageOf { items: items.collect(), page: page.page, page_size: page.page_size, total }))
}

/// Pays a pending order from the wallet; 410 once it expired.
#[utoipa::path(post, path = "/api/orders/{id}/pay", tag = "commerce", params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 402, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody),
        (status = 409, body = super::openapi::ErrorBody, description = "not_pending"), (status = 410, body = super::openapi::ErrorBody)))]
pub async fn pay(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<OrderView>> {
    let (o, _) = own_order(&state, user.id, *id).await?;
    match o.status.as_str() {
        shop::EXPIRED => return Err(AppError::Expired("the order expired".into())),
        shop::PAID => return Err(AppError::conflict("not_pending", "the order is paid already")),
        _ => {}
    }
    let now = now_ms();
    if o.expires_at <= now {
        // Past its time: expired whatever happens next; if returning the stock fails here, the
        // expiry job returns it on its next try.
        if let Err(e) = expire_order(&state, o.id).await {
            tracing::warn!(order = o.id, error = %e, "expiring an overdue order failed; the job will retry");
        }
        return Err(AppError::Expired("the order expired".into()));
    }
    let op = WalletOp {
        user_id: user.id,
        delta: -o.total,
        kind: TradeKind::Order,
        r#ref: format!("order:{}", o.id),
        effect: Effect::Guards(vec![shop::pay_guard(&state.b.db, o.id, now)]),
    };
    match state.b.wallets.apply(op).await.map_err(AppError::internal)? {
        Outcome::Done { .. } => {
            let _ = state.notices.send(user.id, "order_paid", json!({"order_id": o.id, "total": o.total})).await;
        }
        Outcome::Insufficient => return Err(AppError::InsufficientBalance),
        Outcome::Duplicate { .. } | Outcome::Refused => {}
    }
    let (o, items) = own_order(&state, user.id, *id).await?;
    match o.status.as_str() {
        shop::PAID => Ok(web::Json(order_view(o, items))),
        shop::EXPIRED => Err(AppError::Expired("the order expired".into())),
        _ => Err(AppError::Expired("the order expired".into())),
    }
}

/// Expires an order if still pending: its stock returns and the buyer gets `order_expired`.
pub async fn expire_order(state: &AppState, order_id: i64) -> anyhow::Result<()> {
    if let Some(lefts) = shop::expire(&state.b.db, order_id).await? {
        if let Some((o, _)) = shop::order(&state.b.db, order_id).await? {
            announce_stock(state, o.room_id, &lefts);
            let _ = state.notices.send(o.user_id, "order_expired", json!({"order_id": o.id})).await;
        }
    }
    Ok(())
}

/// The expiry timer.
pub struct ExpireJob(pub AppState);

#[async_trait::async_trait]
impl JobHandler for ExpireJob {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        let Some(id) = job.payload["order_id"].as_i64() else { return Ok(()) };
        let Some((o, _)) = shop::order(&self.0.b.db, id).await? else { return Ok(()) };
        if o.status != shop::PENDING {
            return Ok(()); // paid or expired already: nothing to do
        }
        if o.expires_at > now_ms() + 50 {
            anyhow::bail!("order expiry fired early; retrying");
        }
        expire_order(&self.0, id).await
    }
}

/// At start-up: orders that came due while the server was down expire now.
pub async fn sweep(state: &AppState) -> anyhow::Result<()> {
    for o in shop::overdue(&state.b.db, now_ms()).await? {
        expire_order(state, o.id).await?;
    }
    Ok(())
}

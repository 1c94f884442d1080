//! Live commerce routes: products (admins approve), the room's shelf, carts, orders and
//! payment. What they do is decided in `services::products` and `services::orders`.

use super::error::{AppError, AppResult};
use super::extract::{parse_status, Json, StatusQuery};
use super::limits;
use super::session::{Admin, AuthUser};
use super::state::AppState;
use super::views::PageOf;
use crate::domain::order::OrderStatus;
use crate::domain::paging::Page;
use crate::domain::product::ProductStatus;
use crate::domain::ratelimit::Limit;
use crate::domain::review::Decision;
use crate::services::orders::{Cart, OrderView};
use crate::services::products::ProductView;
use crate::services::{orders, products};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/products", web::post().to(create_product))
        .route("/products", web::get().to(my_products))
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
    responses((status = 201, body = ProductView), (status = 400, body = super::error::ErrorBody)))]
pub async fn create_product(
    state: web::Data<AppState>,
    user: AuthUser,
    body: Json<NewProduct>,
) -> AppResult<HttpResponse> {
    let p = products::create(&state, user.id, &body.0.name, body.0.price, body.0.stock).await?;
    Ok(HttpResponse::Created().json(p))
}

/// Products, newest first; admins only.
#[utoipa::path(get, path = "/api/admin/products", tag = "admin", params(("status" = Option<String>, Query, pattern = r"^(pending|approved|rejected)$"), ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "from 1 (default 1)"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)")),
    responses((status = 200, body = PageOf<ProductView>), (status = 403, body = super::error::ErrorBody)))]
pub async fn admin_products(
    state: web::Data<AppState>,
    _a: Admin,
    q: web::Query<StatusQuery>,
) -> AppResult<web::Json<PageOf<ProductView>>> {
    let page = Page::parse(q.page, q.page_size)?;
    let status = parse_status::<ProductStatus>(q.status.as_deref())?;
    let (items, total) = products::page(&state, None, status, page).await?;
    Ok(web::Json(PageOf { items, page: page.page, page_size: page.page_size, total }))
}

/// The caller's products, every status, newest first: what an anchor applied to sell and how
/// each application stands.
#[utoipa::path(get, path = "/api/products", tag = "commerce", params(("status" = Option<String>, Query, pattern = r"^(pending|approved|rejected)$"), ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "from 1 (default 1)"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)")),
    responses((status = 200, body = PageOf<ProductView>), (status = 401, body = super::error::ErrorBody)))]
pub async fn my_products(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<StatusQuery>,
) -> AppResult<web::Json<PageOf<ProductView>>> {
    let page = Page::parse(q.page, q.page_size)?;
    let status = parse_status::<ProductStatus>(q.status.as_deref())?;
    let (items, total) = products::page(&state, Some(user.id), status, page).await?;
    Ok(web::Json(PageOf { items, page: page.page, page_size: page.page_size, total }))
}

/// Approves a product; admins only.
#[utoipa::path(post, path = "/api/admin/products/{id}/approve", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = ProductView), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody, description = "not_pending: decided already")))]
pub async fn approve(state: web::Data<AppState>, _a: Admin, id: web::Path<i64>) -> AppResult<web::Json<ProductView>> {
    Ok(web::Json(products::decide(&state, *id, Decision::Approve).await?))
}

/// Rejects a product; admins only.
#[utoipa::path(post, path = "/api/admin/products/{id}/reject", tag = "admin", params(("id" = i64, Path)),
    responses((status = 200, body = ProductView), (status = 403, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody, description = "not_pending: decided already")))]
pub async fn reject(state: web::Data<AppState>, _a: Admin, id: web::Path<i64>) -> AppResult<web::Json<ProductView>> {
    Ok(web::Json(products::decide(&state, *id, Decision::Reject).await?))
}

#[derive(Serialize, ToSchema)]
pub struct Shelf {
    pub items: Vec<ProductView>,
}

/// Approved products of the room's anchor, with what is left.
#[utoipa::path(get, path = "/api/rooms/{id}/products", tag = "commerce", params(("id" = i64, Path)),
    responses((status = 200, body = Shelf), (status = 404, body = super::error::ErrorBody)))]
pub async fn shelf(state: web::Data<AppState>, _u: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<Shelf>> {
    let r = crate::storage::rooms::find(&state.b.db, *id).await?.ok_or(AppError::NotFound("room"))?;
    Ok(web::Json(Shelf { items: products::shelf(&state, r.anchor_id).await? }))
}

/// The caller's cart in this room.
#[utoipa::path(get, path = "/api/rooms/{id}/cart", tag = "commerce", params(("id" = i64, Path)), responses((status = 200, body = Cart)))]
pub async fn cart(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<Cart>> {
    Ok(web::Json(orders::cart(&state, user.id, *id).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct CartItem {
    pub product_id: i64,
    #[schema(minimum = 1, maximum = 99)]
    pub count: i64,
}

/// Puts a product in the cart (sets its count).
#[utoipa::path(post, path = "/api/rooms/{id}/cart/items", tag = "commerce", request_body = CartItem, params(("id" = i64, Path)),
    responses((status = 200, body = Cart), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody, description = "sold_out: more than is left; the message names the product")))]
pub async fn add_to_cart(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
    body: Json<CartItem>,
) -> AppResult<web::Json<Cart>> {
    Ok(web::Json(orders::add_to_cart(&state, user.id, *id, body.0.product_id, body.0.count).await?))
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
    Ok(web::Json(orders::remove_from_cart(&state, user.id, room, pid).await?))
}

/// Orders what is in the cart: each line with stock is reserved; the others stay in the cart.
#[utoipa::path(post, path = "/api/rooms/{id}/orders", tag = "commerce", params(("id" = i64, Path)),
    responses((status = 201, body = OrderView),
        (status = 409, body = super::error::ErrorBody, description = "sold_out, cart_empty, or limit_exceeded (the caller would hold more than `commerce.max_pending_units_per_product` units of one product in pending orders)"),
        (status = 429, body = super::error::ErrorBody)))]
pub async fn place_order(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<HttpResponse> {
    limits::check(&state, &format!("order:{}", user.id), Limit::new(3, 5)).await?;
    Ok(HttpResponse::Created().json(orders::place_order(&state, user.id, *id).await?))
}

/// One of the caller's orders; 404 for another user's.
#[utoipa::path(get, path = "/api/orders/{id}", tag = "commerce", params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get_order(
    state: web::Data<AppState>,
    user: AuthUser,
    id: web::Path<i64>,
) -> AppResult<web::Json<OrderView>> {
    let (o, items) = orders::own_order(&state, user.id, *id).await?;
    Ok(web::Json(orders::order_view(o, items)))
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/api/orders", tag = "commerce", params(("status" = Option<String>, Query, pattern = r"^(pending|paid|expired)$"), ("page" = Option<i64>, Query, minimum = 1, maximum = 1000000, description = "from 1 (default 1)"), ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100 (default 20)")), responses((status = 200, body = PageOf<OrderView>)))]
pub async fn my_orders(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<StatusQuery>,
) -> AppResult<web::Json<PageOf<OrderView>>> {
    let page = Page::parse(q.page, q.page_size)?;
    let status = parse_status::<OrderStatus>(q.status.as_deref())?;
    let (items, total) = orders::orders_of(&state, user.id, status, page).await?;
    Ok(web::Json(PageOf { items, page: page.page, page_size: page.page_size, total }))
}

/// Pays a pending order from the wallet; 410 once it expired.
#[utoipa::path(post, path = "/api/orders/{id}/pay", tag = "commerce", params(("id" = i64, Path)),
    responses((status = 200, body = OrderView), (status = 402, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody, description = "not_pending"), (status = 410, body = super::error::ErrorBody)))]
pub async fn pay(state: web::Data<AppState>, user: AuthUser, id: web::Path<i64>) -> AppResult<web::Json<OrderView>> {
    Ok(web::Json(orders::pay(&state, user.id, *id).await?))
}

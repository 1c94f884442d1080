//! Products of live commerce: an anchor applies to sell one, an admin approves it (the anchor's
//! live room then shows the new shelf), and the room's shelf.

use super::{review, AppError, AppResult, Services};
use crate::actors::room;
use crate::domain::events::{ProductsChanged, ShelfItem};
use crate::domain::product::ProductStatus;
use crate::domain::review::Decision;
use crate::storage::commerce as shop;
use crate::storage::entities::products;
use crate::storage::Stated;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema, Clone)]
pub struct ProductView {
    pub id: i64,
    pub anchor_id: i64,
    /// The anchor's nickname, so a list can name them.
    pub anchor_nickname: String,
    pub name: String,
    pub price: i64,
    pub stock: i64,
    pub left: i64,
    pub status: String,
}

pub fn product_view(p: products::Model, anchor_nickname: String) -> ProductView {
    ProductView {
        id: p.id,
        anchor_id: p.anchor_id,
        anchor_nickname,
        name: p.name,
        price: p.price,
        stock: p.stock,
        left: p.left_stock,
        status: p.status,
    }
}

/// A product as the room shows it (the `products` event, a room's `products`).
pub fn shelf_item(p: products::Model) -> ShelfItem {
    ShelfItem {
        anchor_id: p.anchor_id,
        id: p.id,
        left: p.left_stock,
        name: p.name,
        price: p.price,
        status: p.status,
        stock: p.stock,
    }
}

/// `anchor_id` applies to sell a product (pending until an admin approves).
pub async fn create(svc: &Services, anchor_id: i64, name: &str, price: i64, stock: i64) -> AppResult<ProductView> {
    let name = name.trim().to_owned();
    let n = name.chars().count();
    if n == 0 || n > 60 || name.chars().any(char::is_control) {
        return Err(AppError::invalid("name", "name must be 1 to 60 characters"));
    }
    if !(1..=100_000_000).contains(&price) {
        return Err(AppError::invalid("price", "price must be at least 1"));
    }
    if !(1..=1_000_000).contains(&stock) {
        return Err(AppError::invalid("stock", "stock must be 1 to 1000000"));
    }
    let p = shop::create_product(&svc.b.db, svc.b.ids.next("product").await?, anchor_id, name, price, stock).await?;
    named(svc, p).await
}

/// `p` as lists show it, with its anchor's nickname.
pub async fn named(svc: &Services, p: products::Model) -> AppResult<ProductView> {
    let nickname = svc.nicknames.get(p.anchor_id).await?.unwrap_or_default();
    Ok(product_view(p, nickname))
}

/// A page of products, newest first: every anchor's (admins), or one anchor's.
pub async fn page(
    svc: &Services,
    anchor_id: Option<i64>,
    status: Option<ProductStatus>,
    page: crate::domain::paging::Page,
) -> AppResult<(Vec<ProductView>, u64)> {
    let (rows, total) = shop::products_page(&svc.b.db, anchor_id, status, page.offset(), page.page_size).await?;
    let mut items = Vec::with_capacity(rows.len());
    for p in rows {
        items.push(named(svc, p).await?);
    }
    Ok((items, total))
}

/// An admin approves or rejects a pending product; 409 `not_pending` once decided.
pub async fn decide(svc: &Services, id: i64, d: Decision) -> AppResult<ProductView> {
    let p: products::Model = review::decide(&svc.b.db, id, d).await?;
    if p.is(ProductStatus::Approved) {
        // The anchor's live room shows the new shelf.
        if let Some(room_id) = crate::storage::rooms::live_room_of(&svc.b.db, p.anchor_id).await? {
            if let Some(addr) = svc.rooms.get(room_id) {
                let items = shelf_items(svc, p.anchor_id).await?;
                addr.do_send(room::Publish(ProductsChanged { items }.into()));
            }
        }
    }
    named(svc, p).await
}

/// Approved products of `anchor_id`, with what is left.
pub async fn shelf(svc: &Services, anchor_id: i64) -> AppResult<Vec<ProductView>> {
    let nickname = svc.nicknames.get(anchor_id).await?.unwrap_or_default();
    Ok(shop::shelf(&svc.b.db, anchor_id).await?.into_iter().map(|p| product_view(p, nickname.clone())).collect())
}

/// The shelf as the room shows it.
pub async fn shelf_items(svc: &Services, anchor_id: i64) -> AppResult<Vec<ShelfItem>> {
    Ok(shop::shelf(&svc.b.db, anchor_id).await?.into_iter().map(shelf_item).collect())
}

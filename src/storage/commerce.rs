//! Products, carts' stock checks, orders: a reservation is a conditional decrement in the same
//! transaction as its order row; expiry returns stock with a status-guarded update.

use super::entities::{order_items, orders, products};
use crate::clock::now_ms;
use sea_orm::{
    sea_query::{Expr, Query},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait,
};

pub const PENDING: &str = "pending";
pub const APPROVED: &str = "approved";
pub const REJECTED: &str = "rejected";
pub const PAID: &str = "paid";
pub const EXPIRED: &str = "expired";

pub async fn create_product(
    db: &DatabaseConnection,
    id: i64,
    anchor_id: i64,
    name: String,
    price: i64,
    stock: i64,
) -> Result<products::Model, DbErr> {
    let m = products::Model {
        id,
        anchor_id,
        name,
        price,
        stock,
        left_stock: stock,
        status: PENDING.into(),
        created_at: now_ms(),
    };
    products::Entity::insert(products::ActiveModel {
        id: Set(m.id),
        anchor_id: Set(m.anchor_id),
        name: Set(m.name.clone()),
        price: Set(m.price),
        stock: Set(m.stock),
        left_stock: Set(m.left_stock),
        status: Set(m.status.clone()),
        created_at: Set(m.created_at),
    })
    .exec(db)
    .await?;
    Ok(m)
}

pub async fn product(db: &DatabaseConnection, id: i64) -> Result<Option<products::Model>, DbErr> {
    products::Entity::find_by_id(id).one(db).await
}

pub async fn products_page(
    db: &DatabaseConnection,
    status: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<products::Model>, u64), DbErr> {
    let mut q = products::Entity::find();
    if let Some(s) = status {
        q = q.filter(products::Column::Status.eq(s));
    }
    let total = q.clone().count(db).await?;
    Ok((q.order_by_desc(products::Column::Id).offset(offset).limit(limit).all(db).await?, total))
}

pub async fn decide_product(db: &DatabaseConnection, id: i64, to: &str) -> Result<bool, DbErr> {
    let r = products::Entity::update_many()
        .col_expr(products::Column::Status, Expr::value(to))
        .filter(products::Column::Id.eq(id))
        .filter(products::Column::Status.eq(PENDING))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Approved products of an anchor.
pub async fn shelf(db: &DatabaseConnection, anchor_id: i64) -> Result<Vec<products::Model>, DbErr> {
    products::Entity::find()
        .filter(products::Column::AnchorId.eq(anchor_id))
        .filter(products::Column::Status.eq(APPROVED))
        .order_by_asc(products::Column::Id)
        .all(db)
        .await
}

pub async fn has_approved(db: &DatabaseConnection, anchor_id: i64) -> Result<bool, DbErr> {
    Ok(products::Entity::find()
        .filter(products::Column::AnchorId.eq(anchor_id))
        .filter(products::Column::Status.eq(APPROVED))
        .one(db)
        .await?
        .is_some())
}

/// One cart line to reserve.
#[derive(Debug, Clone)]
pub struct Line {
    pub product_id: i64,
    pub count: i64,
    pub price: i64,
}

/// Creates an order reserving what has stock; `None` when nothing could be reserved (no order
/// is stored). Returns the order, its items and the reserved products' new `left`.
pub async fn place_order(
    db: &DatabaseConnection,
    id: i64,
    user_id: i64,
    room_id: i64,
    lines: Vec<Line>,
    expires_at: i64,
) -> Result<Option<(orders::Model, Vec<order_items::Model>, Vec<(i64, i64)>)>, DbErr> {
    db.transaction::<_, _, DbErr>(|tx| {
        Box::pin(async move {
            if tx.get_database_backend() == DbBackend::Sqlite {
                // Write lock first (see wallets.rs): no stale snapshot upgrades.
                tx.execute_unprepared("UPDATE products SET left_stock = left_stock WHERE 1 = 0").await?;
            }
            let mut items = vec![];
            let mut lefts = vec![];
            let mut total = 0;
            for l in &lines {
                let r = products::Entity::update_many()
                    .col_expr(products::Column::LeftStock, Expr::col(products::Column::LeftStock).sub(l.count))
                    .filter(products::Column::Id.eq(l.product_id))
                    .filter(products::Column::Status.eq(APPROVED))
                    .filter(products::Column::LeftStock.gte(l.count))
                    .exec(tx)
                    .await?;
                let reserved = r.rows_affected == 1;
                if reserved {
                    total += l.price * l.count;
                    if let Some(p) = products::Entity::find_by_id(l.product_id).one(tx).await? {
                        lefts.push((p.id, p.left_stock));
                    }
                }
                items.push(order_items::Model {
                    order_id: id,
                    product_id: l.product_id,
                    count: l.count,
                    price: l.price,
                    reserved,
                });
            }
            if !items.iter().any(|i| i.reserved) {
                return Ok(None);
            }
            let order =
                orders::Model { id, user_id, room_id, status: PENDING.into(), total, expires_at, created_at: now_ms() };
            orders::Entity::insert(orders::ActiveModel {
                id: Set(order.id),
                user_id: Set(order.user_id),
                room_id: Set(order.room_id),
                status: Set(order.status.clone()),
                total: Set(order.total),
                expires_at: Set(order.expires_at),
                created_at: Set(order.created_at),
            })
            .exec(tx)
            .await?;
            order_items::Entity::insert_many(items.iter().map(|i| order_items::ActiveModel {
                order_id: Set(i.order_id),
                product_id: Set(i.product_id),
                count: Set(i.count),
                price: Set(i.price),
                reserved: Set(i.reserved),
            }))
            .exec(tx)
            .await?;
            Ok(Some((order, items, lefts)))
        })
    })
    .await
    .map_err(super::tx_err)
}

pub async fn order(
    db: &DatabaseConnection,
    id: i64,
) -> Result<Option<(orders::Model, Vec<order_items::Model>)>, DbErr> {
    let Some(o) = orders::Entity::find_by_id(id).one(db).await? else { return Ok(None) };
    let items = order_items::Entity::find().filter(order_items::Column::OrderId.eq(id)).all(db).await?;
    Ok(Some((o, items)))
}

pub async fn orders_of(
    db: &DatabaseConnection,
    user_id: i64,
    status: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<orders::Model>, u64), DbErr> {
    let mut q = orders::Entity::find().filter(orders::Column::UserId.eq(user_id));
    if let Some(s) = status {
        q = q.filter(orders::Column::Status.eq(s));
    }
    let total = q.clone().count(db).await?;
    Ok((
        q.order_by_desc(orders::Column::CreatedAt)
            .order_by_desc(orders::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(db)
            .await?,
        total,
    ))
}

pub async fn items_of(db: &DatabaseConnection, order_ids: &[i64]) -> Result<Vec<order_items::Model>, DbErr> {
    order_items::Entity::find().filter(order_items::Column::OrderId.is_in(order_ids.iter().copied())).all(db).await
}

/// The guard of a payment: the order is pending and not past its expiry.
pub fn pay_guard(db: &DatabaseConnection, order_id: i64, now: i64) -> Statement {
    let mut q = Query::update();
    q.table(orders::Entity)
        .value(orders::Column::Status, PAID)
        .and_where(orders::Column::Id.eq(order_id))
        .and_where(orders::Column::Status.eq(PENDING))
        .and_where(orders::Column::ExpiresAt.gt(now));
    db.get_database_backend().build(&q)
}

/// Expires a pending order and returns its reserved stock, in one transaction; the products'
/// new `left`, or None when it was not pending (paid, or expired already).
pub async fn expire(db: &DatabaseConnection, order_id: i64) -> Result<Option<Vec<(i64, i64)>>, DbErr> {
    db.transaction::<_, _, DbErr>(|tx| {
        Box::pin(async move {
            let r = orders::Entity::update_many()
                .col_expr(orders::Column::Status, Expr::value(EXPIRED))
                .filter(orders::Column::Id.eq(order_id))
                .filter(orders::Column::Status.eq(PENDING))
                .exec(tx)
                .await?;
            if r.rows_affected != 1 {
                return Ok(None);
            }
            let items = order_items::Entity::find()
                .filter(order_items::Column::OrderId.eq(order_id))
                .filter(order_items::Column::Reserved.eq(true))
                .all(tx)
                .await?;
            let mut lefts = vec![];
            for i in items {
                products::Entity::update_many()
                    .col_expr(products::Column::LeftStock, Expr::col(products::Column::LeftStock).add(i.count))
                    .filter(products::Column::Id.eq(i.product_id))
                    .exec(tx)
                    .await?;
                if let Some(p) = products::Entity::find_by_id(i.product_id).one(tx).await? {
                    lefts.push((p.id, p.left_stock));
                }
            }
            Ok(Some(lefts))
        })
    })
    .await
    .map_err(super::tx_err)
}

/// Pending orders past their expiry (the start-up sweeper expires them).
pub async fn overdue(db: &DatabaseConnection, now: i64) -> Result<Vec<orders::Model>, DbErr> {
    orders::Entity::find()
        .filter(orders::Column::Status.eq(PENDING))
        .filter(orders::Column::ExpiresAt.lte(now))
        .all(db)
        .await
}

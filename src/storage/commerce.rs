//! Products, carts' stock checks, orders: a reservation is a conditional decrement in the same
//! transaction as its order row; expiry returns stock with a status-guarded update.

use super::entities::{order_items, orders, products};
use crate::clock::now_ms;
use crate::domain::order::OrderStatus;
use crate::domain::product::ProductStatus;
use sea_orm::{
    sea_query::{Expr, Query},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    IsolationLevel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionError,
    TransactionTrait,
};

/// The delay-queue job that expires an unpaid order (payload `{"order_id"}`); written to the
/// outbox in the order's own transaction, so a committed order always gets its expiry.
pub const EXPIRE_JOB: &str = "order_expire";

/// A product's stock as of one change: `version` orders announcements of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockLevel {
    pub product_id: i64,
    pub left: i64,
    pub version: i64,
}

impl From<&products::Model> for StockLevel {
    fn from(p: &products::Model) -> Self {
        Self { product_id: p.id, left: p.left_stock, version: p.stock_version }
    }
}

/// The current stock of these products, read from the database (the truth).
pub async fn stock_levels(db: &DatabaseConnection, ids: &[i64]) -> Result<Vec<StockLevel>, DbErr> {
    Ok(products::Entity::find()
        .filter(products::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .iter()
        .map(StockLevel::from)
        .collect())
}

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
        stock_version: 0,
        status: ProductStatus::Pending.as_str().into(),
        created_at: now_ms(),
    };
    products::Entity::insert(products::ActiveModel {
        id: Set(m.id),
        anchor_id: Set(m.anchor_id),
        name: Set(m.name.clone()),
        price: Set(m.price),
        stock: Set(m.stock),
        left_stock: Set(m.left_stock),
        stock_version: Set(m.stock_version),
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

/// The products of `ids` that exist, in id order.
pub async fn products_by_ids(db: &DatabaseConnection, ids: &[i64]) -> Result<Vec<products::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    products::Entity::find()
        .filter(products::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(products::Column::Id)
        .all(db)
        .await
}

/// Products, newest first: all of them, or one anchor's; of one status, or any.
pub async fn products_page(
    db: &DatabaseConnection,
    anchor_id: Option<i64>,
    status: Option<ProductStatus>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<products::Model>, u64), DbErr> {
    let mut q = products::Entity::find();
    if let Some(a) = anchor_id {
        q = q.filter(products::Column::AnchorId.eq(a));
    }
    if let Some(s) = status {
        q = q.filter(products::Column::Status.eq(s.as_str()));
    }
    let total = q.clone().count(db).await?;
    Ok((q.order_by_desc(products::Column::Id).offset(offset).limit(limit).all(db).await?, total))
}

pub async fn decide_product(db: &DatabaseConnection, id: i64, to: ProductStatus) -> Result<bool, DbErr> {
    let r = products::Entity::update_many()
        .col_expr(products::Column::Status, Expr::value(to.as_str()))
        .filter(products::Column::Id.eq(id))
        .filter(products::Column::Status.eq(ProductStatus::Pending.as_str()))
        .exec(db)
        .await?;
    Ok(r.rows_affected == 1)
}

/// Approved products of an anchor.
pub async fn shelf(db: &DatabaseConnection, anchor_id: i64) -> Result<Vec<products::Model>, DbErr> {
    products::Entity::find()
        .filter(products::Column::AnchorId.eq(anchor_id))
        .filter(products::Column::Status.eq(ProductStatus::Approved.as_str()))
        .order_by_asc(products::Column::Id)
        .all(db)
        .await
}

pub async fn has_approved(db: &DatabaseConnection, anchor_id: i64) -> Result<bool, DbErr> {
    Ok(products::Entity::find()
        .filter(products::Column::AnchorId.eq(anchor_id))
        .filter(products::Column::Status.eq(ProductStatus::Approved.as_str()))
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

/// A new order and what it changed.
#[derive(Debug)]
pub struct Placed {
    pub order: orders::Model,
    pub items: Vec<order_items::Model>,
    /// The reserved products' stock after the reservation.
    pub levels: Vec<StockLevel>,
}

/// Why no order was stored.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// None of the lines had stock left.
    #[error("nothing could be reserved")]
    SoldOut,
    /// Reserving this line would put the user over the per-product cap of pending units.
    #[error("product {product_id}: {held} units held in pending orders, {asked} more asked, cap {cap}")]
    OverLimit { product_id: i64, held: i64, asked: i64, cap: i64 },
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Creates an order reserving what has stock, and in the same transaction its expiry job in the
/// outbox: the order and its expiry commit together or not at all. A line that would put the
/// user over `max_units` (units of one product held in their pending, unexpired orders) refuses
/// the whole order, nothing reserved. Call `Outbox::wake` after it returns.
pub async fn place_order(
    db: &DatabaseConnection,
    id: i64,
    user_id: i64,
    room_id: i64,
    lines: Vec<Line>,
    expires_at: i64,
    max_units: i64,
) -> Result<Placed, PlaceError> {
    // MySQL's default REPEATABLE READ would count the user's holdings from a snapshot taken
    // before a product's row lock was granted; READ COMMITTED reads what committed before it.
    let isolation = (db.get_database_backend() == DbBackend::MySql).then_some(IsolationLevel::ReadCommitted);
    db.transaction_with_config::<_, _, PlaceError>(
        |tx| {
            Box::pin(async move {
                // The first statement writes, so SQLite takes its write lock before any read
                // (no stale snapshot to upgrade; see wallets/batch.rs).
                let now = now_ms();
                let mut items = vec![];
                let mut levels = vec![];
                let mut total = 0;
                for l in &lines {
                    // The conditional decrement also takes the product's row lock, so every
                    // order of this product (this user's included) is serialised from here:
                    // the holding counted next cannot change under us.
                    let r = products::Entity::update_many()
                        .col_expr(products::Column::LeftStock, Expr::col(products::Column::LeftStock).sub(l.count))
                        .col_expr(products::Column::StockVersion, Expr::col(products::Column::StockVersion).add(1))
                        .filter(products::Column::Id.eq(l.product_id))
                        .filter(products::Column::Status.eq(ProductStatus::Approved.as_str()))
                        .filter(products::Column::LeftStock.gte(l.count))
                        .exec(tx)
                        .await?;
                    let reserved = r.rows_affected == 1;
                    if reserved {
                        let held = pending_units(tx, user_id, l.product_id, now).await?;
                        if held + l.count > max_units {
                            return Err(PlaceError::OverLimit {
                                product_id: l.product_id,
                                held,
                                asked: l.count,
                                cap: max_units,
                            });
                        }
                        total += l.price * l.count;
                        if let Some(p) = products::Entity::find_by_id(l.product_id).one(tx).await? {
                            levels.push(StockLevel::from(&p));
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
                    return Err(PlaceError::SoldOut);
                }
                let order = orders::Model {
                    id,
                    user_id,
                    room_id,
                    status: OrderStatus::Pending.as_str().into(),
                    total,
                    expires_at,
                    created_at: now,
                };
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
                super::outbox::add(tx, EXPIRE_JOB, &serde_json::json!({"order_id": id}), expires_at).await?;
                Ok(Placed { order, items, levels })
            })
        },
        isolation,
        None,
    )
    .await
    .map_err(|e| match e {
        TransactionError::Connection(e) => PlaceError::Db(e),
        TransactionError::Transaction(e) => e,
    })
}

/// Units of `product_id` that `user_id` holds reserved in pending orders not yet past expiry.
async fn pending_units(tx: &DatabaseTransaction, user_id: i64, product_id: i64, now: i64) -> Result<i64, DbErr> {
    let backend = tx.get_database_backend();
    let (sum, p) = match backend {
        DbBackend::Postgres => ("CAST(COALESCE(SUM(oi.count), 0) AS BIGINT)", ["$1", "$2", "$3", "$4", "$5"]),
        DbBackend::MySql => ("CAST(COALESCE(SUM(oi.count), 0) AS SIGNED)", ["?"; 5]),
        DbBackend::Sqlite => ("COALESCE(SUM(oi.count), 0)", ["?"; 5]),
    };
    let sql = format!(
        "SELECT {sum} FROM order_items oi JOIN orders o ON o.id = oi.order_id \
         WHERE o.user_id = {} AND o.status = {} AND o.expires_at > {} AND oi.product_id = {} AND oi.reserved = {}",
        p[0], p[1], p[2], p[3], p[4]
    );
    let stmt = Statement::from_sql_and_values(
        backend,
        sql,
        [user_id.into(), OrderStatus::Pending.as_str().into(), now.into(), product_id.into(), true.into()],
    );
    let row = tx.query_one(stmt).await?;
    Ok(match row {
        Some(r) => r.try_get_by_index::<i64>(0)?,
        None => 0,
    })
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
    status: Option<OrderStatus>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<orders::Model>, u64), DbErr> {
    let mut q = orders::Entity::find().filter(orders::Column::UserId.eq(user_id));
    if let Some(s) = status {
        q = q.filter(orders::Column::Status.eq(s.as_str()));
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
        .value(orders::Column::Status, OrderStatus::Paid.as_str())
        .and_where(orders::Column::Id.eq(order_id))
        .and_where(orders::Column::Status.eq(OrderStatus::Pending.as_str()))
        .and_where(orders::Column::ExpiresAt.gt(now));
    db.get_database_backend().build(&q)
}

/// Expires a pending order and returns its reserved stock, in one transaction; the products'
/// new stock, or None when it was not pending (paid, or expired already).
pub async fn expire(db: &DatabaseConnection, order_id: i64) -> Result<Option<Vec<StockLevel>>, DbErr> {
    db.transaction::<_, _, DbErr>(|tx| {
        Box::pin(async move {
            let r = orders::Entity::update_many()
                .col_expr(orders::Column::Status, Expr::value(OrderStatus::Expired.as_str()))
                .filter(orders::Column::Id.eq(order_id))
                .filter(orders::Column::Status.eq(OrderStatus::Pending.as_str()))
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
                    .col_expr(products::Column::StockVersion, Expr::col(products::Column::StockVersion).add(1))
                    .filter(products::Column::Id.eq(i.product_id))
                    .exec(tx)
                    .await?;
                if let Some(p) = products::Entity::find_by_id(i.product_id).one(tx).await? {
                    lefts.push(StockLevel::from(&p));
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
        .filter(orders::Column::Status.eq(OrderStatus::Pending.as_str()))
        .filter(orders::Column::ExpiresAt.lte(now))
        .all(db)
        .await
}

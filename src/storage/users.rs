//! Users repository: first login creates the user and an empty wallet in one transaction.

use super::entities::{users, wallets};
use super::idgen::IdGen;
use crate::clock::now_ms;
use crate::domain::user::{default_nickname, Phone};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};

pub async fn find(db: &DatabaseConnection, id: i64) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(id).one(db).await
}

pub async fn find_many(db: &DatabaseConnection, ids: &[i64]) -> Result<Vec<users::Model>, DbErr> {
    users::Entity::find().filter(users::Column::Id.is_in(ids.iter().copied())).all(db).await
}

/// The user with `phone`, created with an empty wallet on first login.
pub async fn find_or_create(db: &DatabaseConnection, ids: &IdGen, phone: &Phone) -> anyhow::Result<users::Model> {
    if let Some(u) = users::Entity::find().filter(users::Column::Phone.eq(phone.as_str())).one(db).await? {
        return Ok(u);
    }
    let id = ids.next("user").await?;
    let now = now_ms();
    let model = users::Model {
        id,
        phone: phone.as_str().to_owned(),
        nickname: default_nickname(phone),
        avatar: String::new(),
        created_at: now,
    };
    let m = model.clone();
    let res = db
        .transaction::<_, (), DbErr>(|tx| {
            Box::pin(async move {
                users::Entity::insert(users::ActiveModel {
                    id: Set(m.id),
                    phone: Set(m.phone),
                    nickname: Set(m.nickname),
                    avatar: Set(m.avatar),
                    created_at: Set(m.created_at),
                })
                .exec(tx)
                .await?;
                wallets::Entity::insert(wallets::ActiveModel {
                    user_id: Set(m.id),
                    balance: Set(0),
                    updated_at: Set(now),
                    income: Set(0),
                })
                .exec(tx)
                .await?;
                Ok(())
            })
        })
        .await;
    match res {
        Ok(()) => Ok(model),
        Err(e) => {
            // Two first logins raced on the unique phone: the other one won; use its row.
            if let Some(u) = users::Entity::find().filter(users::Column::Phone.eq(phone.as_str())).one(db).await? {
                Ok(u)
            } else {
                Err(anyhow::anyhow!("create user: {e}"))
            }
        }
    }
}

pub async fn update_profile(
    db: &DatabaseConnection,
    id: i64,
    nickname: Option<String>,
    avatar: Option<String>,
) -> Result<Option<users::Model>, DbErr> {
    let Some(u) = find(db, id).await? else {
        return Ok(None);
    };
    if nickname.is_none() && avatar.is_none() {
        return Ok(Some(u));
    }
    let mut am: users::ActiveModel = u.into();
    if let Some(n) = nickname {
        am.nickname = Set(n);
    }
    if let Some(a) = avatar {
        am.avatar = Set(a);
    }
    am.update(db).await.map(Some)
}

pub async fn balance(db: &DatabaseConnection, user_id: i64) -> Result<i64, DbErr> {
    Ok(wallets::Entity::find_by_id(user_id).one(db).await?.map(|w| w.balance).unwrap_or(0))
}

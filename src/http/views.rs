//! JSON shapes of the contract that several areas share (`user`, pages).

use super::error::AppResult;
use super::state::AppState;
use crate::domain::user::mask_phone;
pub use crate::domain::user::UserRef;
use crate::storage::entities::users;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Privileges {
    pub red_packet: bool,
    pub commerce: bool,
}

/// The contract's `user`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub nickname: String,
    pub avatar: String,
    pub phone: String,
    pub roles: Vec<&'static str>,
    pub balance: i64,
    pub privileges: Privileges,
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageOf<T: Serialize> {
    pub items: Vec<T>,
    pub page: u64,
    pub page_size: u64,
    pub total: u64,
}

pub async fn user_view(state: &AppState, u: &users::Model) -> AppResult<UserView> {
    let balance = crate::storage::users::balance(&state.b.db, u.id).await?;
    let (red_packet, commerce) = crate::storage::privileges::of(&state.b.db, u.id).await?;
    let mut roles = vec!["user"];
    if state.is_admin_phone(&u.phone) {
        roles.push("admin");
    }
    Ok(UserView {
        id: u.id,
        nickname: u.nickname.clone(),
        avatar: u.avatar.clone(),
        phone: mask_phone(&u.phone),
        roles,
        balance,
        privileges: Privileges { red_packet, commerce },
    })
}

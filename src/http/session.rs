//! Who is calling: the bearer token or the `session` cookie, looked up by its hash in the
//! key-value store; the CSRF rule for cookie-authenticated writes.

use super::error::AppError;
use super::state::AppState;
use crate::domain::error::ErrorCode;
use actix_web::{dev::Payload, http::Method, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const COOKIE: &str = "session";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i64,
    pub phone: String,
    pub is_admin: bool,
    /// Hash of the presented token, to end exactly this session at logout.
    pub token_hash: String,
}

pub fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn session_key(hash: &str) -> String {
    crate::storage::kv::keys::session(hash)
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let h = req.headers().get("authorization")?.to_str().ok()?;
    let t = h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))?.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Same-origin check for cookie-authenticated writes.
fn same_origin(req: &HttpRequest) -> bool {
    if req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("same-origin") {
        return true;
    }
    let Some(origin) = req.headers().get("origin").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let ci = req.connection_info();
    let own = format!("{}://{}", ci.scheme(), ci.host());
    origin.eq_ignore_ascii_case(&own)
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let from_header = bearer(req);
        let (token, via_cookie) = match from_header {
            Some(t) => (Some(t), false),
            None => (req.cookie(COOKIE).map(|c| c.value().to_owned()), true),
        };
        let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        let csrf_ok = !via_cookie || !unsafe_method || same_origin(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| AppError::internal(anyhow::anyhow!("app state missing")))?;
            let token = token.filter(|t| !t.is_empty() && t.len() <= 200).ok_or_else(AppError::unauthorized)?;
            let hash = token_hash(&token);
            let value = state.b.kv.get(&session_key(&hash)).await?.ok_or_else(AppError::unauthorized)?;
            if !csrf_ok {
                return Err(AppError::forbidden_as(ErrorCode::Csrf, "cross-site request refused"));
            }
            let (id, phone) = value.split_once(':').ok_or_else(AppError::unauthorized)?;
            let id: i64 = id.parse().map_err(|_| AppError::unauthorized())?;
            let is_admin = state.is_admin_phone(phone);
            Ok(AuthUser { id, phone: phone.to_owned(), is_admin, token_hash: hash })
        })
    }
}

/// An authenticated admin; 403 otherwise.
pub struct Admin(pub AuthUser);

impl FromRequest for Admin {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, p: &mut Payload) -> Self::Future {
        let fut = AuthUser::from_request(req, p);
        Box::pin(async move {
            let u = fut.await?;
            if u.is_admin {
                Ok(Admin(u))
            } else {
                Err(AppError::forbidden("admins only"))
            }
        })
    }
}

//! `/api/auth/*` and `/api/me`: phone-code login, logout, the caller's profile.

use super::error::{AppError, AppResult};
use super::extract::Json;
use super::limits;
use super::session::{new_token, session_key, token_hash, AuthUser, COOKIE};
use super::state::AppState;
use super::views::{user_view, UserView};
use crate::domain::error::ErrorCode;
use crate::domain::user::{AvatarUrl, LoginCode, Nickname, Phone};
use crate::storage::{kv::keys, users};
use actix_web::{cookie::Cookie, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/auth/sms", web::post().to(send_sms))
        .route("/auth/login", web::post().to(login))
        .route("/auth/logout", web::post().to(logout))
        .route("/me", web::get().to(me))
        .route("/me", web::patch().to(patch_me));
}

#[derive(Deserialize, ToSchema)]
pub struct SmsRequest {
    /// 11 digits, starting with 1.
    #[schema(pattern = r"^1[0-9]{10}$", example = "13800000000")]
    pub phone: String,
}

#[derive(Serialize, ToSchema)]
pub struct SmsResponse {
    pub sent: bool,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev_code: Option<String>,
}

fn code_key(p: &Phone) -> String {
    keys::sms_code(p.as_str())
}

/// Sends a login code; 429 when asked again for the same phone within 60 s.
#[utoipa::path(post, path = "/api/auth/sms", tag = "auth", request_body = SmsRequest,
    responses((status = 200, body = SmsResponse), (status = 400, body = super::error::ErrorBody), (status = 429, body = super::error::ErrorBody)))]
pub async fn send_sms(state: web::Data<AppState>, req: HttpRequest, body: Json<SmsRequest>) -> AppResult<HttpResponse> {
    let phone = Phone::parse(&body.0.phone)?;
    let a = &state.settings.auth;
    // Per address first, so one client cannot pump codes to many phones (nor grow a key per
    // phone without bound).
    limits::check_addr(&state, &req, "sms", a.sms_per_ip_per_hour, 3600).await?;
    let lock = keys::sms_lock(phone.as_str());
    if !state.b.kv.set_nx(&lock, "1", Duration::from_secs(a.resend_after_s)).await? {
        return Err(AppError::RateLimited {
            retry_after_s: a.resend_after_s,
            message: format!("a code was sent to this phone less than {} s ago", a.resend_after_s),
        });
    }
    let code = match state.sms.send_code(&phone).await {
        Ok(c) => c,
        Err(e) => {
            let _ = state.b.kv.del(&lock).await;
            // The provider's own text stays in the log: it can name accounts, hosts or quotas.
            tracing::warn!(error = %e, "SMS provider could not send a login code");
            return Err(AppError::Unavailable("could not send the code; try again later".into()));
        }
    };
    state.b.kv.set(&code_key(&phone), &code, Some(Duration::from_secs(a.code_ttl_s))).await?;
    Ok(HttpResponse::Ok().json(SmsResponse {
        sent: true,
        expires_in: a.code_ttl_s,
        dev_code: state.sms.dev_code().map(str::to_owned),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(pattern = r"^1[0-9]{10}$", example = "13800000000")]
    pub phone: String,
    /// The code sent by SMS (4 to 8 digits).
    #[schema(pattern = r"^[0-9]{4,8}$", example = "1000")]
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub user: UserView,
}

/// Logs in with a code, creating the user on first login; sets the `session` cookie.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = super::error::ErrorBody),
        (status = 401, body = super::error::ErrorBody, description = "invalid_code"), (status = 429, body = super::error::ErrorBody)))]
pub async fn login(state: web::Data<AppState>, req: HttpRequest, body: Json<LoginRequest>) -> AppResult<HttpResponse> {
    let phone = Phone::parse(&body.0.phone)?;
    let code = LoginCode::parse(&body.0.code)?;
    let a = &state.settings.auth;
    limits::check_addr(&state, &req, "login", a.login_per_ip_per_minute, 60).await?;
    // Every attempt is counted before its code is compared, in one atomic step: parallel
    // guesses each get their own number, and only the first `max_wrong_codes` of a window are
    // ever compared. A successful login clears the count (its code is used up).
    let fails_key = keys::sms_fails(phone.as_str());
    let window = Duration::from_secs(a.wrong_code_window_s);
    let (attempt, left) = state.b.kv.incr_window(&fails_key, window).await?;
    if attempt > a.max_wrong_codes {
        return Err(AppError::RateLimited {
            retry_after_s: (left.as_secs_f64().ceil() as u64).max(1),
            message: "too many wrong codes for this phone; try again later".into(),
        });
    }
    let invalid = || AppError::unauthorized_as(ErrorCode::InvalidCode, "the code is wrong, expired or already used");
    // One use: whoever takes the right code first logs in; a wrong guess leaves it in place.
    let stored = state.b.kv.get(&code_key(&phone)).await?;
    if stored.as_deref() != Some(code.as_str())
        || state.b.kv.take(&code_key(&phone)).await?.as_deref() != Some(code.as_str())
    {
        return Err(invalid());
    }
    state.b.kv.del(&fails_key).await?;
    let user = users::find_or_create(&state.b.db, &state.b.ids, &phone).await?;
    let token = new_token();
    state
        .b
        .kv
        .set(
            &session_key(&token_hash(&token)),
            &format!("{}:{}", user.id, user.phone),
            Some(Duration::from_secs(a.token_ttl_s)),
        )
        .await?;
    let view = user_view(&state, &user).await?;
    let secure = a.cookie_secure || req.connection_info().scheme() == "https";
    let cookie = Cookie::build(COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Lax)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::seconds(a.token_ttl_s as i64))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(LoginResponse { token, user: view }))
}

/// Ends this session at once.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 204), (status = 401, body = super::error::ErrorBody)))]
pub async fn logout(state: web::Data<AppState>, user: AuthUser) -> AppResult<HttpResponse> {
    state.b.kv.del(&session_key(&user.token_hash)).await?;
    let mut gone = Cookie::build(COOKIE, "").path("/").http_only(true).finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

/// The caller.
#[utoipa::path(get, path = "/api/me", tag = "auth", responses((status = 200, body = UserView), (status = 401, body = super::error::ErrorBody)))]
pub async fn me(state: web::Data<AppState>, user: AuthUser) -> AppResult<web::Json<UserView>> {
    let u = users::find(&state.b.db, user.id).await?.ok_or_else(AppError::unauthorized)?;
    Ok(web::Json(user_view(&state, &u).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct PatchMe {
    /// 1 to 20 characters once trimmed (spaces around are ignored), no control characters.
    #[schema(
        pattern = r#"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000](?:[^\x00-\x1f\x7f-\x9f]{0,18}[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000])?[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"#
    )]
    pub nickname: Option<String>,
    /// An https URL of at most 300 bytes, without spaces, quotes or angle brackets.
    #[schema(max_length = 300, pattern = r#"^(https://[^\s\x00-\x1f\x7f-\x9f"<>]+)?$"#)]
    pub avatar: Option<String>,
}

/// Changes the caller's nickname or avatar.
#[utoipa::path(patch, path = "/api/me", tag = "auth", request_body = PatchMe,
    responses((status = 200, body = UserView), (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody)))]
pub async fn patch_me(
    state: web::Data<AppState>,
    user: AuthUser,
    body: Json<PatchMe>,
) -> AppResult<web::Json<UserView>> {
    let nickname = body.0.nickname.as_deref().map(Nickname::parse).transpose()?.map(Nickname::into_inner);
    let avatar = body.0.avatar.as_deref().map(AvatarUrl::parse).transpose()?.map(AvatarUrl::into_inner);
    let u = users::update_profile(&state.b.db, user.id, nickname, avatar).await?.ok_or_else(AppError::unauthorized)?;
    // After the write: a gift's read that began before it is not kept (see `Nicknames`).
    state.nicknames.forget(user.id);
    Ok(web::Json(user_view(&state, &u).await?))
}

//! One error type for the whole HTTP surface, written as the contract's
//! `{"error": {"code", "message", "field"?}}`. Internal causes are logged, never sent.

use crate::domain::DomainError;
use actix_web::{http::StatusCode, HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    InvalidInput { message: String, field: Option<String> },
    /// 401 with a code: `unauthorized` or `invalid_code`.
    #[error("{1}")]
    Unauthorized(&'static str, String),
    /// 403 with a code: `forbidden`, `csrf`, `no_privilege`, `banned`.
    #[error("{1}")]
    Forbidden(&'static str, String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409 with a conflict code named by the contract.
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("insufficient balance")]
    InsufficientBalance,
    #[error("{0}")]
    Expired(String),
    #[error("request body is larger than 64 KiB")]
    TooLarge,
    #[error("{message}")]
    RateLimited { retry_after_s: u64, message: String },
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput { message: message.into(), field: Some(field.into()) }
    }
    pub fn bad(message: impl Into<String>) -> Self {
        Self::InvalidInput { message: message.into(), field: None }
    }
    pub fn unauthorized() -> Self {
        Self::Unauthorized("unauthorized", "log in first".into())
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden("forbidden", message.into())
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict(code, message.into())
    }
    pub fn rate_limited(retry_after_s: u64) -> Self {
        Self::RateLimited { retry_after_s: retry_after_s.max(1), message: "too many requests; slow down".into() }
    }
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "invalid_input",
            Self::Unauthorized(c, _) | Self::Forbidden(c, _) | Self::Conflict(c, _) => c,
            Self::NotFound(_) => "not_found",
            Self::InsufficientBalance => "insufficient_balance",
            Self::Expired(_) => "expired",
            Self::TooLarge => "too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(..) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(..) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(..) => StatusCode::CONFLICT,
            Self::InsufficientBalance => StatusCode::PAYMENT_REQUIRED,
            Self::Expired(_) => StatusCode::GONE,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "something went wrong on our side; try again".to_owned()
            }
            other => other.to_string(),
        };
        let field = match self {
            Self::InvalidInput { field, .. } => field.as_deref(),
            _ => None,
        };
        let mut b = HttpResponse::build(self.status_code());
        if let Self::RateLimited { retry_after_s, .. } = self {
            b.insert_header(("Retry-After", retry_after_s.to_string()));
        }
        b.json(Body { error: Inner { code: self.code(), message, field } })
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        Self::InvalidInput { message: e.message, field: e.field.map(str::to_owned) }
    }
}

macro_rules! internal_from {
    ($($t:ty),*) => {$(
        impl From<$t> for AppError {
            fn from(e: $t) -> Self { Self::Internal(anyhow::Error::new(e)) }
        }
    )*};
}
internal_from!(
    sea_orm::DbErr,
    crate::storage::kv::KvError,
    crate::storage::queue::QueueError,
    crate::storage::idgen::IdError
);

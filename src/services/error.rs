//! The one error type of every service (and so of the HTTP surface, which writes it as the
//! contract's `{"error": {"code", "message", "field"?}}`: see `http::error`). Storage errors
//! become `BackendDown` when they say a backend is unreachable, `Internal` otherwise; internal
//! causes are logged, never sent.

use crate::domain::error::ErrorCode;
use crate::domain::DomainError;
use crate::storage::health::{db_unreachable, Backend, BackendDown};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    InvalidInput { message: String, field: Option<String> },
    /// 401 with a code: `unauthorized` or `invalid_code`.
    #[error("{1}")]
    Unauthorized(ErrorCode, String),
    /// 403 with a code: `forbidden`, `csrf`, `no_privilege`, `banned`.
    #[error("{1}")]
    Forbidden(ErrorCode, String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409 with a conflict code named by the contract.
    #[error("{1}")]
    Conflict(ErrorCode, String),
    #[error("insufficient balance")]
    InsufficientBalance,
    #[error("{0}")]
    Expired(String),
    #[error("request body is larger than 64 KiB")]
    TooLarge,
    #[error("{message}")]
    RateLimited { retry_after_s: u64, message: String },
    /// 503 for a dependency other than our backends (the SMS provider); the message is ours,
    /// never the dependency's own text.
    #[error("{0}")]
    Unavailable(String),
    /// A backend (database, key-value store, queue) is down or did not answer within
    /// `backends.timeout_ms`: 503 `unavailable` with Retry-After. The health tracker logs the
    /// outage once; each request only at debug.
    #[error("the service is briefly unavailable; try again in a moment")]
    BackendDown(Backend),
    #[error("internal error")]
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for AppError {
    /// An error that reached the handler wrapped (a wallet write, a job) is still an outage
    /// when a backend failure is in its chain.
    fn from(e: anyhow::Error) -> Self {
        match backend_in_chain(&e) {
            Some(b) => {
                tracing::debug!(backend = b.as_str(), error = %format!("{e:#}"), "request failed: backend unavailable");
                Self::BackendDown(b)
            }
            None => Self::Internal(e),
        }
    }
}

/// The backend whose outage caused `e`, if one did.
fn backend_in_chain(e: &anyhow::Error) -> Option<Backend> {
    for cause in e.chain() {
        if let Some(d) = cause.downcast_ref::<BackendDown>() {
            return Some(d.0);
        }
        if let Some(d) = cause.downcast_ref::<sea_orm::DbErr>() {
            return db_unreachable(d).then_some(Backend::Sql);
        }
        if cause.downcast_ref::<crate::storage::kv::KvError>().is_some() {
            return Some(Backend::Redis);
        }
        if cause.downcast_ref::<crate::storage::queue::QueueError>().is_some() {
            return Some(Backend::Amqp);
        }
        if let Some(crate::storage::wallets::WalletError::Unavailable(_)) =
            cause.downcast_ref::<crate::storage::wallets::WalletError>()
        {
            return Some(Backend::Sql);
        }
    }
    None
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
        Self::Unauthorized(ErrorCode::Unauthorized, "log in first".into())
    }
    /// 401 with its own code (`invalid_code`) or message.
    pub fn unauthorized_as(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Unauthorized(code, message.into())
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(ErrorCode::Forbidden, message.into())
    }
    /// 403 with a code of its own: `csrf`, `no_privilege`, `banned`.
    pub fn forbidden_as(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Forbidden(code, message.into())
    }
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Conflict(code, message.into())
    }
    pub fn rate_limited(retry_after_s: u64) -> Self {
        Self::RateLimited { retry_after_s: retry_after_s.max(1), message: "too many requests; slow down".into() }
    }
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::from(e.into())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidInput { .. } => ErrorCode::InvalidInput,
            Self::Unauthorized(c, _) | Self::Forbidden(c, _) | Self::Conflict(c, _) => *c,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::InsufficientBalance => ErrorCode::InsufficientBalance,
            Self::Expired(_) => ErrorCode::Expired,
            Self::TooLarge => ErrorCode::TooLarge,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) | Self::BackendDown(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The error as an `anyhow::Error` for a job or a sweep, with its cause chain: an internal
    /// error becomes its cause (not "internal error"), an outage names the backend, any other
    /// error stays itself.
    pub fn into_anyhow(self) -> anyhow::Error {
        match self {
            Self::Internal(e) => e,
            Self::BackendDown(b) => anyhow::Error::new(BackendDown(b)),
            other => anyhow::Error::new(other),
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        Self::InvalidInput { message: e.message, field: e.field.map(str::to_owned) }
    }
}

/// Storage errors: an outage becomes `BackendDown` (503), anything else stays internal (500).
macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for AppError {
            fn from(e: $t) -> Self { Self::from(anyhow::Error::new(e)) }
        }
    )*};
}
storage_from!(
    sea_orm::DbErr,
    crate::storage::kv::KvError,
    crate::storage::queue::QueueError,
    crate::storage::idgen::IdError,
    crate::storage::wallets::WalletError,
    BackendDown
);

//! The HTTP face of `services::AppError`: status, headers and the contract's
//! `{"error": {"code", "message", "field"?}}`. Internal causes are logged, never sent.

use crate::domain::error::ErrorCode;
pub use crate::services::error::{AppError, AppResult};
use crate::storage::health::Backend;
use actix_web::{http::StatusCode, HttpResponse, ResponseError};
use serde::Serialize;

/// Every error: `{"error": {"code", "message", "field"?}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorInner,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorInner {
    /// `invalid_input`, `unauthorized`, `forbidden`, `not_found`, a conflict code, ...
    pub code: String,
    pub message: String,
    /// The field at fault, for some `invalid_input` errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub field: Option<String>,
}

/// Seconds a client should wait before retrying after a backend outage answer.
pub const BACKEND_RETRY_AFTER_S: u64 = 2;
/// Seconds before retrying after another dependency failed.
pub const UNAVAILABLE_RETRY_AFTER_S: u64 = 10;

/// What the response carries so the middleware can tell the health tracker which backend failed.
#[derive(Debug, Clone, Copy)]
pub struct FailedBackend(pub Backend);

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: ErrorCode,
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
            Self::Unavailable(_) | Self::BackendDown(_) => StatusCode::SERVICE_UNAVAILABLE,
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
        match self {
            Self::RateLimited { retry_after_s, .. } => {
                b.insert_header(("Retry-After", retry_after_s.to_string()));
            }
            Self::BackendDown(backend) => {
                b.insert_header(("Retry-After", BACKEND_RETRY_AFTER_S.to_string()));
                b.extensions_mut().insert(FailedBackend(*backend));
            }
            Self::Unavailable(_) => {
                b.insert_header(("Retry-After", UNAVAILABLE_RETRY_AFTER_S.to_string()));
            }
            _ => {}
        }
        b.json(Body { error: Inner { code: self.code(), message, field } })
    }
}

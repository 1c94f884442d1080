//! Errors of the pure rules; the HTTP layer maps them onto the contract's codes.

/// A value broke a rule of the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DomainError {
    /// The input field at fault, when there is one.
    pub field: Option<&'static str>,
    pub message: String,
}

impl DomainError {
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self { field: Some(field), message: message.into() }
    }
}

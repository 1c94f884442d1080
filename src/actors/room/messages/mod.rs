//! The room's messages, one struct each, and their handlers, by concept: a viewer's socket
//! (`socket`), the anchor's and admins' moderation (`moderation`), what happens beside the
//! room (`effects`: events, PK and rain, gifts, stock), and operations (`ops`: counts, faults).
//!
//! Commands that hold plain data derive `Serialize + Deserialize`, so a later change can carry
//! them between processes. `Join` does not: it carries the socket's handle (its queue and kill
//! switch), which only means something in this process.

mod effects;
mod moderation;
mod ops;
mod socket;

pub use effects::*;
pub use moderation::*;
pub use ops::*;
pub use socket::*;

/// Why a room refused a command; `code` is the contract's error code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    pub code: crate::domain::error::ErrorCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl Refusal {
    fn new(code: crate::domain::error::ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None }
    }
}

/// Runs a command's handler, counting it and its latency.
pub(super) fn timed<T>(kind: &'static str, f: impl FnOnce() -> T) -> T {
    let t = std::time::Instant::now();
    let r = f();
    crate::metrics::COMMANDS.with_label_values(&[kind]).inc();
    crate::metrics::COMMAND_LATENCY.observe(t.elapsed().as_secs_f64());
    r
}

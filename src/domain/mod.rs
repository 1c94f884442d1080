//! Pure rules and types: no I/O, no actix. Input is parsed into these types at the edge.

pub mod chat;
pub mod cluster;
pub mod error;
pub mod events;
pub mod money;
pub mod order;
pub mod paging;
pub mod pk;
pub mod product;
pub mod ratelimit;
pub mod redpacket;
pub mod review;
pub mod room;
pub mod status;
pub mod user;

pub use error::{DomainError, ErrorCode};
pub use status::Status;

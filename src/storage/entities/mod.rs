//! sea-orm entities, one file per table. Times are milliseconds since the Unix epoch (UTC).

pub mod delayed_jobs;
pub mod id_segments;
pub mod trades;
pub mod users;
pub mod wallets;

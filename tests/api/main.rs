//! Integration tests: the real app on a random port (see `helpers`), one binary for speed.

// Tests fail loudly: unwrap and expect are how they say what they expected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod proxy;
mod ws_client;

mod auth;
mod cluster;
mod cluster_processes;
mod commerce;
mod gifts;
mod income;
mod money;
mod ops;
mod outage;
mod persist;
mod pk;
mod rain;
mod realtime;
mod rooms;
mod storage;
mod ws_transport;

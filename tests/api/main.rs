//! Integration tests: the real app on a random port (see `helpers`), one binary for speed.

mod helpers;
mod ws_client;

mod auth;
mod commerce;
mod money;
mod ops;
mod persist;
mod pk;
mod rain;
mod realtime;
mod rooms;
mod storage;

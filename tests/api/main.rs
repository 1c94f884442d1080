//! Integration tests: the real app on a random port (see `helpers`), one binary for speed.

mod helpers;

mod auth;
mod ops;

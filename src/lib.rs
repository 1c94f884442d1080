//! Liveroom: the interaction server of a live-streaming platform. One binary; every live room
//! is an actix actor. See DESIGN.md for the shape and API.md for the contract.

pub mod actors;
pub mod clock;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod services;
pub mod settings;
pub mod shutdown;
pub mod startup;
pub mod storage;
pub mod telemetry;

//! Prometheus metrics, served as text at `/metrics`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::sync::LazyLock;

pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

fn reg<T: prometheus::core::Collector + Clone + 'static>(c: T) -> T {
    // Registration only fails on a duplicate name, which is a programming error caught by tests.
    if let Err(e) = REGISTRY.register(Box::new(c.clone())) {
        tracing::error!(error = %e, "metric registration failed");
    }
    c
}

const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

pub static HTTP_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    reg(IntCounterVec::new(
        Opts::new("liveroom_http_requests_total", "HTTP requests by route and status"),
        &["method", "route", "status"],
    )
    .unwrap_or_else(|_| unreachable!()))
});

pub static HTTP_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    reg(HistogramVec::new(
        HistogramOpts::new("liveroom_http_request_duration_seconds", "HTTP latency by route")
            .buckets(LATENCY_BUCKETS.to_vec()),
        &["route"],
    )
    .unwrap_or_else(|_| unreachable!()))
});

pub static WS_CONNECTIONS: LazyLock<IntGauge> = LazyLock::new(|| {
    reg(IntGauge::new("liveroom_ws_connections", "Open WebSocket connections").unwrap_or_else(|_| unreachable!()))
});

pub static ROOMS: LazyLock<IntGauge> = LazyLock::new(|| {
    reg(IntGauge::new("liveroom_rooms_active", "Room actors running").unwrap_or_else(|_| unreachable!()))
});

pub static FRAMES_OUT: LazyLock<IntCounter> = LazyLock::new(|| {
    reg(IntCounter::new("liveroom_ws_frames_out_total", "Frames queued to sockets").unwrap_or_else(|_| unreachable!()))
});

pub static SLOW_CLOSES: LazyLock<IntCounter> = LazyLock::new(|| {
    reg(IntCounter::new("liveroom_ws_slow_closes_total", "Sockets closed with 4001 because their queue was full")
        .unwrap_or_else(|_| unreachable!()))
});

pub static COMMANDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    reg(IntCounterVec::new(Opts::new("liveroom_room_commands_total", "Room commands by kind"), &["kind"])
        .unwrap_or_else(|_| unreachable!()))
});

pub static COMMAND_LATENCY: LazyLock<Histogram> = LazyLock::new(|| {
    reg(Histogram::with_opts(
        HistogramOpts::new("liveroom_room_command_seconds", "Time a room actor spends on one command")
            .buckets(LATENCY_BUCKETS.to_vec()),
    )
    .unwrap_or_else(|_| unreachable!()))
});

pub static QUEUE_DEPTH: LazyLock<IntGauge> = LazyLock::new(|| {
    reg(IntGauge::new("liveroom_ws_queue_depth_max", "Deepest per-socket queue seen at the last sample")
        .unwrap_or_else(|_| unreachable!()))
});

pub static JOBS_RUN: LazyLock<IntCounterVec> = LazyLock::new(|| {
    reg(IntCounterVec::new(Opts::new("liveroom_jobs_run_total", "Delay-queue jobs run by kind"), &["kind"])
        .unwrap_or_else(|_| unreachable!()))
});

pub static BACKEND_UP: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    reg(IntGaugeVec::new(
        Opts::new("liveroom_backend_up", "1 while the backend answers, 0 while it is down"),
        &["backend"],
    )
    .unwrap_or_else(|_| unreachable!()))
});

pub static BACKEND_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    reg(IntCounterVec::new(
        Opts::new("liveroom_backend_failures_total", "Backend calls and probes that found the backend unreachable"),
        &["backend"],
    )
    .unwrap_or_else(|_| unreachable!()))
});

/// Touches every metric so that `/metrics` lists them all from the start.
pub fn init() {
    LazyLock::force(&HTTP_REQUESTS);
    LazyLock::force(&HTTP_LATENCY);
    LazyLock::force(&WS_CONNECTIONS);
    LazyLock::force(&ROOMS);
    LazyLock::force(&FRAMES_OUT);
    LazyLock::force(&SLOW_CLOSES);
    for kind in ["chat", "like", "gift", "join", "leave"] {
        COMMANDS.with_label_values(&[kind]);
    }
    LazyLock::force(&COMMAND_LATENCY);
    LazyLock::force(&QUEUE_DEPTH);
    JOBS_RUN.with_label_values(&["notice_retry"]);
    for b in ["sql", "redis", "amqp"] {
        BACKEND_FAILURES.with_label_values(&[b]);
        BACKEND_UP.with_label_values(&[b]);
    }
}

pub fn render() -> String {
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&REGISTRY.gather(), &mut buf) {
        tracing::error!(error = %e, "metrics encoding failed");
    }
    String::from_utf8(buf).unwrap_or_default()
}

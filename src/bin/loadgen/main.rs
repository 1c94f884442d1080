//! `loadgen`: drives one Liveroom room over real WebSockets (issue 4, real-time path).
//!
//! The coordinator (default mode) logs users in, opens a room, spawns K worker processes of
//! itself (`--worker`), each holding its share of the V viewers on sockets bound to
//! 127.0.0.(2+k) (so no process nears its 20,000 open-file limit and no source address runs
//! out of ports), then opens S sender sockets that chat at R messages a second in total for D
//! seconds. Every chat text carries `t=<unix micros>` of its send; viewers read it back to get
//! send-to-receive latency (all processes share the machine clock). At the end it prints
//! delivered frames/s, lost frames per viewer (expected seqs minus received), latency
//! percentiles, the time to connect every viewer, and the server's CPU and memory read from
//! /proc/<pid>.
//!
//! Users: V viewer sockets are spread round-robin over U users (default V/20, so a few hundred
//! users with ~20 sockets each; every socket gets its own one-use ticket from `/im`). Users log
//! in 32 at a time before the clock for "connect" starts.
//!
//! ```text
//! loadgen --addr 127.0.0.1:18080 --viewers 10000 --senders 10 --rate 50 --duration 10 --workers 4
//! loadgen --addr 127.0.0.1:18080 --viewers 15000 --idle          # connect time and memory only
//! loadgen --relay --listen 127.0.0.1:18090                          # the reference relay (`relay`)
//! loadgen --bare --addr 127.0.0.1:18090 --viewers 10000 --rate 50   # the same run against it
//! loadgen --addr 127.0.0.1:18080 --viewers 1000 --rate 20 --gifts 5000 --gifters 50   # gifts too
//! ```
//! `--gifts G --gifters N`: N users (6,480 coins each) send G roses a second in all over HTTP
//! during the run, one request at a time each; every viewer should see every paid gift. Gift
//! latency is from the gift's commit (`at` in its frame) to the viewer's receipt; the request
//! time (send to 200) is reported apart.
//! Flags: --addr, --nodes A,B,C (a cluster: viewers spread over the nodes), --viewers V, --users U, --senders S, --rate R (chats/s, all senders),
//! --duration D (s, at most 30), --workers K, --conc C (connects in flight per worker),
//! --grace G (s to wait for stragglers after the last send), --server-pid P (default: the
//! process listening on the port), --idle, --settle (s before the idle RSS reading), --bare (the target is `loadgen --relay`: no
//! logins, rooms or tickets).
//! Only 127.0.0.x targets are accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod args;
mod coordinator;
mod frames;
mod hist;
mod net;
mod procfs;
mod relay;
mod sender;
mod worker;

use args::Args;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

fn main() {
    let a = Args::parse();
    if a.flag("relay") {
        relay::relay(&a);
    } else if a.flag("worker") {
        worker::worker(&a);
    } else {
        coordinator::coordinator(&a);
    }
}

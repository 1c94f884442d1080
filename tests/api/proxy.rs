//! A TCP proxy the fault tests put between the app and one backend, so they can cut it (drop
//! every connection and refuse new ones) and restore it without touching the shared server.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub struct CutProxy {
    pub port: u16,
    inner: Arc<Inner>,
    accept: AbortHandle,
}

struct Inner {
    upstream: String,
    cut: AtomicBool,
    /// The pipes of open connections, aborted (their sockets closed) by `cut`.
    pipes: Mutex<Vec<AbortHandle>>,
    /// Connections refused while cut.
    pub refused: AtomicU64,
}

impl CutProxy {
    /// Listens on a free local port and forwards to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Inner {
            upstream: upstream.to_owned(),
            cut: AtomicBool::new(false),
            pipes: Mutex::new(Vec::new()),
            refused: AtomicU64::new(0),
        });
        let i = inner.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                if i.cut.load(Ordering::Acquire) {
                    i.refused.fetch_add(1, Ordering::Relaxed);
                    drop(client);
                    continue;
                }
                let up = i.upstream.clone();
                let pipe = tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&up).await else { return };
                    let _ = server.set_nodelay(true);
                    let _ = client.set_nodelay(true);
                    let mut client = client;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                let mut pipes = i.pipes.lock();
                pipes.retain(|p| !p.is_finished());
                pipes.push(pipe.abort_handle());
            }
        })
        .abort_handle();
        Self { port, inner, accept }
    }

    /// `url` with its port replaced by the proxy's (`...@127.0.0.1:5432/db` → this port).
    pub fn url(&self, url: &str, upstream_port: u16) -> String {
        url.replacen(&format!("127.0.0.1:{upstream_port}"), &format!("127.0.0.1:{}", self.port), 1)
    }

    /// Drops every open connection and refuses new ones until `restore`.
    pub fn cut(&self) {
        self.inner.cut.store(true, Ordering::Release);
        for p in self.inner.pipes.lock().drain(..) {
            p.abort();
        }
    }

    pub fn restore(&self) {
        self.inner.cut.store(false, Ordering::Release);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        for p in self.inner.pipes.lock().drain(..) {
            p.abort();
        }
    }
}

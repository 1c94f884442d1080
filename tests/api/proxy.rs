//! A TCP proxy the fault tests put between the app and one backend, so they can cut it (drop
//! every connection and refuse new ones), blackhole it (keep every connection open but pass no
//! byte either way, as a network partition does) and restore it, without touching the shared
//! server.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

pub struct CutProxy {
    pub port: u16,
    inner: Arc<Inner>,
    accept: AbortHandle,
}

struct Inner {
    upstream: String,
    cut: AtomicBool,
    /// True while blackholed: pipes hold their bytes.
    hole: watch::Sender<bool>,
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
            hole: watch::channel(false).0,
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
                let hole = i.hole.subscribe();
                let pipe = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&up).await else { return };
                    let _ = server.set_nodelay(true);
                    let _ = client.set_nodelay(true);
                    pipe(client, server, hole).await;
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

    /// Keeps every connection open and accepts new ones, but passes nothing until `restore`.
    pub fn blackhole(&self) {
        self.inner.hole.send_replace(true);
    }

    pub fn restore(&self) {
        self.inner.cut.store(false, Ordering::Release);
        self.inner.hole.send_replace(false);
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

/// Copies both ways until either side closes; while `hole` is true, reads nothing (the bytes
/// wait in the kernel's buffers, as behind a partition).
async fn pipe(mut client: TcpStream, mut server: TcpStream, mut hole: watch::Receiver<bool>) {
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    loop {
        if *hole.borrow_and_update() {
            if hole.changed().await.is_err() {
                return;
            }
            continue;
        }
        tokio::select! {
            r = client.read(&mut up) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => if server.write_all(&up[..n]).await.is_err() { return },
            },
            r = server.read(&mut down) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => if client.write_all(&down[..n]).await.is_err() { return },
            },
            c = hole.changed() => if c.is_err() { return },
        }
    }
}

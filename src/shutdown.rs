//! Graceful shutdown, after mini-redis: one signal that every connection task listens to, and a
//! count of the listeners still alive, which the server waits for (bounded) before it stops.
//! A WebSocket task holds a `Listener` from its handshake to its last frame; when the signal
//! fires it closes its socket with 1001 and ends, dropping the listener.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The app's shutdown signal (cloned into the app state).
#[derive(Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self { tx: Arc::new(watch::Sender::new(false)) }
    }
}

impl Shutdown {
    /// Fires the signal; only the first call does anything. Answers whether this call fired it.
    pub fn trigger(&self) -> bool {
        !self.tx.send_replace(true)
    }

    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// A listener for one task: it hears the signal (also one fired before it was made), and
    /// `drained` waits for it to be dropped.
    pub fn listen(&self) -> Listener {
        Listener { rx: self.tx.subscribe() }
    }

    /// Listeners not dropped yet.
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Waits until every listener is dropped, for at most `limit`; true when they all were.
    pub async fn drained(&self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.tx.closed()).await.is_ok()
    }
}

/// One task's end of the signal.
pub struct Listener {
    rx: watch::Receiver<bool>,
}

impl Listener {
    pub fn is_shutdown(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once the signal fires (at once if it already has). The future owns its own
    /// receiver, so a select loop can create it once and poll it across turns.
    pub fn fired(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.rx.clone();
        async move {
            // An error means the sender is gone: the app is, too.
            let _ = rx.wait_for(|fired| *fired).await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listeners_hear_the_signal_and_drained_waits_for_them() {
        let s = Shutdown::default();
        let early = s.listen();
        assert!(!early.is_shutdown());
        assert!(!s.drained(Duration::from_millis(10)).await, "a listener is alive");
        let fired = early.fired();
        assert!(s.trigger());
        assert!(!s.trigger(), "only the first call fires");
        fired.await;
        // A listener made after the signal hears it at once.
        let late = s.listen();
        late.fired().await;
        assert!(late.is_shutdown());
        assert_eq!(s.listeners(), 2);
        drop(early);
        drop(late);
        assert!(s.drained(Duration::from_millis(10)).await);
    }
}

//! Backend state: whether the SQL database, Redis and RabbitMQ are reachable right now.
//!
//! Every call to a backend reports its outcome here. The first failure of a backend that was up
//! marks it down and logs one line; while it is down, callers fail fast (503 with Retry-After)
//! instead of each waiting out a timeout. Two things look for its return: a prober in the
//! background with backoff (for when nothing is asking), and the requests themselves: while it
//! is down, one request at a time (at most one every `TRIAL_SPACING`) runs the probe before it is
//! refused, so the first request after the backend returns finds it back instead of waiting for
//! the prober's next turn (a half-open circuit breaker). The probe that succeeds marks it up again
//! and logs one line with how long it was gone. The
//! `liveroom_backend_up` gauge and `liveroom_backend_failures_total` counter follow in `/metrics`.
//! One tracker per app (tests run several apps in one process, each with its own backends).

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// A backend the app depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sql,
    Redis,
    Amqp,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Sql, Backend::Redis, Backend::Amqp];

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sql => "sql",
            Backend::Redis => "redis",
            Backend::Amqp => "amqp",
        }
    }

    fn idx(self) -> usize {
        self as usize
    }
}

/// Returned by a call that was not even tried because its backend is known to be down.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("{} is unavailable", .0.as_str())]
pub struct BackendDown(pub Backend);

/// Answers Ok when the backend is reachable (a PING, a `SELECT 1`, a channel).
pub type Probe = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// First delay between probes of a backend that is down; it doubles up to `PROBE_MAX`.
const PROBE_MIN: Duration = Duration::from_millis(100);
const PROBE_MAX: Duration = Duration::from_secs(1);
/// While a backend is down, requests run the probe themselves at most this often (one at a
/// time): a refused connection costs little, but a backend that is starting up should not meet
/// one connection attempt per request.
const TRIAL_SPACING: Duration = Duration::from_millis(25);

#[derive(Default)]
struct State {
    /// When it went down; None while up.
    down_since: Option<Instant>,
}

struct Slot {
    up: AtomicBool,
    state: Mutex<State>,
    probe: Mutex<Option<Probe>>,
    /// A prober task is running for this backend.
    probing: AtomicBool,
    /// A request is running the probe (half-open trial).
    trial: AtomicBool,
    /// When the last trial started, in ms since `Inner::epoch`.
    last_trial_ms: AtomicU64,
    failures: AtomicU64,
    /// Up→down and down→up changes, each logged once (tests bound the log with it).
    transitions: AtomicU64,
}

struct Inner {
    slots: [Slot; 3],
    timeout: Duration,
    epoch: Instant,
}

/// Shared by every clone; cheap to clone.
#[derive(Clone)]
pub struct BackendHealth {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BackendHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("BackendHealth");
        for b in Backend::ALL {
            d.field(b.as_str(), &self.is_up(b));
        }
        d.finish()
    }
}

impl Default for BackendHealth {
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

impl BackendHealth {
    /// `timeout` bounds every backend call and probe (`backends.timeout_ms`).
    pub fn new(timeout: Duration) -> Self {
        let slot = || Slot {
            up: AtomicBool::new(true),
            state: Mutex::new(State::default()),
            probe: Mutex::new(None),
            probing: AtomicBool::new(false),
            trial: AtomicBool::new(false),
            last_trial_ms: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            transitions: AtomicU64::new(0),
        };
        for b in Backend::ALL {
            crate::metrics::BACKEND_UP.with_label_values(&[b.as_str()]).set(1);
            crate::metrics::BACKEND_FAILURES.with_label_values(&[b.as_str()]);
        }
        Self {
            inner: Arc::new(Inner {
                slots: [slot(), slot(), slot()],
                timeout: timeout.max(Duration::from_millis(1)),
                epoch: Instant::now(),
            }),
        }
    }

    /// The bound on one backend call.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// How to check `b` while it is down.
    pub fn set_probe(&self, b: Backend, probe: Probe) {
        *self.slot(b).probe.lock() = Some(probe);
    }

    fn slot(&self, b: Backend) -> &Slot {
        &self.inner.slots[b.idx()]
    }

    pub fn is_up(&self, b: Backend) -> bool {
        self.slot(b).up.load(Ordering::Acquire)
    }

    /// Err without trying when `b` is known to be down.
    pub fn admit(&self, b: Backend) -> Result<(), BackendDown> {
        if self.is_up(b) {
            Ok(())
        } else {
            Err(BackendDown(b))
        }
    }

    /// Like `admit`, but while `b` is down one caller at a time (at most one every
    /// `TRIAL_SPACING`) runs the probe first, bounded by the timeout, and goes ahead when it
    /// answers: the half-open trial that lets the first request after a return succeed.
    pub async fn admit_or_try(&self, b: Backend) -> Result<(), BackendDown> {
        if self.is_up(b) {
            return Ok(());
        }
        let slot = self.slot(b);
        let now_ms = self.inner.epoch.elapsed().as_millis() as u64;
        let last = slot.last_trial_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < TRIAL_SPACING.as_millis() as u64 && last != 0 {
            return Err(BackendDown(b));
        }
        let Some(probe) = slot.probe.lock().clone() else { return Err(BackendDown(b)) };
        if slot.trial.swap(true, Ordering::AcqRel) {
            return Err(BackendDown(b));
        }
        slot.last_trial_ms.store(now_ms.max(1), Ordering::Relaxed);
        let ok = matches!(tokio::time::timeout(self.inner.timeout, probe()).await, Ok(Ok(())));
        slot.trial.store(false, Ordering::Release);
        if ok {
            self.success(b);
            Ok(())
        } else if self.is_up(b) {
            // The prober (or another call) found it back meanwhile.
            Ok(())
        } else {
            slot.failures.fetch_add(1, Ordering::Relaxed);
            crate::metrics::BACKEND_FAILURES.with_label_values(&[b.as_str()]).inc();
            Err(BackendDown(b))
        }
    }

    /// Something that needed `b` took far longer than it should (a request past its deadline):
    /// probe `b` now, and mark it down if the probe does not answer within the timeout. Load
    /// alone does not mark a backend down; a backend that stopped answering does.
    pub async fn suspect(&self, b: Backend) {
        if !self.is_up(b) {
            return;
        }
        let Some(probe) = self.slot(b).probe.lock().clone() else { return };
        match tokio::time::timeout(self.inner.timeout, probe()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.failure(b, &e),
            Err(_) => self.failure(b, &format_args!("no answer within {} ms", self.inner.timeout.as_millis())),
        }
    }

    /// Failures seen so far (calls, probes).
    pub fn failures(&self, b: Backend) -> u64 {
        self.slot(b).failures.load(Ordering::Relaxed)
    }

    /// Up/down changes so far; each wrote one log line.
    pub fn transitions(&self, b: Backend) -> u64 {
        self.slot(b).transitions.load(Ordering::Relaxed)
    }

    /// A call to `b` succeeded.
    pub fn success(&self, b: Backend) {
        if self.is_up(b) {
            return;
        }
        let slot = self.slot(b);
        let mut st = slot.state.lock();
        let Some(since) = st.down_since.take() else { return };
        slot.up.store(true, Ordering::Release);
        slot.transitions.fetch_add(1, Ordering::Relaxed);
        crate::metrics::BACKEND_UP.with_label_values(&[b.as_str()]).set(1);
        let down_ms = since.elapsed().as_millis() as u64;
        tracing::info!(backend = b.as_str(), down_ms, "backend is back after {:.1} s", down_ms as f64 / 1000.0);
    }

    /// A call to `b` failed in a way that says the backend is unreachable (connection lost or
    /// refused, timed out), not a bad query. Marks it down on the first such failure.
    pub fn failure(&self, b: Backend, why: &dyn std::fmt::Display) {
        let slot = self.slot(b);
        slot.failures.fetch_add(1, Ordering::Relaxed);
        crate::metrics::BACKEND_FAILURES.with_label_values(&[b.as_str()]).inc();
        if self.is_up(b) {
            let mut st = slot.state.lock();
            if st.down_since.is_none() {
                st.down_since = Some(Instant::now());
                slot.up.store(false, Ordering::Release);
                slot.transitions.fetch_add(1, Ordering::Relaxed);
                crate::metrics::BACKEND_UP.with_label_values(&[b.as_str()]).set(0);
                tracing::warn!(backend = b.as_str(), error = %why, "backend is down; answering 503 until it is back");
            }
        }
        tracing::debug!(backend = b.as_str(), error = %why, "backend call failed");
        self.spawn_prober(b);
    }

    /// Runs `fut` against `b`: fails fast while `b` is down, bounds it by the timeout, and
    /// reports the outcome. `unreachable` tells an outage (reported) from an ordinary error
    /// such as a bad query (passed through, `b` stays up).
    pub async fn call<T, E>(
        &self,
        b: Backend,
        fut: impl std::future::Future<Output = Result<T, E>>,
        unreachable: impl FnOnce(&E) -> bool,
    ) -> Result<T, CallError<E>>
    where
        E: std::fmt::Display,
    {
        self.admit_or_try(b).await.map_err(CallError::Down)?;
        match tokio::time::timeout(self.inner.timeout, fut).await {
            Ok(Ok(v)) => {
                self.success(b);
                Ok(v)
            }
            Ok(Err(e)) => {
                if unreachable(&e) {
                    self.failure(b, &e);
                }
                Err(CallError::Failed(e))
            }
            Err(_) => {
                self.failure(b, &format_args!("no answer within {} ms", self.inner.timeout.as_millis()));
                Err(CallError::Down(BackendDown(b)))
            }
        }
    }

    /// Probes `b` with backoff until it answers; one prober per backend at a time.
    fn spawn_prober(&self, b: Backend) {
        let slot = self.slot(b);
        if slot.probe.lock().is_none() || slot.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            slot.probing.store(false, Ordering::Release);
            return;
        };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        rt.spawn(async move {
            let mut wait = PROBE_MIN;
            loop {
                tokio::time::sleep(wait).await;
                let Some(inner) = weak.upgrade() else { return };
                let me = BackendHealth { inner };
                let slot = me.slot(b);
                let probe = slot.probe.lock().clone();
                let Some(probe) = probe else {
                    slot.probing.store(false, Ordering::Release);
                    return;
                };
                let ok = matches!(tokio::time::timeout(me.inner.timeout, probe()).await, Ok(Ok(())));
                if ok {
                    slot.probing.store(false, Ordering::Release);
                    me.success(b);
                    return;
                }
                slot.failures.fetch_add(1, Ordering::Relaxed);
                crate::metrics::BACKEND_FAILURES.with_label_values(&[b.as_str()]).inc();
                if me.is_up(b) {
                    // A call succeeded meanwhile.
                    slot.probing.store(false, Ordering::Release);
                    return;
                }
                wait = (wait * 2).min(PROBE_MAX);
            }
        });
    }
}

/// The outcome of a failed `BackendHealth::call`.
#[derive(Debug)]
pub enum CallError<E> {
    /// Not tried (the backend is down) or not answered in time.
    Down(BackendDown),
    /// The backend answered with an error.
    Failed(E),
}

impl<E: std::fmt::Display> std::fmt::Display for CallError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Down(d) => d.fmt(f),
            CallError::Failed(e) => e.fmt(f),
        }
    }
}

/// Whether a database error says the server is unreachable (not a bad query or a conflict).
pub fn db_unreachable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    let sqlx_down = |e: &sea_orm::sqlx::Error| {
        use sea_orm::sqlx::Error as S;
        matches!(e, S::Io(_) | S::Tls(_) | S::PoolTimedOut | S::PoolClosed | S::WorkerCrashed | S::Protocol(_))
    };
    match e {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(s))
        | DbErr::Exec(RuntimeErr::SqlxError(s))
        | DbErr::Query(RuntimeErr::SqlxError(s)) => sqlx_down(s),
        DbErr::Conn(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests;

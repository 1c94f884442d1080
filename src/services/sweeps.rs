//! The periodic sweeps: PKs and rains whose timer or close failed are finished by a pass that
//! runs every `pk.sweep_interval_s` / `rain.sweep_interval_s`. One loop for both.

use super::Services;
use futures_util::future::LocalBoxFuture;
use std::time::Duration;

/// Runs `pass` every `interval` until the task is dropped; a failed pass is logged and tried
/// again next time.
pub async fn every(
    what: &'static str,
    interval: Duration,
    pass: impl Fn() -> LocalBoxFuture<'static, anyhow::Result<()>>,
) {
    let interval = interval.max(Duration::from_secs(1));
    loop {
        tokio::time::sleep(interval).await;
        if let Err(e) = pass().await {
            tracing::warn!(sweep = what, error = %format!("{e:#}"), "sweep failed; trying again later");
        }
    }
}

/// Starts the PK and rain sweeps on the current runtime; abort the handles to stop them.
pub fn start(svc: &Services) -> Vec<tokio::task::JoinHandle<()>> {
    let pk = svc.clone();
    let rain = svc.clone();
    vec![
        actix::spawn(every("pk", Duration::from_secs(svc.settings.pk.sweep_interval_s), move || {
            let svc = pk.clone();
            Box::pin(async move { super::pk::periodic_sweep(&svc).await })
        })),
        actix::spawn(every("rain", Duration::from_secs(svc.settings.rain.sweep_interval_s), move || {
            let svc = rain.clone();
            Box::pin(async move { super::rain::periodic_sweep(&svc).await })
        })),
    ]
}

/// At start-up: whatever came due while the server was down (PKs, rains, orders) finishes.
pub async fn at_start(svc: &Services) -> anyhow::Result<()> {
    super::pk::sweep(svc).await?;
    super::rain::sweep(svc).await?;
    super::orders::sweep(svc).await
}

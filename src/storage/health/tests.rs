//! The tracker's transitions, the half-open trial and the suspect probe.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// A probe that answers while `up` is set and is refused otherwise.
fn refused_unless(up: Arc<AtomicBool>) -> Probe {
    Arc::new(move || {
        let up = up.clone();
        Box::pin(async move {
            if up.load(Ordering::Relaxed) {
                Ok(())
            } else {
                Err("refused".into())
            }
        })
    })
}

#[tokio::test]
async fn one_transition_each_way_however_many_failures() {
    let h = BackendHealth::new(Duration::from_millis(50));
    let up = Arc::new(AtomicBool::new(false));
    let u = up.clone();
    h.set_probe(Backend::Redis, refused_unless(u));
    for _ in 0..100 {
        h.failure(Backend::Redis, &"refused");
    }
    assert!(!h.is_up(Backend::Redis));
    assert!(h.admit(Backend::Redis).is_err());
    assert!(h.is_up(Backend::Sql));
    assert_eq!(h.transitions(Backend::Redis), 1);
    up.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !h.is_up(Backend::Redis) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(h.is_up(Backend::Redis));
    assert_eq!(h.transitions(Backend::Redis), 2);
}

#[tokio::test]
async fn a_call_past_the_bound_is_a_failure() {
    let h = BackendHealth::new(Duration::from_millis(20));
    let r: Result<(), CallError<String>> = h
        .call(
            Backend::Amqp,
            async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<(), String>(())
            },
            |_| true,
        )
        .await;
    assert!(matches!(r, Err(CallError::Down(_))));
    assert!(!h.is_up(Backend::Amqp));
    let r = h.call(Backend::Amqp, async { Ok::<(), String>(()) }, |_| true).await;
    assert!(matches!(r, Err(CallError::Down(_))), "fails fast while down");
}

#[tokio::test]
async fn the_first_call_after_a_return_goes_through_without_waiting_for_the_prober() {
    let h = BackendHealth::new(Duration::from_millis(200));
    let up = Arc::new(AtomicBool::new(false));
    let probes = Arc::new(AtomicU64::new(0));
    let (u, n) = (up.clone(), probes.clone());
    h.set_probe(
        Backend::Sql,
        Arc::new(move || {
            let (u, n) = (u.clone(), n.clone());
            Box::pin(async move {
                n.fetch_add(1, Ordering::Relaxed);
                if u.load(Ordering::Relaxed) {
                    Ok(())
                } else {
                    Err("refused".into())
                }
            })
        }),
    );
    h.failure(Backend::Sql, &"refused");
    // Down: a trial runs the probe and is refused; the next one within the spacing is
    // refused without probing.
    assert!(h.admit_or_try(Backend::Sql).await.is_err());
    let after_first = probes.load(Ordering::Relaxed);
    assert!(after_first >= 1);
    assert!(h.admit_or_try(Backend::Sql).await.is_err());
    assert!(probes.load(Ordering::Relaxed) <= after_first + 1, "the prober may have run once");
    // Back: the next trial (past the spacing) finds it, long before the prober's 1 s turn.
    up.store(true, Ordering::Relaxed);
    tokio::time::sleep(TRIAL_SPACING + Duration::from_millis(5)).await;
    let r: Result<u8, CallError<String>> = h.call(Backend::Sql, async { Ok(7) }, |_| true).await;
    assert!(matches!(r, Ok(7)), "{r:?}");
    assert!(h.is_up(Backend::Sql));
    assert_eq!(h.transitions(Backend::Sql), 2);
}

#[tokio::test]
async fn a_suspect_backend_is_marked_down_only_when_its_probe_fails() {
    let h = BackendHealth::new(Duration::from_millis(50));
    let up = Arc::new(AtomicBool::new(true));
    let u = up.clone();
    h.set_probe(
        Backend::Sql,
        Arc::new(move || {
            let u = u.clone();
            Box::pin(async move {
                if u.load(Ordering::Relaxed) {
                    Ok(())
                } else {
                    // A blackhole: no answer at all.
                    std::future::pending::<()>().await;
                    Ok(())
                }
            })
        }),
    );
    h.suspect(Backend::Sql).await;
    assert!(h.is_up(Backend::Sql), "slow but answering is load, not an outage");
    up.store(false, Ordering::Relaxed);
    h.suspect(Backend::Sql).await;
    assert!(!h.is_up(Backend::Sql));
}

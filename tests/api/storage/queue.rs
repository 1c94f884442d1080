//! The delay queue: work scheduled before a restart runs after it, a duplicate delivery does its
//! work once, a failed job is retried later, and jobs that fell due while no consumer ran all run
//! once one starts. The handler credits a wallet the way DESIGN.md asks every consumer to be
//! idempotent: the trade's unique `(kind, ref)` makes a second delivery roll back.

use super::eventually;
use crate::helpers::{backend_sets, spawn_app, BackendSet, Storage, TestApp, AMQP_URL};
use liveroom::clock::now_ms;
use liveroom::http::AppState;
use liveroom::startup::{AppHandle, Application};
use liveroom::storage::entities::{delayed_jobs as dj, trades, wallets};
use liveroom::storage::idgen::IdGen;
use liveroom::storage::queue::{Job, JobHandler, JobRouter};
use liveroom::storage::Backends;
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, TransactionTrait,
};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KIND: &str = "test_credit";

/// Credits `payload.amount` coins to `payload.user` once per job id. The first `fail_first`
/// deliveries of each job fail on purpose. Every delivery is recorded with when it started,
/// and again when it finished, so a test can wait until no work is in flight.
struct Credit {
    db: DatabaseConnection,
    ids: IdGen,
    fail_first: usize,
    runs: Mutex<Vec<(String, i64)>>,
    finished: Mutex<Vec<String>>,
}

impl Credit {
    fn new(b: &Backends, fail_first: usize) -> Arc<Self> {
        Arc::new(Self {
            db: b.db.clone(),
            ids: b.ids.clone(),
            fail_first,
            runs: Mutex::new(Vec::new()),
            finished: Mutex::new(Vec::new()),
        })
    }

    fn runs(&self) -> Vec<(String, i64)> {
        self.runs.lock().unwrap().clone()
    }

    fn runs_of(&self, job_id: &str) -> Vec<i64> {
        self.runs().into_iter().filter(|(id, _)| id == job_id).map(|(_, at)| at).collect()
    }

    fn finished_of(&self, job_id: &str) -> usize {
        self.finished.lock().unwrap().iter().filter(|id| *id == job_id).count()
    }
}

#[async_trait::async_trait]
impl JobHandler for Credit {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        let attempt = {
            let mut runs = self.runs.lock().unwrap();
            runs.push((job.id.clone(), now_ms()));
            runs.iter().filter(|(id, _)| *id == job.id).count()
        };
        let res = if attempt <= self.fail_first {
            Err(anyhow::anyhow!("planned failure {attempt} of {}", self.fail_first))
        } else {
            credit_once(&self.db, &self.ids, job).await
        };
        self.finished.lock().unwrap().push(job.id.clone());
        res
    }
}

async fn credit_once(db: &DatabaseConnection, ids: &IdGen, job: &Job) -> anyhow::Result<()> {
    let user = job.payload["user"].as_i64().ok_or_else(|| anyhow::anyhow!("no user"))?;
    let amount = job.payload["amount"].as_i64().ok_or_else(|| anyhow::anyhow!("no amount"))?;
    let trade_id = ids.next("trade").await?;
    let job_id = job.id.clone();
    let res = db
        .transaction::<_, (), DbErr>(|tx| {
            Box::pin(async move {
                wallets::Entity::update_many()
                    .col_expr(wallets::Column::Balance, Expr::col(wallets::Column::Balance).add(amount))
                    .filter(wallets::Column::UserId.eq(user))
                    .exec(tx)
                    .await?;
                let balance = wallets::Entity::find_by_id(user).one(tx).await?.map_or(0, |w| w.balance);
                trades::Entity::insert(trades::ActiveModel {
                    id: Set(trade_id),
                    user_id: Set(user),
                    kind: Set(KIND.into()),
                    r#ref: Set(job_id),
                    amount: Set(amount),
                    balance_after: Set(balance),
                    created_at: Set(now_ms()),
                    note: Set(None),
                })
                .exec(tx)
                .await?;
                Ok(())
            })
        })
        .await;
    match res {
        Ok(()) => Ok(()),
        // The unique (kind, ref) refused a second credit: the work was done before.
        Err(_) if trade_count(db, Some(&job.id)).await? == 1 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn trade_count(db: &DatabaseConnection, job_id: Option<&str>) -> Result<u64, DbErr> {
    let mut q = trades::Entity::find().filter(trades::Column::Kind.eq(KIND));
    if let Some(id) = job_id {
        q = q.filter(trades::Column::Ref.eq(id));
    }
    q.count(db).await
}

async fn new_wallet(db: &DatabaseConnection, ids: &IdGen) -> i64 {
    let user = ids.next("user").await.unwrap();
    wallets::Entity::insert(wallets::ActiveModel {
        user_id: Set(user),
        balance: Set(0),
        updated_at: Set(now_ms()),
        income: Set(0),
    })
    .exec(db)
    .await
    .unwrap();
    user
}

async fn balance(db: &DatabaseConnection, user: i64) -> i64 {
    wallets::Entity::find_by_id(user).one(db).await.unwrap().map_or(0, |w| w.balance)
}

/// An app on an existing storage with the `Credit` handler registered before its queue starts
/// (`Application::build_with_jobs`). The `TestApp` that made the storage still owns its
/// clean-up; this one only stops.
struct CreditApp {
    state: AppState,
    handle: AppHandle,
    credit: Arc<Credit>,
}

async fn start_with_credit(storage: &Storage, fail_first: usize) -> CreditApp {
    let settings = storage.settings();
    let backends = Backends::connect(&settings).await.expect("backends connect");
    let credit = Credit::new(&backends, fail_first);
    let jobs: Vec<(String, Arc<dyn JobHandler>)> = vec![(KIND.into(), credit.clone())];
    let app = Application::build_with_jobs(settings, backends, jobs).await.expect("app builds");
    let (state, handle) = (app.state(), app.handle());
    actix_web::rt::spawn(app.run_until_stopped());
    CreditApp { state, handle, credit }
}

impl CreditApp {
    async fn stop(&self) {
        self.state.b.queue.stop();
        self.handle.stop(false).await;
    }
}

impl Drop for CreditApp {
    fn drop(&mut self) {
        self.state.b.queue.stop();
    }
}

/// A stopped first app (it owns the storage and cleans it up) and a fresh wallet on it.
async fn first_app(set: BackendSet) -> (TestApp, i64) {
    let first = spawn_app(set).await;
    let user = new_wallet(&first.state.b.db, &first.state.b.ids).await;
    (first, user)
}

/// Ready messages in this storage's RabbitMQ work queue.
async fn amqp_work_queue_depth(storage: &Storage) -> u32 {
    use lapin::options::QueueDeclareOptions;
    let conn = lapin::Connection::connect(AMQP_URL, lapin::ConnectionProperties::default()).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let name = format!("{}.work", storage.amqp_prefix);
    let q = ch
        .queue_declare(
            name.as_str().into(),
            QueueDeclareOptions { passive: true, ..Default::default() },
            Default::default(),
        )
        .await
        .unwrap();
    let _ = conn.close(200, "done".into()).await;
    q.message_count()
}

#[actix_web::test]
async fn a_job_scheduled_before_a_restart_runs_on_the_new_instance() {
    for set in backend_sets() {
        let (first, user) = first_app(set).await;
        let job_id = first
            .state
            .b
            .queue
            .schedule(KIND, json!({"user": user, "amount": 5}), Duration::from_millis(2000))
            .await
            .unwrap();
        let due_at = now_ms() + 2000;
        first.stop().await;
        assert!(now_ms() < due_at - 500, "{set:?}: the first app stopped well before the job was due");

        let app = start_with_credit(&first.storage, 0).await;
        let db = &app.state.b.db;
        eventually("the job ran on the new instance", Duration::from_secs(15), || async {
            balance(db, user).await == 5
        })
        .await;
        let runs = app.credit.runs_of(&job_id);
        assert_eq!(runs.len(), 1, "{set:?}");
        assert!(runs[0] >= due_at - 100, "{set:?}: ran {} ms before it was due", due_at - runs[0]);
        app.stop().await;
    }
}

#[actix_web::test]
async fn jobs_that_fell_due_while_no_consumer_ran_all_run_once_one_starts() {
    for set in backend_sets() {
        let (first, user) = first_app(set).await;
        let q = first.state.b.queue.clone();
        // Due 0.8–1.2 s from now: the first app's consumer is gone well before.
        for i in 1..=5u64 {
            q.schedule(KIND, json!({"user": user, "amount": i}), Duration::from_millis(700 + 100 * i)).await.unwrap();
        }
        first.stop().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;

        // They wait in storage: rows of delayed_jobs, or messages dead-lettered into the work queue.
        let db = first.state.b.db.clone();
        if set == BackendSet::Embedded {
            let waiting = dj::Entity::find().filter(dj::Column::DueAt.lte(now_ms())).count(&db).await.unwrap();
            assert_eq!(waiting, 5, "{set:?}");
        } else {
            eventually("5 messages in the work queue", Duration::from_secs(5), || async {
                amqp_work_queue_depth(&first.storage).await == 5
            })
            .await;
        }
        assert_eq!(balance(&db, user).await, 0, "{set:?}: nothing ran without a consumer");

        let app = start_with_credit(&first.storage, 0).await;
        eventually("every due job ran", Duration::from_secs(15), || async { balance(&db, user).await == 15 }).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(app.credit.runs().len(), 5, "{set:?}: each ran once");
        assert_eq!(trade_count(&db, None).await.unwrap(), 5, "{set:?}");
        if set == BackendSet::Embedded {
            eventually("the rows are gone", Duration::from_secs(5), || async {
                dj::Entity::find().count(&db).await.unwrap() == 0
            })
            .await;
        } else {
            assert_eq!(amqp_work_queue_depth(&first.storage).await, 0, "{set:?}");
        }
        app.stop().await;
    }
}

#[actix_web::test]
async fn a_duplicate_delivery_does_its_work_once() {
    for set in backend_sets() {
        let (first, user) = first_app(set).await;
        first.stop().await;
        let app = start_with_credit(&first.storage, 0).await;
        let db = app.state.b.db.clone();
        let job = |id: &str| Job {
            id: id.into(),
            kind: KIND.into(),
            payload: json!({"user": user, "amount": 7}),
            due_at: now_ms(),
        };

        // Straight through a router: twice in a row, then twice at once.
        let router = JobRouter::default();
        router.register(KIND, app.credit.clone());
        let a = job("dup-a");
        router.dispatch(&a).await.unwrap();
        router.dispatch(&a).await.unwrap();
        let b = job("dup-b");
        let (r1, r2) = futures_util::future::join(router.dispatch(&b), router.dispatch(&b)).await;
        r1.unwrap();
        r2.unwrap();
        assert_eq!(balance(&db, user).await, 14, "{set:?}");

        // Through the running queue: the same job delivered twice, as after a worker died
        // between doing the work and deleting its row, or a lost ack.
        let c = job("dup-c");
        deliver(set, &app, &c).await;
        eventually("first delivery", Duration::from_secs(10), || async { app.credit.finished_of("dup-c") == 1 }).await;
        if set == BackendSet::Embedded {
            eventually("its row is deleted", Duration::from_secs(5), || async {
                dj::Entity::find_by_id("dup-c").one(&db).await.unwrap().is_none()
            })
            .await;
        }
        deliver(set, &app, &c).await;
        // Wait for the second delivery to finish, not just start: its transaction must not be
        // in flight when the storage is dropped.
        eventually("second delivery", Duration::from_secs(10), || async { app.credit.finished_of("dup-c") == 2 }).await;
        assert_eq!(balance(&db, user).await, 21, "{set:?}: three jobs credited once each");
        assert_eq!(trade_count(&db, None).await.unwrap(), 3, "{set:?}");
        app.stop().await;
    }
}

/// `Credit`, started only after `delay`: a job still running when the app is asked to stop.
struct SlowCredit {
    credit: Arc<Credit>,
    delay: Duration,
    started: AtomicBool,
}

#[async_trait::async_trait]
impl JobHandler for SlowCredit {
    async fn handle(&self, job: &Job) -> anyhow::Result<()> {
        self.started.store(true, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.credit.handle(job).await
    }
}

#[actix_web::test]
async fn a_job_running_at_shutdown_finishes_and_is_acked_before_the_app_exits() {
    for set in backend_sets() {
        let (first, user) = first_app(set).await;
        first.stop().await;
        let mut settings = first.storage.settings();
        settings.server.shutdown_timeout_s = 10;
        let backends = Backends::connect(&settings).await.expect("backends connect");
        let slow = Arc::new(SlowCredit {
            credit: Credit::new(&backends, 0),
            delay: Duration::from_millis(1500),
            started: AtomicBool::new(false),
        });
        let jobs: Vec<(String, Arc<dyn JobHandler>)> = vec![(KIND.into(), slow.clone())];
        let app = Application::build_with_jobs(settings, backends, jobs).await.expect("app builds");
        let (state, handle) = (app.state(), app.handle());
        let run = actix_web::rt::spawn(app.run_until_stopped());
        let db = state.b.db.clone();
        let id = state.b.queue.schedule(KIND, json!({"user": user, "amount": 4}), Duration::ZERO).await.unwrap();
        eventually("the job started", Duration::from_secs(10), || async { slow.started.load(Ordering::SeqCst) }).await;

        handle.stop(true).await;
        run.await.expect("the app's task ran").expect("the server stopped cleanly");
        assert_eq!(slow.credit.finished_of(&id), 1, "{set:?}: the job finished before the app exited");
        assert_eq!(balance(&db, user).await, 4, "{set:?}");
        // Acknowledged: nothing is left to deliver again (an unacked message would be back in the
        // work queue once the consumer's connection closed).
        if set == BackendSet::Embedded {
            assert_eq!(dj::Entity::find().count(&db).await.unwrap(), 0, "{set:?}: the job's row is deleted");
        } else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            assert_eq!(amqp_work_queue_depth(&first.storage).await, 0, "{set:?}: the delivery was acked");
        }
        assert_eq!(slow.credit.runs_of(&id).len(), 1, "{set:?}");
    }
}

/// Puts `job` on the queue as it travels there: a `delayed_jobs` row, or a RabbitMQ message in
/// the envelope `AmqpQueue` publishes (`{"job", "attempts"}`).
async fn deliver(set: BackendSet, app: &CreditApp, job: &Job) {
    if set == BackendSet::Embedded {
        dj::Entity::insert(dj::ActiveModel {
            id: Set(job.id.clone()),
            kind: Set(job.kind.clone()),
            payload: Set(job.payload.to_string()),
            due_at: Set(job.due_at),
            attempts: Set(0),
            locked_until: Set(0),
        })
        .exec(&app.state.b.db)
        .await
        .unwrap();
        return;
    }
    use lapin::{options::BasicPublishOptions, BasicProperties};
    let conn = lapin::Connection::connect(AMQP_URL, lapin::ConnectionProperties::default()).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let body = serde_json::to_vec(&json!({"job": job, "attempts": 0})).unwrap();
    let work = format!("{}.work", app.state.settings.amqp.prefix);
    ch.basic_publish(
        "".into(),
        work.as_str().into(),
        BasicPublishOptions::default(),
        &body,
        BasicProperties::default().with_delivery_mode(2),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let _ = conn.close(200, "done".into()).await;
}

#[actix_web::test]
async fn a_failing_job_is_retried_later_until_it_succeeds() {
    for set in backend_sets() {
        let (first, user) = first_app(set).await;
        first.stop().await;
        let app = start_with_credit(&first.storage, 2).await;
        let db = app.state.b.db.clone();
        let id = app.state.b.queue.schedule(KIND, json!({"user": user, "amount": 9}), Duration::ZERO).await.unwrap();
        eventually("the third attempt succeeded", Duration::from_secs(20), || async { balance(&db, user).await == 9 })
            .await;
        let runs = app.credit.runs_of(&id);
        assert_eq!(runs.len(), 3, "{set:?}: two failures, then success");
        // Back-off: 1 s after the first failure, 2 s after the second.
        assert!(runs[1] - runs[0] >= 900, "{set:?}: retried after {} ms", runs[1] - runs[0]);
        assert!(runs[2] - runs[1] >= 1900, "{set:?}: retried after {} ms", runs[2] - runs[1]);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(app.credit.runs_of(&id).len(), 3, "{set:?}: not run again after success");
        if set == BackendSet::Embedded {
            assert_eq!(dj::Entity::find().count(&db).await.unwrap(), 0, "{set:?}");
        }
        app.stop().await;
    }
}

//! Builds the application from settings: backends, job handlers, room registry, HTTP server.

use crate::actors::hub::UserHub;
use crate::actors::notices::{self, Notices};
use crate::actors::registry::RoomRegistry;
use crate::actors::room::RoomDeps;
use crate::domain::chat::WordFilter;
use crate::http::{self, AppState};
use crate::services::{self, room_list::RoomList, Services};
use crate::settings::Settings;
use crate::shutdown::Shutdown;
use crate::storage::queue::{JobHandler, JobRouter};
use crate::storage::Backends;
use actix_codec::Framed;
use actix_http::{error::DispatchError, h1, HttpService, KeepAlive, Protocol};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::{AppConfig, Server, ServerHandle};
use actix_web::rt::net::TcpStream;
use actix_web::{web, App};
use futures_util::future::BoxFuture;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

pub struct Application {
    port: u16,
    host: String,
    server: Server,
    state: AppState,
    /// The private `/metrics` server, when `metrics.listen` is set.
    metrics: Option<(actix_web::dev::ServerHandle, std::net::SocketAddr)>,
}

impl Application {
    /// Connects every configured backend, then builds the app on them.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let backends = Backends::connect(&settings).await?;
        Self::build_with(settings, backends).await
    }

    /// Builds the app on backends made elsewhere (tests give each app its own).
    pub async fn build_with(settings: Settings, backends: Backends) -> anyhow::Result<Self> {
        Self::build_with_jobs(settings, backends, Vec::new()).await
    }

    /// As `build_with`, plus extra delay-queue handlers `(kind, handler)` registered before the
    /// queue starts consuming, so a job already due at start-up finds its handler. Tests use it
    /// to watch deferred work survive a restart.
    pub async fn build_with_jobs(
        settings: Settings,
        backends: Backends,
        extra_jobs: Vec<(String, Arc<dyn JobHandler>)>,
    ) -> anyhow::Result<Self> {
        // Settings may have been changed since they were loaded: refuse again what would give
        // coins or login codes away outside dev.
        settings.validate()?;
        crate::metrics::init();
        let settings = Arc::new(settings);
        let sms = http::sms::from_setting(&settings.auth.sms_provider)?;
        let router = Arc::new(JobRouter::default());
        for (kind, handler) in extra_jobs {
            router.register(&kind, handler);
        }
        let rooms = RoomRegistry::new(
            RoomDeps {
                db: backends.db.clone(),
                settings: Arc::new(settings.room.clone()),
                filter: Arc::new(WordFilter::new(&settings.room.word_filter)),
                limits: settings.limits.enabled,
            },
            settings.room.arbiters,
        );
        let notices = Notices::new(
            UserHub::default(),
            backends.kv.clone(),
            Duration::from_millis(settings.notice.retry_after_ms),
        );
        router.register(notices::RETRY_JOB, Arc::new(notices::RetryHandler(notices.clone())));
        let svc = Services {
            settings: settings.clone(),
            b: backends.clone(),
            rooms,
            room_list: Arc::new(RoomList::default()),
            notices,
            pk: crate::actors::pk::PkService::default(),
            rain: crate::actors::rain::RainService::default(),
            presence: if settings.cluster.enabled {
                crate::actors::presence::Presence::new_as(backends.kv.clone(), settings.cluster.node_id.clone())
            } else {
                crate::actors::presence::Presence::new(backends.kv.clone())
            },
            gifts: Arc::new(services::gift_catalogue::GiftCatalogue::new(backends.db.clone())),
            nicknames: Arc::new(services::nicknames::Nicknames::new(backends.db.clone())),
            desk: Arc::default(),
            cluster: if settings.cluster.enabled {
                Some(services::cluster::Cluster::join(&settings).await?)
            } else {
                None
            },
        };
        if let Some(c) = &svc.cluster {
            c.serve(svc.clone());
        }
        router.register(crate::actors::rain::END_JOB, Arc::new(services::rain::EndJob(svc.clone())));
        router.register(services::orders::EXPIRE_JOB, Arc::new(services::orders::ExpireJob(svc.clone())));
        router.register(crate::actors::pk::END_JOB, Arc::new(services::pk::EndJob(svc.clone())));
        let state = AppState {
            svc: svc.clone(),
            sms,
            admin_phones: Arc::new(settings.auth.admin_phones.iter().cloned().collect()),
            shutdown: Shutdown::default(),
        };
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port)).map_err(|e| {
            anyhow::anyhow!(
                "server.host/server.port: cannot listen on {}:{}: {e}",
                settings.server.host,
                settings.server.port
            )
        })?;
        let port = listener.local_addr()?.port();
        let static_dir = settings.server.static_dir.clone();
        let cors_origins = settings.server.cors_origins.clone();
        let data = web::Data::new(state.clone());
        let metrics_settings = web::Data::new(settings.metrics.clone());
        // With `metrics.listen` set, /metrics lives only on that (private) address.
        let public_metrics = settings.metrics.listen.is_empty();
        let metrics_server = if public_metrics {
            None
        } else {
            let l = TcpListener::bind(settings.metrics.listen.as_str())
                .map_err(|e| anyhow::anyhow!("metrics.listen: cannot listen on {}: {e}", settings.metrics.listen))?;
            let addr = l.local_addr()?;
            let srv = http::ops::metrics_server(l, settings.metrics.clone())?;
            tracing::info!("metrics on http://{addr}/metrics");
            Some((srv, addr))
        };
        let write_timeout = std::time::Duration::from_secs(settings.room.write_timeout_s);
        let local_addr = listener.local_addr()?;
        // The server is assembled as actix-web's `HttpServer` assembles it, plus an upgrade
        // service: a WebSocket handshake takes its connection out of actix-http (see `http::ws`).
        let mut builder = actix_server::Server::build();
        let graceful = builder.graceful_shutdown_signal();
        let ws_state = state.clone();
        builder = builder
            .listen("liveroom", listener, move || {
                let mut cors = actix_cors::Cors::default()
                    .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
                    .allowed_headers(["authorization", "content-type", "idempotency-key"])
                    .max_age(600);
                for o in &cors_origins {
                    cors = cors.allowed_origin(o);
                }
                let app = App::new()
                    .app_data(data.clone())
                    .app_data(metrics_settings.clone())
                    .app_data(http::extract::path_config())
                    .app_data(http::extract::query_config())
                    .app_data(http::extract::json_config())
                    .wrap(actix_web::middleware::from_fn(http::ops::backend_gate))
                    .wrap(actix_web::middleware::from_fn(http::middleware::observe))
                    .wrap(cors)
                    .wrap(tracing_actix_web::TracingLogger::default())
                    .configure(http::api);
                let app = if public_metrics { app.route("/metrics", web::get().to(http::ops::metrics)) } else { app };
                let app = app.service(actix_files::Files::new("/", &static_dir).index_file("index.html"));
                let graceful = graceful.clone();
                let ws_state = ws_state.clone();
                let upgrade = fn_service(move |(req, framed): (actix_http::Request, Framed<TcpStream, h1::Codec>)| {
                    let state = ws_state.clone();
                    async move {
                        http::ws::switch(state, req, framed).await;
                        Ok::<_, std::convert::Infallible>(())
                    }
                });
                let http = HttpService::build()
                    .keep_alive(KeepAlive::default())
                    .client_request_timeout(Duration::from_secs(5))
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .local_addr(local_addr)
                    .graceful_shutdown_signal(move || {
                        let g = graceful.clone();
                        async move { g.notified().await }
                    })
                    .upgrade(upgrade)
                    .finish(map_config(app.into_factory().map_err(|e| e.error_response()), |_| AppConfig::default()));
                fn_service(move |io: TcpStream| async move {
                    // Real-time frames are small: do not let Nagle hold them back for an ACK.
                    let _ = io.set_nodelay(true);
                    // A client that stops reading must not keep its connection for ever:
                    // unacknowledged or unsent data older than this ends the connection.
                    #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
                    if let Err(e) = socket2::SockRef::from(&io).set_tcp_user_timeout(Some(write_timeout)) {
                        tracing::debug!(error = %e, "TCP_USER_TIMEOUT not set");
                    }
                    let peer = io.peer_addr().ok();
                    Ok::<_, DispatchError>((io, Protocol::Http1, peer))
                })
                .and_then(http)
            })?
            // SIGTERM and Ctrl-C go through `AppHandle::stop` (see `run_until_stopped`), which
            // closes the sockets before actix stops its workers.
            .disable_signals()
            .shutdown_timeout(settings.server.shutdown_timeout_s);
        if settings.server.workers > 0 {
            builder = builder.workers(settings.server.workers);
        }
        let server = builder.run();
        let metrics_addr = metrics_server.map(|(srv, addr)| {
            let handle = srv.handle();
            actix_web::rt::spawn(srv);
            (handle, addr)
        });
        backends.queue.start(router).await?;
        // Deferred work committed with its change (order expiry) reaches the queue from here.
        backends.outbox.start();
        // Whatever came due while the server was down finishes now.
        services::sweeps::at_start(&svc).await?;
        tracing::info!("listening on http://{}:{}", settings.server.host, port);
        Ok(Self { port, host: settings.server.host.clone(), server, state, metrics: metrics_addr })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Where `/metrics` is served when `metrics.listen` keeps it off the public port.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().map(|(_, a)| *a)
    }

    /// A handle on the app's state (tests reach the backends through it).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// A handle that stops the server from elsewhere (the signal handler and the tests).
    pub fn handle(&self) -> AppHandle {
        AppHandle {
            server: self.server.handle(),
            shutdown: self.state.shutdown.clone(),
            hub: self.state.notices.hub.clone(),
            grace: Duration::from_secs(self.state.settings.server.shutdown_timeout_s),
        }
    }

    /// Serves until SIGTERM/Ctrl-C (or `AppHandle::stop`). Graceful: sockets are closed with
    /// 1001, in-flight requests finish, and delay-queue jobs already running finish and are
    /// acknowledged, each bounded by `server.shutdown_timeout_s`; a second signal stops at once.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let grace = Duration::from_secs(self.state.settings.server.shutdown_timeout_s);
        let signals = actix_web::rt::spawn(stop_on_signal(self.handle()));
        let queue = self.state.b.queue.clone();
        // Periodic sweeps finish PKs and rains whose timer or close failed; they stop with the server.
        let sweeps = services::sweeps::start(&self.state.svc);
        let kv = self.state.b.kv.clone();
        let outbox = self.state.b.outbox.clone();
        let res = self.server.await;
        if let Some(c) = &self.state.svc.cluster {
            c.leave().await;
        }
        signals.abort();
        for s in sweeps {
            s.abort();
        }
        outbox.stop();
        // No new job starts; those running finish and are acknowledged before the process exits.
        queue.stop();
        if !queue.drain(grace).await {
            tracing::warn!("delay-queue jobs still running at the shutdown timeout; they will run again");
        }
        if let Some((h, _)) = self.metrics {
            h.stop(true).await;
        }
        // The embedded store's last durable commit, and its file released for the next process.
        kv.close();
        res
    }
}

/// Stops a running `Application`: the one way to stop it, used by the signal handler and the
/// tests alike.
#[derive(Clone)]
pub struct AppHandle {
    server: ServerHandle,
    shutdown: Shutdown,
    /// Every socket on this node: each is told to close with 1001.
    hub: UserHub,
    /// `server.shutdown_timeout_s`.
    grace: Duration,
}

impl AppHandle {
    /// Fires the shutdown signal, so every open socket closes with 1001 (Going Away), then stops
    /// the server. Graceful: new connections wait unaccepted while the sockets get up to
    /// `server.shutdown_timeout_s` to finish their closing handshake; then actix stops gracefully
    /// (in-flight requests get as long again). Not graceful: the server stops at once, and a
    /// socket's close frame may not make it out.
    ///
    /// As with actix's `ServerHandle::stop`, the stop is under way once this returns (when called
    /// on a runtime); the future resolves when the server has stopped.
    pub fn stop(&self, graceful: bool) -> BoxFuture<'static, ()> {
        if self.shutdown.trigger() {
            tracing::info!(sockets = self.shutdown.listeners(), graceful, "shutting down");
        }
        // A socket admitted from now on sees the signal when it starts (`Shutdown::is_triggered`).
        self.hub.close_all(crate::actors::hub::close::GOING_AWAY);
        if !graceful {
            return Box::pin(self.server.stop(false));
        }
        let (server, shutdown, grace) = (self.server.clone(), self.shutdown.clone(), self.grace);
        let stopping = async move {
            server.pause().await;
            if !shutdown.drained(grace).await {
                tracing::warn!(sockets = shutdown.listeners(), "sockets still closing at the shutdown timeout");
            }
            server.stop(true).await;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let task = rt.spawn(stopping);
                Box::pin(async move {
                    let _ = task.await;
                })
            }
            Err(_) => Box::pin(stopping),
        }
    }
}

/// Stops the app gracefully on SIGTERM or Ctrl-C, and at once on a second one.
async fn stop_on_signal(handle: AppHandle) {
    signal().await;
    tokio::select! {
        () = handle.stop(true) => {}
        () = signal() => {
            tracing::warn!("second signal: stopping at once");
            handle.stop(false).await;
        }
    }
}

/// The next SIGTERM or SIGINT (Ctrl-C). Never resolves where signals cannot be listened to.
async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                if s.recv().await.is_none() {
                    std::future::pending::<()>().await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

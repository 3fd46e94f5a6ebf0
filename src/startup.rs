//! Building and running the HTTP server, and shutting it down gracefully.
//!
//! On SIGTERM or SIGINT the server stops accepting connections, lets in-flight requests finish
//! (bounded by `shutdown_grace`), then flushes buffered writes and closes the database. A second
//! signal stops at once.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, middleware, web};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::config::Settings;
use crate::observability::{health, metrics::Metrics, request_context};
use crate::state::AppState;
use crate::storage::{Db, StorageError};

/// Pending connections the kernel queues before `accept` (the std default of 128 overflows
/// under a burst of new streams).
const BACKLOG: u32 = 4096;

/// Binds with address reuse and a deep accept queue.
fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)?.into_std()
}

/// Extra routes mounted next to the built-in ones (for embedding, and for tests).
pub type RouteHook = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

/// A bound, running server.
pub struct Application {
    server: Server,
    port: u16,
    state: AppState,
    signals: Signals,
}

struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

impl Application {
    /// Connects to the database, applies migrations and binds the listener.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let db = Db::connect(settings.database_url.expose(), &settings.database).await?;
        db.migrate().await?;
        Self::build_with_db(settings, db, None).await
    }

    /// Binds the listener over an already migrated database, with optional extra routes.
    /// Signal handlers are installed here, so a signal that arrives once this returns is handled.
    pub async fn build_with_db(
        settings: Settings,
        db: Db,
        extra_routes: Option<RouteHook>,
    ) -> Result<Self, StartupError> {
        let addr = settings.listen_addr()?;
        let listener = bind(addr).map_err(|source| StartupError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: addr.to_string(),
                source,
            })?
            .port();
        let signals = Signals::install().map_err(StartupError::Signals)?;
        let grace = settings.shutdown_grace;
        let workers = settings
            .server
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let state = AppState::build(settings, db, Metrics::new()?).await?;

        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            let extra = extra_routes.clone();
            // Each worker gets its own provider connection pool: a pooled connection is driven
            // by the worker that opened it, so sharing one pool makes requests hop threads.
            let http = crate::data_plane::upstream::client().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "per-worker HTTP client failed; sharing the global one");
                data.http.clone()
            });
            App::new()
                .app_data(data.clone())
                .app_data(web::Data::new(crate::data_plane::upstream::WorkerClient(
                    http,
                )))
                .wrap(middleware::from_fn(
                    crate::control_plane::auth::guard::guard,
                ))
                .wrap(middleware::from_fn(request_context::track_request))
                .service(health::healthz)
                .service(health::readyz)
                .service(health::metrics)
                .configure(crate::data_plane::configure)
                .configure(crate::control_plane::api::configure)
                .configure(crate::control_plane::pages::configure)
                .configure(crate::billing::webhook::configure)
                .configure(move |cfg| {
                    if let Some(hook) = &extra {
                        hook(cfg);
                    }
                })
                .default_service(web::to(crate::error::not_found))
        })
        .workers(workers)
        // Small SSE writes must not wait for delayed ACKs (Nagle).
        .tcp_nodelay(true)
        // A caller that closes its connection is gone: drop its request at once, which drops
        // the upstream call too (no orphaned generations billed to the tenant).
        .h1_allow_half_closed(false)
        .disable_signals()
        .shutdown_timeout(grace.as_secs().max(1))
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: addr.to_string(),
            source,
        })?
        .run();
        tracing::info!(%addr, port, workers, "listening");
        Ok(Self {
            server,
            port,
            state,
            signals,
        })
    }

    /// The bound port (useful with `listen = "127.0.0.1:0"`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A handle to stop the server programmatically.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until a signal (or a handle) stops the server, then flushes and closes storage.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            server,
            state,
            mut signals,
            ..
        } = self;
        let handle = server.handle();
        let grace = state.settings.shutdown_grace;
        let watcher = tokio::spawn(async move {
            let name = signals.next().await;
            tracing::info!(
                signal = name,
                grace_secs = grace.as_secs(),
                "shutting down: no new connections, finishing in-flight requests"
            );
            tokio::select! {
                () = handle.stop(true) => {}
                name = signals.next() => {
                    tracing::warn!(signal = name, "second signal: stopping immediately");
                    handle.stop(false).await;
                }
            }
        });
        let served = server.await;
        watcher.abort();
        tracing::info!("server stopped; flushing buffered writes");
        state.shutdown().await;
        tracing::info!("shutdown complete");
        served
    }
}

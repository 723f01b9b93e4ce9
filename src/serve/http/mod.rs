//! The HTTP JSON API of `descent serve`, on axum and tokio.
//!
//! | endpoint | response |
//! |---|---|
//! | `GET /health` | model path, generation, user, item and factor counts |
//! | `GET /users/{id}/recommendations` | top-N for a trained user |
//! | `GET /items/{id}/similar` | items with the most similar factors |
//! | `POST /predict` | predictions for a batch of (user, item) pairs |
//! | `POST /recommend` | top-N for a new user, folded in from ratings |
//! | `POST /reload` | loads the model file again and swaps it in |
//!
//! The list endpoints take `n`, `genre`, `exclude` and `candidates` (the
//! last three comma-separated); user lists also take `cold_start` (`popular`
//! or `bias`). Every error is a JSON object `{"error": "..."}` with a 4xx
//! status for a bad request and 5xx for a failure of the server.
//!
//! A reload builds the new model completely before swapping one `Arc`, so
//! requests that started earlier finish on the old model, and a failed
//! reload leaves the old model in place. SIGHUP reloads too.

mod api;
mod error;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Mutex;

use crate::data::items::ItemCatalog;
use crate::error::{Error, Result};
use crate::model::persist;
use crate::serve::Recommender;

/// Request limits of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body in bytes; a larger one gets 413.
    pub max_body_bytes: usize,
    /// Largest list length `n`; a larger one gets 400.
    pub max_n: usize,
    /// Most (user, item) pairs of one `POST /predict`, and most ratings of
    /// one `POST /recommend`; more get 400.
    pub max_batch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_n: 1000,
            max_batch: 10_000,
        }
    }
}

/// Settings of `descent serve`: the files to serve and the address to
/// listen on.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Model file, loaded at start and on each reload.
    pub model: PathBuf,
    /// Items file with titles and genres, loaded with the model.
    pub items: Option<PathBuf>,
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
    /// Worker threads; 0 uses one per core.
    pub threads: usize,
    /// Request limits.
    pub limits: Limits,
}

/// A loaded model with its reload count.
pub(crate) struct Served {
    recommender: Recommender,
    /// 1 for the model loaded at start, then one more per reload.
    generation: u64,
    /// Seconds since the Unix epoch when the model was loaded.
    loaded_at: u64,
}

/// State shared by all requests.
pub(crate) struct AppState {
    current: ArcSwap<Served>,
    model_path: PathBuf,
    items_path: Option<PathBuf>,
    limits: Limits,
    /// Held during a reload so that two reloads never overlap.
    reload_lock: Mutex<()>,
}

/// Loads a model file and, if given, an items file, and prepares them for
/// queries. Warnings about the items file go to the log.
///
/// # Errors
///
/// As [`persist::load`] and [`ItemCatalog::load`], and when either path
/// is not a regular file: a pipe or a device can be read only once and
/// may block, which a reload cannot afford.
pub fn load(model: &Path, items: Option<&Path>) -> Result<Recommender> {
    check_regular(model, "--model")?;
    if let Some(path) = items {
        check_regular(path, "--items")?;
    }
    let model = persist::load(model)?;
    let catalog = match items {
        Some(path) => {
            let catalog = ItemCatalog::load(path)?;
            for warning in &catalog.warnings {
                tracing::warn!("{warning}");
            }
            Some(catalog)
        }
        None => None,
    };
    Ok(Recommender::new(model, catalog))
}

/// Fails unless `path` leads to a regular file, naming `option`.
fn check_regular(path: &Path, option: &str) -> Result<()> {
    if path == Path::new("-") {
        return Err(Error::Invalid(format!(
            "{option} - (standard input): serve reads it again on each \
             reload, so give it a file"
        )));
    }
    let metadata = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if metadata.is_file() {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "{option} {}: not a regular file; serve reads it again on each \
         reload, so give it a file",
        path.display()
    )))
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Loads the model and items files again and swaps them in, keeping the
/// old model on failure.
async fn reload(state: &Arc<AppState>) -> Result<Arc<Served>> {
    let _guard = state.reload_lock.lock().await;
    let started = Instant::now();
    let model = state.model_path.clone();
    let items = state.items_path.clone();
    let loaded =
        tokio::task::spawn_blocking(move || load(&model, items.as_deref()))
            .await
            .map_err(|e| Error::Invalid(format!("reload task failed: {e}")))?;
    let recommender = match loaded {
        Ok(recommender) => recommender,
        Err(error) => {
            tracing::error!(
                model = %state.model_path.display(),
                "reload failed, keeping generation {}: {error}",
                state.current.load().generation
            );
            return Err(error);
        }
    };
    let served = Arc::new(Served {
        recommender,
        generation: state.current.load().generation + 1,
        loaded_at: unix_seconds(),
    });
    state.current.store(Arc::clone(&served));
    let model = served.recommender.model();
    tracing::info!(
        model = %state.model_path.display(),
        generation = served.generation,
        users = model.users.len(),
        items = model.items.len(),
        seconds = %format_args!("{:.3}", started.elapsed().as_secs_f64()),
        "reloaded model"
    );
    Ok(served)
}

/// Logs one line per request: method, path and query, status, latency.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let latency = started.elapsed();
    tracing::info!(
        method = %method,
        uri = %uri,
        status = response.status().as_u16(),
        latency_ms = %format_args!("{:.3}", latency.as_secs_f64() * 1e3),
        "request"
    );
    response
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(api::health))
        .route(
            "/users/{id}/recommendations",
            get(api::user_recommendations),
        )
        .route("/items/{id}/similar", get(api::similar_items))
        .route("/predict", post(api::predict))
        .route("/recommend", post(api::recommend_for_ratings))
        .route("/reload", post(api::reload_model))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Loads the model, listens on `config.bind:config.port`, calls
/// `on_listening` with the bound address, and serves until SIGINT or
/// SIGTERM. Requests in flight at that point get up to
/// [`SHUTDOWN_GRACE`] to finish.
///
/// # Errors
///
/// Fails when the model or items file cannot be loaded, the address cannot
/// be bound or the runtime cannot start.
pub fn run(
    config: ServeConfig,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<()> {
    let started = Instant::now();
    let recommender = load(&config.model, config.items.as_deref())?;
    let model = recommender.model();
    tracing::info!(
        model = %config.model.display(),
        users = model.users.len(),
        items = model.items.len(),
        factors = model.factors(),
        seconds = %format_args!("{:.3}", started.elapsed().as_secs_f64()),
        "loaded model"
    );
    let threads = if config.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        config.threads
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| {
            Error::Invalid(format!("cannot start the runtime: {e}"))
        })?;
    let state = Arc::new(AppState {
        current: ArcSwap::from_pointee(Served {
            recommender,
            generation: 1,
            loaded_at: unix_seconds(),
        }),
        model_path: config.model.clone(),
        items_path: config.items.clone(),
        limits: config.limits,
        reload_lock: Mutex::new(()),
    });
    let result = runtime.block_on(serve(config, state, on_listening));
    // A reload blocked on reading the model file must not hold up the
    // exit, so blocking tasks get a short time to finish.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(
    config: ServeConfig,
    state: Arc<AppState>,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<()> {
    // The handlers are installed before the address is announced, so a
    // signal sent as soon as the address is known never meets the default
    // action, which would end the process.
    let signals = Signals::install()?;
    let requested = SocketAddr::new(config.bind, config.port);
    let listener =
        tokio::net::TcpListener::bind(requested)
            .await
            .map_err(|e| {
                Error::Invalid(format!(
                "cannot listen on {requested}: {e}; pick another --port, or \
                 0 for any free port"
            ))
            })?;
    let address = listener.local_addr().map_err(|e| {
        Error::Invalid(format!("cannot read the bound address: {e}"))
    })?;
    on_listening(address);
    tracing::info!(%address, "listening");

    let Signals {
        hangup,
        interrupt,
        terminate,
    } = signals;
    tokio::spawn(reload_on_hangup(Arc::clone(&state), hangup));
    let stop = StopSignals {
        interrupt,
        terminate,
    };
    accept_until(listener, router(state), stop).await;
    tracing::info!("stopped");
    Ok(())
}

/// Time a client has to send the headers of a request, counted from when
/// the server starts reading them. An idle keep-alive connection is closed
/// after it too.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Time the open connections get to finish after a shutdown signal before
/// they are closed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Pause after a failed accept, such as when the process is out of file
/// descriptors, before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Time between two warnings about failed accepts, which come in bursts
/// when the process runs out of file descriptors.
const ACCEPT_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// Failed accepts, warned about at most once per
/// [`ACCEPT_WARNING_INTERVAL`].
#[derive(Default)]
struct AcceptFailures {
    last_warning: Option<Instant>,
    unreported: u64,
}

impl AcceptFailures {
    fn record(&mut self, error: &std::io::Error) {
        let due = self
            .last_warning
            .is_none_or(|at| at.elapsed() >= ACCEPT_WARNING_INTERVAL);
        if !due {
            self.unreported += 1;
            return;
        }
        tracing::warn!(
            "cannot accept a connection: {error} ({} more failures since \
             the last warning); clients wait until connections close",
            self.unreported
        );
        self.last_warning = Some(Instant::now());
        self.unreported = 0;
    }
}

/// Serves connections from `listener` with `app` until a stop signal,
/// then lets open connections finish for up to [`SHUTDOWN_GRACE`], or
/// until a second stop signal.
async fn accept_until(
    listener: tokio::net::TcpListener,
    app: Router,
    mut stop: StopSignals,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut accept_failures = AcceptFailures::default();
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    accept_failures.record(&error);
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            name = stop.next() => {
                tracing::info!("received {name}, shutting down");
                break;
            }
        };
        // Responses are small, so waiting to fill a packet only adds
        // latency.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%remote, "cannot set TCP_NODELAY: {error}");
        }
        let service =
            hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%remote, "connection closed: {error}");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!(
                "connections still open {} s after the shutdown signal; \
                 closing them",
                SHUTDOWN_GRACE.as_secs()
            );
        }
        name = stop.next() => {
            tracing::warn!(
                "received {name} again; closing the open connections now"
            );
        }
    }
}

#[cfg(unix)]
type SignalStream = tokio::signal::unix::Signal;

/// On other systems only SIGINT is handled, through `ctrl_c`.
#[cfg(not(unix))]
type SignalStream = ();

/// The signals the server handles.
struct Signals {
    hangup: Option<SignalStream>,
    interrupt: Option<SignalStream>,
    terminate: Option<SignalStream>,
}

impl Signals {
    #[cfg(unix)]
    fn install() -> Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).map(Some).map_err(|e| {
                Error::Invalid(format!("cannot listen for {name}: {e}"))
            })
        };
        Ok(Signals {
            hangup: listen(SignalKind::hangup(), "SIGHUP")?,
            interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
            terminate: listen(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    #[cfg(not(unix))]
    fn install() -> Result<Signals> {
        Ok(Signals {
            hangup: None,
            interrupt: None,
            terminate: None,
        })
    }
}

/// Reloads the model on each SIGHUP.
async fn reload_on_hangup(state: Arc<AppState>, hangup: Option<SignalStream>) {
    #[cfg(unix)]
    if let Some(mut hangups) = hangup {
        while hangups.recv().await.is_some() {
            tracing::info!("received SIGHUP, reloading the model");
            // reload() logs the outcome.
            let _ = reload(&state).await;
        }
    }
    #[cfg(not(unix))]
    let _ = (state, hangup);
}

/// SIGINT and SIGTERM, either of which stops the server.
struct StopSignals {
    interrupt: Option<SignalStream>,
    terminate: Option<SignalStream>,
}

impl StopSignals {
    /// Waits for the next SIGINT or SIGTERM and returns its name.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            async fn wait(stream: &mut Option<SignalStream>) {
                match stream {
                    Some(stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                () = wait(&mut self.interrupt) => "SIGINT",
                () = wait(&mut self.terminate) => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            "SIGINT"
        }
    }
}

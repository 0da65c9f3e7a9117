//! `secops serve`: the HTTP API over the service layer. One process on the store the CLI uses
//! (SQLite by default, PostgreSQL for a team); every handler calls the same service functions as
//! the CLI, on a blocking pool, as the signed-in caller, each change audited.
//!
//! Read in this order: `state.rs` (settings, the store pool), `doc.rs` (the routes and their OpenAPI
//! document), `permissions.rs` (each route's permission, read from the document), `auth.rs` (API
//! keys, sessions, CSRF, the permission check), `api/` (the handlers), `log.rs` (the access log),
//! and `serve` below (listening, TLS, shutdown).

pub mod api;
pub mod auth;
pub mod console;
pub mod doc;
pub mod error;
pub mod log;
pub mod permissions;
pub mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware;
use axum::response::IntoResponse;
use axum::Router;
use secops_service::Clock;

pub use state::Settings;

use crate::error::ApiError;
use crate::permissions::RoutePermissions;
use crate::state::{AppState, Pool};

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(String),
    #[error("listening on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The application: every route, its permission checked, with body limits, timeouts and the access
/// log.
pub fn app(settings: Settings, clock: Arc<dyn Clock>) -> Result<Router, ServeError> {
    app_with_state(settings, clock).map(|(router, _)| router)
}

/// The application and the state its handlers share (the store pool, the hunt slots), for a
/// caller that watches or holds them.
pub fn app_with_state(
    settings: Settings,
    clock: Arc<dyn Clock>,
) -> Result<(Router, AppState), ServeError> {
    let pages = console::pages();
    let permissions = route_permissions(&pages)?;
    let playbooks = secops_case::playbook::Playbooks::bundled()
        .map_err(|e| ServeError::Config(format!("the bundled playbooks: {e}")))?;
    let judges = secops_service::intel::Judges::load(&settings.judges)
        .map_err(|e| ServeError::Config(format!("warninglists and decay models: {e}")))?;
    let responder = match &settings.respond {
        Some(sources) => Some(Arc::new(
            secops_service::respond::Responder::load(sources)
                .map_err(|e| ServeError::Config(format!("response automation: {e}")))?,
        )),
        None => None,
    };
    let settings = Arc::new(settings);
    let state = AppState {
        responder,
        rules: Arc::default(),
        attack: Arc::default(),
        hunt_slots: Arc::new(tokio::sync::Semaphore::new(settings.hunts.max(1))),
        judges: Arc::new(judges),
        pool: Pool::new(&settings.store, settings.connections),
        settings: settings.clone(),
        clock,
        permissions: Arc::new(permissions),
        playbooks: Arc::new(playbooks),
    };
    let (router, _) = doc::routes();
    let router = router
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .merge(pages.into_router(state.clone()))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(settings.body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
        .layer(middleware::from_fn(headers))
        .layer(middleware::from_fn_with_state(state.clone(), log::access))
        .with_state(state.clone());
    Ok((router, state))
}

/// Every route's permission: the API's from its OpenAPI document, the console's pages from their
/// table.
pub fn route_permissions(pages: &console::Pages) -> Result<RoutePermissions, ServeError> {
    let mut permissions =
        RoutePermissions::from_openapi(doc::document()).map_err(ServeError::Config)?;
    for (method, path, access) in pages.table() {
        permissions
            .insert(method, path, *access)
            .map_err(ServeError::Config)?;
    }
    Ok(permissions)
}

async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    if uri.path().starts_with("/api/") {
        ApiError::not_found("no such route (the routes: GET /api/v1/openapi.json)").into_response()
    } else {
        console::not_found()
    }
}

/// Headers on every answer: nothing sniffed, nothing framed; nothing cached and nothing loaded
/// unless the answer says otherwise (the console's assets are cached, its pages load their own
/// scripts and styles).
async fn headers(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.entry("cache-control")
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.entry("content-security-policy")
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'",
        ));
    response.into_response()
}

/// A certificate chain and its private key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
}

/// Serves `app` on `address` until SIGINT or SIGTERM, then lets requests in flight finish.
/// `ready` is called with the address bound (port 0 picks one).
pub async fn serve(
    app: Router,
    address: SocketAddr,
    tls: Option<TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Listen { address, source })?;
    let bound = listener.local_addr()?;
    match tls {
        None => {
            ready(bound);
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await?;
        }
        Some(files) => {
            let acceptor = tls_acceptor(&files)?;
            ready(bound);
            serve_tls(listener, acceptor, app, shutdown).await;
        }
    }
    Ok(())
}

/// Runs [`serve`] on a runtime of its own until SIGINT or SIGTERM (for the `secops serve` command).
pub fn run(
    app: Router,
    address: SocketAddr,
    tls: Option<TlsFiles>,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("secops-serve")
        .build()?;
    runtime.block_on(serve(app, address, tls, shutdown_signal(), ready))
}

/// A server running on a thread of its own (benchmarks, tests): stopped gracefully when dropped.
#[derive(Debug)]
pub struct Background {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
}

impl Background {
    /// Stops the server after the requests in flight and waits for it.
    pub fn stop(mut self) -> Result<(), ServeError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServeError::Config("the server's thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Starts `app` on `address` on a thread of its own with a runtime of its own.
pub fn spawn(
    app: Router,
    address: SocketAddr,
    tls: Option<TlsFiles>,
) -> Result<Background, ServeError> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("secops-serve".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let shutdown = async {
                let _ = stopped.await;
            };
            runtime.block_on(serve(app, address, tls, shutdown, move |bound| {
                let _ = bound_tx.send(bound);
            }))
        })?;
    match bound_rx.recv() {
        Ok(address) => Ok(Background {
            address,
            stop: Some(stop),
            thread: Some(thread),
        }),
        // The thread ended before listening: its error says why.
        Err(_) => match thread.join() {
            Ok(Err(e)) => Err(e),
            _ => Err(ServeError::Config(
                "the server stopped before listening".into(),
            )),
        },
    }
}

/// SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
}

fn tls_acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, ServeError> {
    let mut config = tls_config(files, None)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// A TLS server configuration from PEM files: the certificate chain and its key, and, for mutual TLS,
/// the certificate authorities whose client certificates are accepted (a client without one is
/// refused). Each error names the file.
pub fn tls_config(
    files: &TlsFiles,
    client_ca: Option<&std::path::Path>,
) -> Result<tokio_rustls::rustls::ServerConfig, ServeError> {
    use rustls_pemfile::Item;
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))
    };
    let certs = |path: &std::path::Path| -> Result<Vec<_>, ServeError> {
        let text = read(path)?;
        let chain: Vec<_> = rustls_pemfile::certs(&mut text.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))?;
        if chain.is_empty() {
            return Err(ServeError::Tls(format!(
                "{}: no PEM certificate in it",
                path.display()
            )));
        }
        Ok(chain)
    };
    let chain = certs(&files.certificate)?;
    let key_text = read(&files.key)?;
    let key = rustls_pemfile::read_all(&mut key_text.as_slice())
        .filter_map(Result::ok)
        .find_map(|item| match item {
            Item::Pkcs1Key(k) => Some(k.into()),
            Item::Pkcs8Key(k) => Some(k.into()),
            Item::Sec1Key(k) => Some(k.into()),
            _ => None,
        })
        .ok_or_else(|| {
            ServeError::Tls(format!("{}: no PEM private key in it", files.key.display()))
        })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Tls(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            for cert in certs(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| ServeError::Tls(format!("{}: {e}", ca.display())))?;
            }
            let verifier =
                tokio_rustls::rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| ServeError::Tls(format!("{}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(chain, key)
        .map_err(|e| ServeError::Tls(format!("the certificate and key: {e}")))
}

async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    log::error(&format!("accepting a connection: {e}"));
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let service = app
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(remote)));
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // A handshake that never finishes does not hold a task for ever.
            let handshake =
                tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp));
            let stream = match handshake.await {
                Ok(Ok(stream)) => stream,
                _ => return,
            };
            let service = hyper_util::service::TowerToHyperService::new(service);
            let builder = Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let _ = watcher.watch(connection.into_owned()).await;
        });
    }
    graceful.shutdown().await;
}

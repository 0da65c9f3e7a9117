//! HTTP ingest: JSON lines at `POST /ingest`, and the Elasticsearch `_bulk` request shape (`POST
//! /_bulk`, `POST /{index}/_bulk`) with a result per item, so that Beats, Fluent Bit, Vector and
//! Logstash outputs can point at `secops`. Their first probes are answered as an Elasticsearch 8 cluster
//! would: `GET /` (version), `GET /_license`, `GET /_xpack`, `GET /_cluster/health`, and index
//! templates, ILM policies and data streams (`GET`/`HEAD` say they exist, `PUT` acknowledges), so
//! their setup steps pass without an Elasticsearch behind. Every request needs an API key with the
//! `events:write` permission (the built-in `shipper` role): `Authorization: ApiKey KEY` (also
//! base64 of `ID:KEY`, as Elasticsearch clients send it), `Bearer KEY`, `Basic` with the key as the
//! password, or `X-Api-Key`. A document is journaled whole, as one JSON line; an item that is not a
//! JSON object, an action other than `index` or `create`, or a document over `max_message` is refused
//! with its own status while the rest are taken.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};
use secops_store::Store;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::config::{allowed, Listen};
use crate::listen::{Batch, Handoff};

/// The largest request body taken (Beats send a few MB per bulk request).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Requests handled at once at most (with `max_connections` lower): bodies in memory are bounded by
/// this times [`MAX_BODY`].
const MAX_REQUESTS: usize = 32;
/// How long a key's check is trusted before the store is asked again (a revoked key stops within it).
const KEY_TTL: Duration = Duration::from_secs(30);
/// How long a request waits for room in a full spool before it is answered 429.
const SPOOL_WAIT: Duration = Duration::from_secs(30);
/// The Elasticsearch version the probes report (shippers check the major version).
const ES_VERSION: &str = "8.17.0";

#[derive(Clone)]
struct Shared {
    listen: Arc<Listen>,
    handoff: Handoff,
    blocks: Arc<Vec<(std::net::IpAddr, u8)>>,
    keys: Arc<Mutex<Store>>,
    checked: Arc<Mutex<HashMap<[u8; 32], Instant>>>,
    requests: Arc<tokio::sync::Semaphore>,
}

/// Serves HTTP ingest on `listener` until the runtime ends.
pub async fn serve(
    listener: TcpListener,
    listen: Listen,
    handoff: Handoff,
    keys: Arc<Mutex<Store>>,
) {
    let requests = MAX_REQUESTS.min(listen.max_connections.max(1));
    let shared = Shared {
        blocks: Arc::new(listen.allowed()),
        listen: Arc::new(listen),
        handoff,
        keys,
        checked: Arc::new(Mutex::new(HashMap::new())),
        requests: Arc::new(tokio::sync::Semaphore::new(requests)),
    };
    let app = Router::new()
        .route("/_bulk", post(bulk).put(bulk))
        .route("/{index}/_bulk", post(bulk).put(bulk))
        .route("/ingest", post(lines))
        .fallback(any(probe))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared);
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let _ = axum::serve(listener, service).await;
}

fn problem(status: StatusCode, kind: &str, reason: &str) -> Response {
    (
        status,
        Json(json!({"error": {"type": kind, "reason": reason}, "status": status.as_u16()})),
    )
        .into_response()
}

/// The sender's address, then its key.
async fn guard(
    State(shared): State<Shared>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let m = &shared.handoff.metrics;
    let refuse = |counter: &AtomicU64, kind: &'static str, why: &str, status, error, reason| {
        counter.fetch_add(1, Ordering::Relaxed);
        let message = format!("request from {} refused: {why}", peer.ip());
        shared
            .handoff
            .warnings
            .warn(&shared.handoff.name, kind, &message);
        problem(status, error, reason)
    };
    if !allowed(&shared.blocks, peer.ip()) {
        return refuse(
            &m.refused_senders,
            "sender",
            "not an allowed sender",
            StatusCode::FORBIDDEN,
            "security_exception",
            "sender not allowed",
        );
    }
    let Ok(_permit) = shared.requests.clone().try_acquire_owned() else {
        return refuse(
            &m.connections_refused,
            "connections",
            "too many at once",
            StatusCode::TOO_MANY_REQUESTS,
            "es_rejected_execution_exception",
            "too many requests at once; retry later",
        );
    };
    let Some(key) = presented_key(request.headers()) else {
        return problem(
            StatusCode::UNAUTHORIZED,
            "security_exception",
            "an API key with events:write is needed",
        );
    };
    let digest: [u8; 32] = {
        use sha2::Digest;
        sha2::Sha256::digest(key.as_bytes()).into()
    };
    let fresh = shared
        .checked
        .lock()
        .ok()
        .and_then(|c| c.get(&digest).copied())
        .is_some_and(|at| at.elapsed() < KEY_TTL);
    if !fresh {
        let keys = shared.keys.clone();
        let from = peer.ip().to_string();
        let verdict = tokio::task::spawn_blocking(move || {
            let mut store = keys
                .lock()
                .map_err(|_| "key store unavailable".to_string())?;
            let now = secops_event::Timestamp::now().unix_nanos();
            let principal = secops_service::users::authenticate_key(&mut store, &key, &from, now)
                .map_err(|e| e.to_string())?;
            if secops_auth::Roles::built_in().allows(&principal.role, secops_auth::EVENTS_WRITE) {
                Ok(())
            } else {
                Err(format!("role {} lacks events:write", principal.role))
            }
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        if let Err(reason) = verdict {
            shared.handoff.warnings.warn(
                &shared.handoff.name,
                "key",
                &format!("request from {} refused: {reason}", peer.ip()),
            );
            return problem(StatusCode::UNAUTHORIZED, "security_exception", &reason);
        }
        if let Ok(mut checked) = shared.checked.lock() {
            if checked.len() > 10_000 {
                checked.clear();
            }
            checked.insert(digest, Instant::now());
        }
    }
    next.run(request).await
}

/// The API key in a request's headers, in any of the forms the module names.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    use base64::Engine as _;
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim().to_string());
    }
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    let decoded = || {
        base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Some(rest.to_string()),
        "apikey" if rest.starts_with("secops_") => Some(rest.to_string()),
        // Elasticsearch clients send base64 of `id:key`.
        "apikey" | "basic" => decoded().and_then(|d| d.split_once(':').map(|(_, k)| k.to_string())),
        _ => None,
    }
}

/// The probes shippers make before sending (see the module's documentation).
async fn probe(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let version = json!({
        "name": "secops",
        "cluster_name": "secops",
        "cluster_uuid": "secops",
        "version": {
            "number": ES_VERSION,
            "build_flavor": "default",
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    });
    let license =
        json!({"license": {"status": "active", "type": "basic", "uid": "secops", "mode": "basic"}});
    let setup = [
        "/_index_template/",
        "/_template/",
        "/_ilm/policy/",
        "/_data_stream/",
        "/_ingest/pipeline/",
    ];
    match (method.as_str(), path) {
        ("GET" | "HEAD", "/") => Json(version).into_response(),
        ("GET", "/_license") => Json(license).into_response(),
        ("GET", "/_xpack") => {
            Json(json!({"build": {}, "features": {}, "license": license["license"]}))
                .into_response()
        }
        ("GET", "/_cluster/health") => {
            Json(json!({"cluster_name": "secops", "status": "green"})).into_response()
        }
        ("GET" | "HEAD", p) if setup.iter().any(|s| p.starts_with(s)) => {
            Json(json!({})).into_response()
        }
        ("PUT" | "POST", p) if setup.iter().any(|s| p.starts_with(s)) => {
            Json(json!({"acknowledged": true})).into_response()
        }
        _ => problem(
            StatusCode::NOT_FOUND,
            "not_found",
            "secops takes _bulk and /ingest",
        ),
    }
}

/// Hands a batch to the journal, waiting for room; `false` when the spool stayed full.
async fn hand_over(shared: &Shared, batch: Batch) -> bool {
    let (count, bytes) = (batch.len() as u64, batch.data.len() as u64);
    if batch.is_empty() {
        return true;
    }
    match tokio::time::timeout(SPOOL_WAIT, shared.handoff.sender.send(batch)).await {
        Ok(Ok(())) => {
            let m = &shared.handoff.metrics;
            m.received.fetch_add(count, Ordering::Relaxed);
            m.bytes.fetch_add(bytes, Ordering::Relaxed);
            true
        }
        _ => {
            shared.handoff.warnings.warn(
                &shared.handoff.name,
                "spool",
                "request answered 429: the spool stayed full",
            );
            false
        }
    }
}

/// A document as the journal keeps it: one line of JSON, or why not.
fn document(shared: &Shared, line: &[u8]) -> Result<Vec<u8>, (StatusCode, &'static str, String)> {
    if line.len() > shared.listen.max_message {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            "illegal_argument_exception",
            format!("document of {} bytes over max_message", line.len()),
        ));
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(object)) => serde_json::to_vec(&object).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                "mapper_parsing_exception",
                e.to_string(),
            )
        }),
        Ok(_) => Err((
            StatusCode::BAD_REQUEST,
            "mapper_parsing_exception",
            "the document is not a JSON object".into(),
        )),
        Err(e) => Err((
            StatusCode::BAD_REQUEST,
            "mapper_parsing_exception",
            format!("not JSON: {e}"),
        )),
    }
}

fn lines_of(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
}

/// `POST /_bulk`.
async fn bulk(State(shared): State<Shared>, uri: Uri, body: Bytes) -> Response {
    let started = Instant::now();
    let default_index = uri
        .path()
        .strip_suffix("/_bulk")
        .map(|p| p.trim_start_matches('/').to_string())
        .filter(|p| !p.is_empty());
    let mut items = Vec::new();
    let mut batch = Batch {
        received: secops_event::Timestamp::now().unix_nanos(),
        ..Batch::default()
    };
    let mut lines = lines_of(&body);
    let mut errors = false;
    let m = shared.handoff.metrics.clone();
    let refuse = |items: &mut Vec<Value>,
                  action: &str,
                  index: &Value,
                  status: StatusCode,
                  kind: &str,
                  reason: String| {
        m.items_refused.fetch_add(1, Ordering::Relaxed);
        items.push(json!({action: {"_index": index, "status": status.as_u16(), "error": {"type": kind, "reason": reason}}}));
    };
    while let Some(action_line) = lines.next() {
        let action: Value = match serde_json::from_slice(action_line) {
            Ok(Value::Object(o)) if o.len() == 1 => Value::Object(o),
            _ => {
                errors = true;
                refuse(
                    &mut items,
                    "index",
                    &Value::Null,
                    StatusCode::BAD_REQUEST,
                    "action_request_validation_exception",
                    "an action line must be one JSON object naming one action".into(),
                );
                continue;
            }
        };
        let Some((name, meta)) = action.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        let index = meta
            .get("_index")
            .cloned()
            .or_else(|| default_index.clone().map(Value::from))
            .unwrap_or(Value::Null);
        match name.as_str() {
            "index" | "create" => {
                let Some(source) = lines.next() else {
                    errors = true;
                    refuse(
                        &mut items,
                        name,
                        &index,
                        StatusCode::BAD_REQUEST,
                        "action_request_validation_exception",
                        "the document is missing".into(),
                    );
                    break;
                };
                match document(&shared, source) {
                    Ok(doc) => {
                        batch.data.extend_from_slice(&doc);
                        batch.ends.push(batch.data.len());
                        let id = meta.get("_id").cloned().unwrap_or_else(|| {
                            Value::from(format!("secops-{}-{}", batch.received, batch.ends.len()))
                        });
                        items.push(json!({name.as_str(): {"_index": index, "_id": id, "_version": 1, "result": "created", "status": 201}}));
                    }
                    Err((status, kind, reason)) => {
                        errors = true;
                        refuse(&mut items, name, &index, status, kind, reason);
                    }
                }
            }
            // update and delete carry no document to take (an update's source is a change, not an event)
            "update" => {
                let _ = lines.next();
                errors = true;
                refuse(
                    &mut items,
                    name,
                    &index,
                    StatusCode::BAD_REQUEST,
                    "illegal_argument_exception",
                    "secops takes index and create actions only".into(),
                );
            }
            other => {
                errors = true;
                refuse(
                    &mut items,
                    other,
                    &index,
                    StatusCode::BAD_REQUEST,
                    "illegal_argument_exception",
                    "secops takes index and create actions only".into(),
                );
            }
        }
    }
    if !hand_over(&shared, batch).await {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            "es_rejected_execution_exception",
            "the spool is full; retry later",
        );
    }
    Json(json!({"took": started.elapsed().as_millis() as u64, "errors": errors, "items": items}))
        .into_response()
}

/// `POST /ingest`: JSON lines; answers what was taken and, by line, what was refused.
async fn lines(State(shared): State<Shared>, body: Bytes) -> Response {
    let mut batch = Batch {
        received: secops_event::Timestamp::now().unix_nanos(),
        ..Batch::default()
    };
    let mut refused = Vec::new();
    for (number, line) in body.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match document(&shared, line) {
            Ok(doc) => {
                batch.data.extend_from_slice(&doc);
                batch.ends.push(batch.data.len());
            }
            Err((_, _, reason)) => {
                shared
                    .handoff
                    .metrics
                    .items_refused
                    .fetch_add(1, Ordering::Relaxed);
                refused.push(json!({"line": number + 1, "reason": reason}));
            }
        }
    }
    let accepted = batch.len();
    if !hand_over(&shared, batch).await {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            "spool_full",
            "the spool is full; retry later",
        );
    }
    let status = if refused.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    (
        status,
        Json(json!({"accepted": accepted, "refused": refused})),
    )
        .into_response()
}

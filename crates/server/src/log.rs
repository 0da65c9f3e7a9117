//! The server's log on standard error, one JSON object per line (so attacker-written paths and
//! names arrive escaped): an access line per request, and errors.

use std::io::Write;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::CallerName;
use crate::state::AppState;

fn line(value: &serde_json::Value) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{value}");
}

pub fn error(message: &str) {
    line(&serde_json::json!({
        "@timestamp": secops_event::Timestamp::now().to_rfc3339(),
        "log.level": "error",
        "message": message,
    }));
}

pub fn info(message: &str) {
    line(&serde_json::json!({
        "@timestamp": secops_event::Timestamp::now().to_rfc3339(),
        "log.level": "info",
        "message": message,
    }));
}

/// One line per request: time, client, method, path, status, duration, user (ECS names).
pub async fn access(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !state.settings.access_log {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let client = crate::auth::address(&request);
    let response = next.run(request).await;
    let user = response
        .extensions()
        .get::<CallerName>()
        .map(|c| c.0.clone());
    line(&serde_json::json!({
        "@timestamp": secops_event::Timestamp::now().to_rfc3339(),
        "event.dataset": "secops.access",
        "source.ip": client,
        "http.request.method": method,
        "url.path": path,
        "http.response.status_code": response.status().as_u16(),
        "event.duration": started.elapsed().as_nanos() as u64,
        "user.name": user,
    }));
    response
}

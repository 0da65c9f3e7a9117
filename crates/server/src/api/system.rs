//! Health, readiness and the OpenAPI document: public, for load balancers and clients.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// `ok`.
    pub status: String,
    pub version: String,
}

/// The process is up.
#[utoipa::path(get, path = "/api/v1/health", tag = "system", security(()),
    responses((status = 200, description = "Up", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// The store answers (a query on a pooled connection).
#[utoipa::path(get, path = "/api/v1/ready", tag = "system", security(()),
    responses((status = 200, description = "Ready", body = Health),
              (status = 503, description = "The store does not answer", body = crate::error::Problem)))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state
        .pool
        .run(None, |store| Ok(store.audit_head()?))
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.message))?;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system", security(()),
    responses((status = 200, description = "The document", content_type = "application/json")))]
pub async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        crate::doc::document_text(),
    )
}

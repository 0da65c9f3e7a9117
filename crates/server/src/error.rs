//! What a request gets back when it fails: a status and a JSON body `{error, message}`. Database
//! failures are logged whole and answered with a generic message (their text may name tables and
//! connection details); the rest say what was wrong with the request.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secops_service::ServiceError;
use secops_store::StoreError;

/// A failed request's body.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Problem {
    /// A stable code: `unauthenticated`, `totp_required`, `forbidden`, `csrf`, `not_found`,
    /// `invalid`, `conflict`, `too_large`, `timeout`, `busy`, `unavailable`, `internal`.
    pub error: String,
    /// What was wrong, for a person.
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A failure of the server itself: logged, answered without detail.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        crate::log::error(&format!("internal error: {detail}"));
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; the error is in its log",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(Problem {
                error: self.code.to_string(),
                message: self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"secops\""),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ApiError::not_found(e.to_string()),
            StoreError::Invalid(message) => ApiError::invalid(message),
            StoreError::Open { .. }
            | StoreError::Database(_)
            | StoreError::Migration { .. }
            | StoreError::Newer { .. }
            | StoreError::Corrupt(_) => ApiError::internal(e),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Store(e) => e.into(),
            ServiceError::Case(secops_case::CaseError::Store(e)) => e.into(),
            ServiceError::Case(
                e @ (secops_case::CaseError::IllegalMove { .. }
                | secops_case::CaseError::NotClosable { .. }),
            ) => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            ServiceError::Case(e) => ApiError::invalid(e.to_string()),
            ServiceError::Invalid { .. } | ServiceError::Missing(_) => {
                ApiError::invalid(e.to_string())
            }
            ServiceError::Vuln(e @ secops_vuln::VulnError::Format { .. }) => {
                ApiError::invalid(e.to_string())
            }
            other => ApiError::internal(other),
        }
    }
}

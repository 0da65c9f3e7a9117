//! Form fields as the browser sends them (`application/x-www-form-urlencoded`, a name repeated for
//! each checked box), and the CSRF token a form carries.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method};

use super::PageError;
use crate::auth::header_token;
use crate::error::ApiError;
use crate::state::AppState;

/// The name of the hidden field that carries the session's CSRF token.
pub const CSRF_FIELD: &str = "csrf";

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim() == "application/x-www-form-urlencoded")
        })
}

/// The CSRF token a change carries (htmx's `X-CSRF-Token` header, else the form's `csrf` field),
/// with the request given back whole. Reading the form keeps at most the server's body limit.
pub async fn csrf_token(
    state: &AppState,
    request: Request,
) -> Result<(Request, Option<String>), PageError> {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok((request, None));
    }
    if let Some(token) = header_token(request.headers()) {
        return Ok((request, Some(token)));
    }
    if !is_form(request.headers()) {
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, state.settings.body_limit)
        .await
        .map_err(|_| {
            PageError::from(ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the form is larger than the server takes ({} bytes)",
                    state.settings.body_limit
                ),
            ))
        })?;
    let token = form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == CSRF_FIELD)
        .map(|(_, value)| value.into_owned());
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

/// A form's fields in order, a name as often as the form sent it.
#[derive(Debug, Clone, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(bytes: &[u8]) -> Fields {
        Fields(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The field's first value, trimmed; none when absent or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The field's first value as sent (empty when absent).
    pub fn text(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// Every value of a field (the boxes checked).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// A comma-separated field's items, trimmed, the empty ones left out (`vpn, spraying`).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|text| {
                text.split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every value of a field as ids; a value that is not one is refused, naming it.
    pub fn ids(&self, name: &str) -> Result<Vec<i64>, PageError> {
        self.all(name)
            .iter()
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| PageError::invalid(format!("{name}: {v:?} is not an id")))
            })
            .collect()
    }

    /// The fields as a query string, without those named `name`.
    pub fn query_without(&self, name: &str) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.0.iter().filter(|(k, _)| k != name) {
            out.append_pair(k, v);
        }
        out.finish()
    }

    /// A field that must hold a number.
    pub fn number(&self, name: &str) -> Result<Option<i64>, PageError> {
        self.get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| PageError::invalid(format!("{name}: {v:?} is not a number")))
            })
            .transpose()
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_form(request.headers()) {
            return Err(PageError::invalid(
                "a form (application/x-www-form-urlencoded) was expected",
            ));
        }
        // Held to the server's body limit, as every extractor is.
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| PageError::invalid(format!("the form could not be read: {e}")))?;
        Ok(Fields::parse(&bytes))
    }
}

/// The query string's fields, as a form's.
pub fn query_fields(query: Option<&str>) -> Fields {
    Fields::parse(query.unwrap_or_default().as_bytes())
}

//! The console's scripts and styles, compiled into the binary: htmx (vendored, pinned), our
//! keyboard script and our style sheet. Served with their types, cached for a day (pages ask for
//! them with the build's version appended, so a new build is fetched anew).

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use super::PageError;
use crate::error::ApiError;

/// The pinned htmx release, as pages name it.
pub const HTMX: &str = "htmx-2.0.11.min.js";

/// Every asset: its name, type and bytes.
pub const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        HTMX,
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/htmx-2.0.11.min.js"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/console.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../assets/favicon.svg"),
    ),
];

/// `GET /static/{name}`.
pub async fn serve(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, bytes)) => {
            let mut response = bytes.into_response();
            let h = response.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
            h.insert(
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            );
            response
        }
        None => PageError::from(ApiError::not_found("no such file")).into_response(),
    }
}

/// `GET /favicon.ico`: browsers ask for it whatever the page says; the icon is the SVG one.
pub async fn favicon() -> Response {
    serve(axum::extract::Path("favicon.svg".to_string())).await
}

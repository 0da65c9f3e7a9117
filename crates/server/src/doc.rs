//! The OpenAPI 3.1 document, generated from the handlers' annotations together with the router (one
//! list of routes for both), then completed: every protected operation may also be called with the
//! session cookie (same permission), and every operation lists the failures any request may meet
//! (`400`, `414`; when protected `401`, `403`, `404` when it names something, `409` when it changes
//! something; `408`; `413` and `415` with a body; `500`) with the `Problem` body. The server reads
//! each route's permission from this document.

use std::sync::OnceLock;

use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{
    admin, alerts, cases, entities, hunts, intel, responses, rules, session, system, vulns,
};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "secops",
        description = "The secops API: alerts, cases, rules, hunts, intelligence, vulnerability findings, response automation, entities and risk, users, keys and the audit log. Authenticate with an API key (`Authorization: Bearer secops_<id>_<secret>`) or a session cookie from `POST /api/v1/login` (then send the session's `X-CSRF-Token` with every change). Each operation's security scope is the permission it needs."
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&Schemes),
    tags(
        (name = "system", description = "Health, readiness, this document"),
        (name = "session", description = "Signing in and out, sessions"),
        (name = "alerts", description = "Alert triage"),
        (name = "cases", description = "Incident response cases"),
        (name = "rules", description = "The loaded rules, their tests, their ATT&CK coverage"),
        (name = "hunts", description = "Hunts over the event lake; saved hunts"),
        (name = "intel", description = "Indicators: search, import, counts"),
        (name = "vulns", description = "Vulnerability findings: the queue, risk acceptance, closing, the SLA"),
        (name = "responses", description = "Response automation: runs, requests, approvals, rollbacks, what happened to an alert's actions, replays"),
        (name = "entities", description = "Hosts, users and addresses; risk"),
        (name = "admin", description = "Users, API keys, the audit log"),
    )
)]
struct ApiDoc;

struct Schemes;

impl Modify for Schemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("secops_<id>_<secret>")
                    .description(Some(
                        "An API key from `secops key create` or POST /api/v1/keys",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The cookie POST /api/v1/login sets; changes also need the X-CSRF-Token header",
            ))),
        );
    }
}

/// The router and its document, from one list of routes.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::health))
        .routes(routes!(system::ready))
        .routes(routes!(system::openapi))
        .routes(routes!(session::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .routes(routes!(session::sessions))
        .routes(routes!(session::revoke_session))
        .routes(routes!(session::change_password))
        .routes(routes!(session::begin_totp))
        .routes(routes!(session::confirm_totp))
        .routes(routes!(session::reset_totp))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::show))
        .routes(routes!(alerts::acknowledge))
        .routes(routes!(alerts::close))
        .routes(routes!(alerts::assign))
        .routes(routes!(alerts::tag))
        .routes(routes!(alerts::bulk))
        .routes(routes!(alerts::groups))
        .routes(routes!(entities::volume))
        .routes(routes!(entities::leaders))
        .routes(routes!(entities::show))
        .routes(routes!(rules::list))
        .routes(routes!(rules::tests))
        .routes(routes!(rules::coverage))
        .routes(routes!(hunts::run))
        .routes(routes!(hunts::list_saved, hunts::save))
        .routes(routes!(hunts::delete_saved))
        .routes(routes!(intel::search))
        .routes(routes!(intel::import))
        .routes(routes!(intel::stats))
        .routes(routes!(vulns::list))
        .routes(routes!(vulns::sla))
        .routes(routes!(vulns::show))
        .routes(routes!(vulns::accept))
        .routes(routes!(vulns::close))
        .routes(routes!(responses::list, responses::request))
        .routes(routes!(responses::show))
        .routes(routes!(responses::approve))
        .routes(routes!(responses::reject))
        .routes(routes!(responses::rollback))
        .routes(routes!(responses::simulate))
        .routes(routes!(responses::why))
        .routes(routes!(cases::list, cases::open))
        .routes(routes!(cases::show))
        .routes(routes!(cases::add_alerts))
        .routes(routes!(cases::move_to))
        .routes(routes!(cases::assign))
        .routes(routes!(cases::add_note))
        .routes(routes!(cases::close))
        .routes(routes!(cases::reopen))
        .routes(routes!(cases::add_task))
        .routes(routes!(cases::set_task))
        .routes(routes!(cases::add_observable))
        .routes(routes!(cases::add_timeline_entry))
        .routes(routes!(cases::report))
        .routes(routes!(cases::metrics))
        .routes(routes!(admin::list_users, admin::add_user))
        .routes(routes!(admin::change_user))
        .routes(routes!(admin::list_keys, admin::create_key))
        .routes(routes!(admin::revoke_key))
        .routes(routes!(admin::audit))
        .routes(routes!(admin::verify_audit))
        .split_for_parts()
}

/// The completed document.
pub fn document() -> &'static serde_json::Value {
    static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(routes().1).unwrap_or_default();
        complete(&mut doc);
        doc
    })
}

/// The completed document as JSON text.
pub fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| serde_json::to_string_pretty(document()).unwrap_or_default())
}

fn problem(description: &str) -> serde_json::Value {
    serde_json::json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn complete(doc: &mut serde_json::Value) {
    if let Some(info) = doc.get_mut("info").and_then(|i| i.as_object_mut()) {
        info.insert("version".into(), env!("CARGO_PKG_VERSION").into());
        info.remove("license");
        info.remove("contact");
    }
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            let mutating = matches!(method.as_str(), "post" | "put" | "patch" | "delete");
            let Some(operation) = operation.as_object_mut() else {
                continue;
            };
            let names_something = operation
                .get("parameters")
                .and_then(|p| p.as_array())
                .is_some_and(|p| p.iter().any(|p| p["in"] == "path"));
            let mut protected = false;
            let has_body = operation.contains_key("requestBody");
            if let Some(security) = operation.get_mut("security").and_then(|s| s.as_array_mut()) {
                let scopes = security.iter().find_map(|r| r.get("api_key").cloned());
                if let Some(scopes) = scopes {
                    protected = true;
                    security.push(serde_json::json!({ "session": scopes }));
                }
            }
            let responses = operation
                .entry("responses")
                .or_insert_with(|| serde_json::json!({}));
            let Some(responses) = responses.as_object_mut() else {
                continue;
            };
            // The HTTP layer refuses a request line past its limit before the API sees it.
            responses
                .entry("414".to_string())
                .or_insert_with(|| serde_json::json!({"description": "The URI is too long"}));
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_string())
                    .or_insert_with(|| problem(description));
            };
            add("400", "The request is not valid: the message says why");

            if protected && (names_something || has_body) {
                add("404", "Something the request names does not exist");
            }
            if protected && mutating {
                add(
                    "409",
                    "The change conflicts with the state of what it changes",
                );
            }
            if protected {
                add("401", "No credentials, or credentials no longer valid");
                add(
                    "403",
                    "The role lacks the permission, or a cookie request lacks its CSRF token",
                );
            }
            add("408", "The request took longer than the server allows");
            if has_body {
                add("413", "The request body is larger than the server accepts");
                add("415", "The request body is not `application/json`");
            }
            add("500", "The server failed; the error is in its log");
        }
    }
}

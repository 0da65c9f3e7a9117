//! Rules as detection engineers meet the analysts' feedback: the loaded rules, the tuning tickets
//! analysts opened from alerts ("this rule is noisy"), the exceptions in force (removable, and
//! exported as rule TOML to go into the rules' files), and the ATT&CK coverage as a heatmap.

use askama::Template;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use secops_auth::role;

use super::form::{query_fields, Fields};
use super::view::{self, html, may, shown, when, Chrome};
use super::PageError;
use crate::api::as_caller;
use crate::auth::Caller;
use crate::state::AppState;

pub struct RuleRow {
    pub id: String,
    pub name: String,
    pub rule_type: String,
    pub severity: String,
    pub techniques: String,
    pub tests: usize,
    pub field_check: String,
    pub tickets: usize,
    pub alerts: String,
}

pub struct TicketRow {
    pub id: i64,
    pub rule: String,
    pub reason: String,
    pub by: String,
    pub at: String,
    pub alert: String,
    pub state: String,
    pub outcome: String,
}

pub struct ExceptionRow {
    pub id: i64,
    pub rule: String,
    pub field: String,
    pub value: String,
    pub reason: String,
    pub by: String,
    pub expires: String,
    pub alert: String,
}

pub struct RulesView {
    pub rules: Vec<RuleRow>,
    pub total: usize,
    pub rejected: Vec<String>,
    pub filter: String,
    pub tickets: Vec<TicketRow>,
    pub exceptions: Vec<ExceptionRow>,
    pub can_write: bool,
    pub notice: String,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct RulesPage<'a> {
    chrome: Chrome,
    r: &'a RulesView,
}

/// `GET /rules?q=`: the rules (filtered by id, name or technique), tickets and exceptions.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, PageError> {
    let fields = query_fields(uri.query());
    let filter = fields.get("q").unwrap_or_default();
    let rules = crate::api::rules::rules(&state).await?;
    let now = state.now();
    let (tickets, exceptions) = as_caller(&state, &caller, move |store| {
        Ok((store.tickets(false)?, store.exceptions(None, Some(now))?))
    })
    .await?;
    let needle = filter.to_lowercase();
    let mut open_tickets: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for t in tickets.iter().filter(|t| t.state == "open") {
        *open_tickets.entry(t.rule_id.as_str()).or_default() += 1;
    }
    let listing = rules.listing();
    let view = RulesView {
        total: listing.len(),
        rules: listing
            .iter()
            .filter(|r| {
                needle.is_empty()
                    || r.id.to_lowercase().contains(&needle)
                    || r.name.to_lowercase().contains(&needle)
                    || r.techniques.iter().any(|t| {
                        let t = t.to_lowercase();
                        t == needle || t.starts_with(&format!("{needle}."))
                    })
            })
            .map(|r| RuleRow {
                id: shown(&r.id).into_owned(),
                name: shown(&r.name).into_owned(),
                rule_type: r.rule_type.clone(),
                severity: r.severity.clone(),
                techniques: r.techniques.join(", "),
                tests: r.tests,
                field_check: r.field_check.clone(),
                tickets: open_tickets.get(r.id.as_str()).copied().unwrap_or(0),
                alerts: format!(
                    "/alerts?{}",
                    view::query([("status", ""), ("rule", r.id.as_str())])
                ),
            })
            .collect(),
        rejected: rules
            .rejected()
            .iter()
            .map(|r| shown(r).into_owned())
            .collect(),
        filter: shown(&filter).into_owned(),
        tickets: tickets
            .iter()
            .map(|t| TicketRow {
                id: t.id,
                rule: shown(&t.rule_name).into_owned(),
                reason: shown(&t.reason).into_owned(),
                by: shown(&t.opened_by).into_owned(),
                at: when(t.opened_at),
                alert: t
                    .alert_id
                    .map(|a| format!("/alerts/{a}"))
                    .unwrap_or_default(),
                state: t.state.clone(),
                outcome: t
                    .outcome
                    .as_deref()
                    .map(shown)
                    .unwrap_or_default()
                    .into_owned(),
            })
            .collect(),
        exceptions: exceptions
            .iter()
            .map(|e| ExceptionRow {
                id: e.id,
                rule: shown(&e.rule_id).into_owned(),
                field: shown(&e.field).into_owned(),
                value: shown(&e.value).into_owned(),
                reason: shown(&e.reason).into_owned(),
                by: shown(&e.created_by).into_owned(),
                expires: e.expires_at.map(when).unwrap_or_else(|| "never".into()),
                alert: e
                    .alert_id
                    .map(|a| format!("/alerts/{a}"))
                    .unwrap_or_default(),
            })
            .collect(),
        can_write: may(&state, &caller, role::RULES_WRITE),
        notice: match fields.get("done").as_deref() {
            Some("ticket") => "Ticket closed".into(),
            Some("exception") => "Exception removed".into(),
            _ => String::new(),
        },
        csrf: caller.csrf.clone().unwrap_or_default(),
    };
    Ok(html(&RulesPage {
        chrome: Chrome::new(&state, &caller, "/rules", "Rules"),
        r: &view,
    }))
}

/// `POST /rules/tickets/{id}/close`: what was done about it.
pub async fn close_ticket(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    fields: Fields,
) -> Result<Response, PageError> {
    let outcome = fields.get("outcome").ok_or_else(|| {
        PageError::invalid("closing a ticket: say what was done (tuned, won't fix, ...)")
    })?;
    let by = caller.principal.name.clone();
    let now = state.now();
    as_caller(&state, &caller, move |store| {
        Ok(store.close_ticket(id, &outcome, &by, now)?)
    })
    .await?;
    Ok(view::see_other("/rules?done=ticket"))
}

/// `POST /rules/exceptions/{id}/remove`.
pub async fn remove_exception(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Response, PageError> {
    let now = state.now();
    as_caller(&state, &caller, move |store| {
        Ok(store.remove_exception(id, now)?)
    })
    .await?;
    Ok(view::see_other("/rules?done=exception"))
}

/// `GET /rules/exceptions.toml?rule=`: the exceptions in force as rule TOML.
pub async fn export_exceptions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, PageError> {
    let rule = query_fields(uri.query()).get("rule");
    let now = state.now();
    let records = as_caller(&state, &caller, move |store| {
        Ok(store.exceptions(rule.as_deref(), Some(now))?)
    })
    .await?;
    let text = secops_service::rules::exceptions_toml(&records).map_err(|e| PageError(e.into()))?;
    let mut response = text.into_response();
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/toml; charset=utf-8"),
    );
    h.insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"exceptions.toml\""),
    );
    Ok(response)
}

pub struct HeatCell {
    pub id: String,
    pub name: String,
    pub rules: usize,
    /// 0 (none) to 4 (many), for the cell's colour.
    pub level: u8,
    pub href: String,
}

pub struct HeatColumn {
    pub tactic: String,
    pub covered: usize,
    pub cells: Vec<HeatCell>,
}

#[derive(Template)]
#[template(path = "coverage.html")]
struct CoveragePage {
    chrome: Chrome,
    columns: Vec<HeatColumn>,
    covered: usize,
    total: usize,
    problem: String,
}

/// `GET /rules/coverage`: the ATT&CK matrix, each technique coloured by how many rules cover it.
pub async fn coverage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, PageError> {
    let chrome = Chrome::new(&state, &caller, "/rules", "ATT&CK coverage");
    let catalogue = match crate::api::rules::attack(&state).await {
        Ok(catalogue) => catalogue,
        Err(e) if e.status == axum::http::StatusCode::CONFLICT => {
            return Ok(html(&CoveragePage {
                chrome,
                columns: Vec::new(),
                covered: 0,
                total: 0,
                problem: e.message,
            }))
        }
        Err(e) => return Err(e.into()),
    };
    let rules = crate::api::rules::rules(&state).await?;
    let matrix = tokio::task::spawn_blocking(move || rules.matrix(&catalogue))
        .await
        .map_err(crate::error::ApiError::internal)?;
    let level = |n: usize| match n {
        0 => 0,
        1 => 1,
        2..=3 => 2,
        4..=9 => 3,
        _ => 4,
    };
    let columns: Vec<HeatColumn> = matrix
        .into_iter()
        .map(|(tactic, cells)| HeatColumn {
            covered: cells.iter().filter(|c| c.rules > 0).count(),
            tactic,
            cells: cells
                .into_iter()
                .map(|c| HeatCell {
                    href: format!("/rules?{}", view::query([("q", c.id.as_str())])),
                    level: level(c.rules),
                    rules: c.rules,
                    id: c.id,
                    name: c.name,
                })
                .collect(),
        })
        .collect();
    // A technique serving several tactics is one technique, covered if any of its cells is.
    let mut techniques: std::collections::BTreeMap<&str, bool> = std::collections::BTreeMap::new();
    for cell in columns.iter().flat_map(|c| &c.cells) {
        *techniques.entry(cell.id.as_str()).or_default() |= cell.rules > 0;
    }
    let covered = techniques.values().filter(|c| **c).count();
    let total = techniques.len();
    Ok(html(&CoveragePage {
        chrome,
        columns,
        covered,
        total,
        problem: String::new(),
    }))
}

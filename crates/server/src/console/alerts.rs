//! The alert queue and an alert's page. The queue is filtered by the address bar (so a view is a
//! link), grouped by up to three fields with counts, paged by keyset (a deep page costs what the
//! first does), and triaged in bulk (the boxes checked, or every alert the filters match up to
//! 10,000, never fewer than asked without saying so) or one alert at a time from the keyboard.
//! An alert's page shows its events field by field with hunts to pivot to, the top values of a field
//! over the rule's recent alerts, the alerts that share its hosts, users and addresses, the cases
//! those are in, and the rule's investigation guide.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use secops_auth::role;
use secops_store::{AlertFilter, AlertRecord, BulkChange, CaseFilter, Store};

use super::form::{query_fields, Fields};
use super::hunts::{column, literal};
use super::view::{self, html, may, shown, when, Chrome};
use super::{wants_fragment, PageError};
use crate::api::alerts::{cursor_text, group_fields, parse_cursor, Filters, Status, BULK_MAX};
use crate::api::cases::at_desk;
use crate::api::{actor, as_caller};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Close reasons offered (Elastic's and TheHive's, as `secops alert close` takes them).
pub const RESOLUTIONS: &[(&str, &str)] = &[
    ("false_positive", "False positive"),
    ("true_positive", "True positive"),
    ("benign", "Benign (expected activity)"),
    ("duplicate", "Duplicate"),
];

const SINCE: &[(&str, &str)] = &[
    ("15m", "Last 15 minutes"),
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("", "Any time"),
];

const STATUSES: &[(&str, &str)] = &[
    ("open", "Open"),
    ("acknowledged", "Acknowledged"),
    ("closed", "Closed"),
    ("", "Any status"),
];

const SEVERITIES: &[(&str, &str)] = &[
    ("", "Any severity"),
    ("critical", "Critical"),
    ("high", "High"),
    ("medium", "Medium"),
    ("low", "Low"),
    ("informational", "Informational"),
];

/// An option of a select box.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

fn choices(options: &'static [(&str, &str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value,
            label,
            selected: *value == current,
        })
        .collect()
}

/// The queue's filters, as text (what the form shows back).
#[derive(Debug, Clone, Default)]
pub struct QueueFilters {
    pub status: String,
    pub rule: String,
    pub severity: String,
    pub assignee: String,
    pub tag: String,
    pub host: String,
    pub user: String,
    pub ip: String,
    pub since: String,
    pub group: String,
}

impl QueueFilters {
    fn read(fields: &Fields) -> QueueFilters {
        let get = |name: &str| fields.text(name).trim().to_string();
        QueueFilters {
            status: get("status"),
            rule: get("rule"),
            severity: get("severity"),
            assignee: get("assignee"),
            tag: get("tag"),
            host: get("host"),
            user: get("user"),
            ip: get("ip"),
            since: get("since"),
            group: get("group"),
        }
    }

    pub fn pairs(&self) -> [(&'static str, &str); 10] {
        [
            ("status", &self.status),
            ("rule", &self.rule),
            ("severity", &self.severity),
            ("assignee", &self.assignee),
            ("tag", &self.tag),
            ("host", &self.host),
            ("user", &self.user),
            ("ip", &self.ip),
            ("since", &self.since),
            ("group", &self.group),
        ]
    }

    /// The query string of these filters (`status` always there, so the empty default view and
    /// "any status" differ).
    fn query(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        out.append_pair("status", &self.status);
        for (k, v) in self.pairs().into_iter().skip(1) {
            if !v.is_empty() {
                out.append_pair(k, v);
            }
        }
        out.finish()
    }

    /// The store's filter, `now` deciding relative times.
    fn filter(&self, now: i64) -> Result<AlertFilter, ApiError> {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let status = match self.status.as_str() {
            "" => None,
            "open" => Some(Status::Open),
            "acknowledged" => Some(Status::Acknowledged),
            "closed" => Some(Status::Closed),
            other => {
                return Err(ApiError::invalid(format!(
                    "status: {other:?} is not open, acknowledged or closed"
                )))
            }
        };
        let since = match relative(&self.since) {
            Some(span) => Some(crate::api::time(now.saturating_sub(span))),
            None => opt(&self.since),
        };
        Filters {
            status,
            rule: opt(&self.rule),
            since,
            severity: opt(&self.severity),
            // "none" lists the alerts nobody is on.
            assignee: match self.assignee.as_str() {
                "" => None,
                "none" => Some(String::new()),
                a => Some(a.to_string()),
            },
            tag: opt(&self.tag),
            host: opt(&self.host.to_lowercase()),
            user: opt(&self.user.to_lowercase()),
            ip: opt(&self.ip),
        }
        .filter()
    }
}

/// `15m`, `1h`, `24h`, `7d`, `30d` in nanoseconds.
fn relative(text: &str) -> Option<i64> {
    let (number, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: i64 = number.parse().ok().filter(|n| *n > 0)?;
    let unit = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(unit)?.checked_mul(1_000_000_000)
}

/// An alert as a row of the queue.
pub struct Row {
    pub id: i64,
    pub href: String,
    pub rule: String,
    pub severity: String,
    pub key: String,
    pub first_seen: String,
    pub last_seen: String,
    pub events: u64,
    pub status: &'static str,
    pub resolution: String,
    pub assignee: String,
    pub tags: String,
    pub case_href: String,
    /// Shown with a box to check (the caller may triage).
    pub selectable: bool,
}

impl Row {
    pub fn of(alert: &AlertRecord, selectable: bool) -> Row {
        Row {
            id: alert.id,
            href: format!("/alerts/{}", alert.id),
            rule: shown(&alert.rule_name).into_owned(),
            severity: alert.severity.clone(),
            key: shown(&alert.group_key).into_owned(),
            first_seen: when(alert.first_seen),
            last_seen: when(alert.last_seen),
            events: alert.event_count,
            status: alert.status.as_str(),
            resolution: alert
                .resolution
                .as_deref()
                .map(shown)
                .unwrap_or_default()
                .into_owned(),
            assignee: alert
                .assignee
                .as_deref()
                .map(shown)
                .unwrap_or_default()
                .into_owned(),
            tags: shown(&alert.tags.join(", ")).into_owned(),
            case_href: alert
                .case_id
                .map(|id| format!("/cases/id/{id}"))
                .unwrap_or_default(),
            selectable,
        }
    }
}

/// A group of the grouped queue.
pub struct GroupRow {
    pub values: Vec<String>,
    pub alerts: i64,
    /// The queue filtered to the group.
    pub href: String,
}

/// Everything the queue shows.
pub struct QueueView {
    pub f: QueueFilters,
    pub statuses: Vec<Choice>,
    pub severities: Vec<Choice>,
    pub since: Vec<Choice>,
    pub resolutions: &'static [(&'static str, &'static str)],
    pub grouped: bool,
    pub group_names: Vec<String>,
    pub groups: Vec<GroupRow>,
    pub groups_more: bool,
    pub rows: Vec<Row>,
    pub next_href: String,
    pub first_href: String,
    /// This view's address (where a change comes back to).
    pub here: String,
    pub export_href: String,
    pub notice: String,
    pub can_triage: bool,
    pub can_escalate: bool,
    pub default_view: bool,
    /// The session's CSRF token (the fragment's forms carry it too).
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage<'a> {
    chrome: Chrome,
    q: &'a QueueView,
}

#[derive(Template)]
#[template(path = "queue.html", block = "results")]
struct QueueResults<'a> {
    q: &'a QueueView,
}

#[derive(Template)]
#[template(path = "alert_row.html")]
struct RowFragment<'a> {
    row: &'a Row,
}

/// What a finished change says on the page it comes back to (from fixed text: the address bar
/// chooses which, never what it says).
fn notice(fields: &Fields) -> String {
    let n = fields.number("n").ok().flatten().unwrap_or(0);
    let refused = fields.number("refused").ok().flatten().unwrap_or(0);
    let case = fields.number("case").ok().flatten();
    let alerts = |n: i64| {
        if n == 1 {
            "1 alert".to_string()
        } else {
            format!("{n} alerts")
        }
    };
    let mut text = match fields.get("done").as_deref() {
        Some("acknowledged") => format!("{} acknowledged", alerts(n)),
        Some("closed") => format!("{} closed", alerts(n)),
        Some("assigned") => format!("{} assigned", alerts(n)),
        Some("tagged") => format!("{} tagged", alerts(n)),
        Some("escalated") => match case {
            Some(c) => format!("{} escalated to case #{c}", alerts(n)),
            None => format!("{} escalated", alerts(n)),
        },
        Some("merged") => match case {
            Some(c) => format!("{} merged into case #{c}", alerts(n)),
            None => format!("{} merged", alerts(n)),
        },
        Some("view") => "This view is now your default".to_string(),
        Some("view_cleared") => "Your default view is cleared".to_string(),
        Some("exception") => {
            "Exception added: the rule skips such events from its next load".into()
        }
        Some("ticket") => "Tuning ticket opened for detection engineering".to_string(),
        _ => return String::new(),
    };
    if refused > 0 {
        text.push_str(&format!(
            "; {} left as they were (closed already, or not open)",
            alerts(refused)
        ));
    }
    text
}

/// `GET /alerts`: the queue (a fragment for htmx).
pub async fn queue(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let mut fields = query_fields(uri.query());
    let user = caller.principal.name.clone();
    let saved = as_caller(&state, &caller, move |store| {
        Ok(store.view(&user, "alerts")?)
    })
    .await?;
    let default_view = saved.is_some();
    if uri.query().unwrap_or_default().is_empty() {
        // No filters in the address: the person's default view, else the open alerts.
        fields = match &saved {
            Some(query) => Fields::parse(query.as_bytes()),
            None => Fields::parse(b"status=open"),
        };
    }
    let f = QueueFilters::read(&fields);
    let now = state.now();
    let mut filter = f.filter(now)?;
    filter.after = fields
        .get("after")
        .as_deref()
        .map(parse_cursor)
        .transpose()?;
    let limit: u32 = match fields.number("limit")? {
        None => 50,
        Some(n) if (1..=500).contains(&n) => n as u32,
        Some(_) => return Err(PageError::invalid("limit: 1 to 500 alerts a page")),
    };
    let grouping = if f.group.is_empty() {
        None
    } else {
        Some(group_fields(&f.group)?)
    };
    let list_filter = filter.clone();
    let group_filter = AlertFilter {
        after: None,
        ..filter
    };
    let by = grouping.as_ref().map(|(_, by)| by.clone());
    let (page, groups) = as_caller(&state, &caller, move |store| {
        let page = secops_service::alerts::list(store, &list_filter, limit)?;
        let groups = match by {
            Some(by) => Some(store.alert_groups(&group_filter, &by, 51)?),
            None => None,
        };
        Ok((page, groups))
    })
    .await?;
    let base = f.query();
    let can_triage = may(&state, &caller, role::ALERTS_TRIAGE);
    let (group_names, groups, groups_more) = match (grouping, groups) {
        (Some((names, _)), Some(mut found)) => {
            let more = found.len() > 50;
            found.truncate(50);
            let rows = found
                .into_iter()
                .map(|g| {
                    let mut narrowed = f.clone();
                    narrowed.group.clear();
                    for (name, value) in names.iter().zip(&g.values) {
                        let value = value.clone().unwrap_or_default();
                        match name.as_str() {
                            "rule" => narrowed.rule = value,
                            "severity" => narrowed.severity = value,
                            "status" => narrowed.status = value,
                            "assignee" => {
                                narrowed.assignee = if value.is_empty() {
                                    "none".into()
                                } else {
                                    value
                                }
                            }
                            "tag" => narrowed.tag = value,
                            "host" => narrowed.host = value,
                            "user" => narrowed.user = value,
                            _ => narrowed.ip = value,
                        }
                    }
                    GroupRow {
                        values: g
                            .values
                            .iter()
                            .map(|v| {
                                v.as_deref()
                                    .map(shown)
                                    .unwrap_or("(none)".into())
                                    .into_owned()
                            })
                            .collect(),
                        alerts: g.alerts,
                        href: format!("/alerts?{}", narrowed.query()),
                    }
                })
                .collect();
            (names, rows, more)
        }
        _ => (Vec::new(), Vec::new(), false),
    };
    let view = QueueView {
        statuses: choices(STATUSES, &f.status),
        severities: choices(SEVERITIES, &f.severity),
        since: choices(SINCE, &f.since),
        resolutions: RESOLUTIONS,
        grouped: !group_names.is_empty(),
        group_names,
        groups,
        groups_more,
        rows: page.items.iter().map(|a| Row::of(a, can_triage)).collect(),
        next_href: page
            .next
            .map(|c| {
                format!(
                    "/alerts?{base}&{}",
                    view::query([("after", cursor_text(&c).as_str())])
                )
            })
            .unwrap_or_default(),
        first_href: if fields.get("after").is_some() {
            format!("/alerts?{base}")
        } else {
            String::new()
        },
        here: format!("/alerts?{base}"),
        export_href: format!("/alerts/export.csv?{base}"),
        notice: notice(&fields),
        can_triage,
        can_escalate: may(&state, &caller, role::CASES_WRITE),
        default_view,
        csrf: caller.csrf.clone().unwrap_or_default(),
        f,
    };
    if wants_fragment(&headers) {
        return Ok(html(&QueueResults { q: &view }));
    }
    Ok(html(&QueuePage {
        chrome: Chrome::new(&state, &caller, "/alerts", "Alerts"),
        q: &view,
    }))
}

/// `POST /alerts/view`: keeps the queue's filters as the caller's default view (or forgets it).
pub async fn save_view(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    fields: Fields,
) -> Result<Response, PageError> {
    let f = QueueFilters::read(&fields);
    // The filters must make sense before they become the default.
    f.filter(state.now())?;
    let clear = fields.get("clear").is_some();
    let query = if clear { String::new() } else { f.query() };
    let user = caller.principal.name.clone();
    let now = state.now();
    let kept = query.clone();
    as_caller(&state, &caller, move |store| {
        Ok(store.save_view(&user, "alerts", &kept, now)?)
    })
    .await?;
    let done = if clear { "view_cleared" } else { "view" };
    Ok(view::see_other(&format!(
        "/alerts?{}&done={done}",
        f.query()
    )))
}

/// The alerts a bulk change is for: the boxes checked, or every alert the filters match (refused
/// when more than 10,000 do, rather than changing some of them).
async fn chosen(state: &AppState, caller: &Caller, fields: &Fields) -> Result<Vec<i64>, PageError> {
    if fields.get("scope").as_deref() == Some("matching") {
        let filter = AlertFilter {
            limit: Some(BULK_MAX as u32 + 1),
            ..QueueFilters::read(fields).filter(state.now())?
        };
        let ids = as_caller(state, caller, move |store| Ok(store.alert_ids(&filter)?)).await?;
        if ids.len() > BULK_MAX {
            return Err(PageError::invalid(format!(
                "more than {BULK_MAX} alerts match these filters: narrow them (a time range, a rule) and try again"
            )));
        }
        if ids.is_empty() {
            return Err(PageError::invalid("no alert matches these filters"));
        }
        return Ok(ids);
    }
    let ids = fields.ids("id")?;
    if ids.is_empty() {
        return Err(PageError::invalid(
            "no alert chosen: check the boxes of the alerts to change, or choose every alert matching the filters",
        ));
    }
    if ids.len() > BULK_MAX {
        return Err(PageError::invalid(format!(
            "at most {BULK_MAX} alerts at once"
        )));
    }
    Ok(ids)
}

/// Where a change goes back to: the page it came from, if it is one of ours.
fn back(fields: &Fields, default: &str) -> String {
    fields
        .get("return")
        .filter(|r| view::local_path(r))
        .unwrap_or_else(|| default.to_string())
}

/// `done` and its counts added to a page's address.
fn with_done(target: &str, done: &str, n: usize, refused: usize, case: Option<i64>) -> String {
    let mut url = strip_notice(target);
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&format!("done={done}&n={n}"));
    if refused > 0 {
        url.push_str(&format!("&refused={refused}"));
    }
    if let Some(case) = case {
        url.push_str(&format!("&case={case}"));
    }
    url
}

/// An address without a notice's parameters (so notices do not pile up).
fn strip_notice(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let kept: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| !matches!(k.as_ref(), "done" | "n" | "refused" | "case"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        return path.to_string();
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &kept {
        out.append_pair(k, v);
    }
    format!("{path}?{}", out.finish())
}

/// A case's number from the form (`#12` or `12`).
pub(crate) fn case_number(fields: &Fields) -> Result<Option<i64>, PageError> {
    fields
        .get("case")
        .map(|c| {
            c.trim_start_matches('#')
                .parse::<i64>()
                .map_err(|_| PageError::invalid(format!("case: {c:?} is not a case number")))
        })
        .transpose()
}

/// Escalates alerts: merged into an existing case (`case`), else a new case opened from them; a
/// comment becomes the case's first note. Returns the case's number.
async fn escalate_to_case(
    state: &AppState,
    caller: &Caller,
    ids: Vec<i64>,
    case: Option<i64>,
    title: Option<String>,
    comment: Option<String>,
) -> Result<i64, PageError> {
    let number = at_desk(state, caller, move |desk, playbooks| {
        let record = match case {
            Some(number) => desk.add_alerts(number, &ids)?,
            None => desk.open_from_alerts(
                playbooks,
                &secops_case::FromAlerts {
                    alert_ids: ids.clone(),
                    title,
                    ..secops_case::FromAlerts::default()
                },
            )?,
        };
        if let Some(comment) = comment {
            desk.add_note(record.number, &comment)?;
        }
        Ok(record.number)
    })
    .await?;
    Ok(number)
}

/// `POST /alerts/bulk`: acknowledge, close with a reason, assign, tag, escalate to a new case or
/// merge into an existing one: the boxes checked or every alert the filters match.
pub async fn bulk(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    fields: Fields,
) -> Result<Response, PageError> {
    let action = fields.get("action").unwrap_or_default();
    let target = back(&fields, "/alerts");
    let ids = chosen(&state, &caller, &fields).await?;
    let n = ids.len();
    if matches!(action.as_str(), "escalate" | "merge") {
        if !may(&state, &caller, role::CASES_WRITE) {
            return Err(PageError(ApiError::forbidden(format!(
                "the role {} lacks cases:write",
                caller.principal.role
            ))));
        }
        let case = if action == "merge" {
            Some(
                case_number(&fields)?
                    .ok_or_else(|| PageError::invalid("merge: which case? (its number)"))?,
            )
        } else {
            None
        };
        let number = escalate_to_case(
            &state,
            &caller,
            ids,
            case,
            fields.get("title"),
            fields.get("comment"),
        )
        .await?;
        let done = if case.is_some() {
            "merged"
        } else {
            "escalated"
        };
        return Ok(view::see_other(&with_done(
            &target,
            done,
            n,
            0,
            Some(number),
        )));
    }
    let (done, resolution, assignee, tags) = match action.as_str() {
        "acknowledge" => ("acknowledged", None, None, Vec::new()),
        "close" => (
            "closed",
            Some(fields.get("resolution").ok_or_else(|| {
                PageError::invalid("close: choose a reason (false positive, true positive, ...)")
            })?),
            None,
            Vec::new(),
        ),
        // The form echoes the filters under their own names: the change's fields are named apart.
        "assign" => ("assigned", None, fields.get("assign_to"), Vec::new()),
        "tag" => ("tagged", None, None, fields.list("add_tags")),
        "" => return Err(PageError::invalid("choose an action")),
        other => {
            return Err(PageError::invalid(format!(
                "action: {other:?} is not acknowledge, close, assign, tag, escalate or merge"
            )))
        }
    };
    if done == "tagged" && tags.is_empty() {
        return Err(PageError::invalid("tag: which tag?"));
    }
    let who = actor(&caller);
    let now = state.now();
    let outcome = as_caller(&state, &caller, move |store| {
        let change = match done {
            "acknowledged" => BulkChange::Acknowledge,
            "closed" => BulkChange::Close {
                resolution: resolution.as_deref().unwrap_or_default(),
            },
            "assigned" => BulkChange::Assign {
                assignee: assignee.as_deref(),
            },
            _ => BulkChange::Tag {
                add: &tags,
                remove: &[],
            },
        };
        Ok(store.bulk_change_alerts(&ids, change, &who.name, now)?)
    })
    .await?;
    Ok(view::see_other(&with_done(
        &target,
        done,
        outcome.changed.len(),
        outcome.refused.len(),
        None,
    )))
}

/// After a change to one alert: its row again (htmx on the queue), else back to where it came
/// from.
async fn changed(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    fields: &Fields,
    alert: AlertRecord,
    done: &str,
    case: Option<i64>,
) -> Result<Response, PageError> {
    let row_target = headers
        .get("hx-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("alert-"));
    if wants_fragment(headers) && row_target {
        let row = Row::of(&alert, may(state, caller, role::ALERTS_TRIAGE));
        return Ok(html(&RowFragment { row: &row }));
    }
    let target = back(fields, &format!("/alerts/{}", alert.id));
    Ok(view::see_other(&with_done(&target, done, 1, 0, case)))
}

/// One alert changed through the service as the caller, then its row or the page it came from.
async fn change_one<F>(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    fields: &Fields,
    done: &str,
    work: F,
) -> Result<Response, PageError>
where
    F: FnOnce(
            &mut Store,
            &secops_service::Actor,
            &dyn secops_service::Clock,
        ) -> Result<AlertRecord, secops_service::ServiceError>
        + Send
        + 'static,
{
    let who = actor(caller);
    let clock = state.clock.clone();
    let alert = as_caller(state, caller, move |store| {
        Ok(work(store, &who, clock.as_ref())?)
    })
    .await?;
    changed(state, caller, headers, fields, alert, done, None).await
}

/// `POST /alerts/{id}/acknowledge`.
pub async fn acknowledge(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, PageError> {
    change_one(
        &state,
        &caller,
        &headers,
        &fields,
        "acknowledged",
        move |store, who, clock| secops_service::alerts::acknowledge(store, id, who, clock),
    )
    .await
}

/// `POST /alerts/{id}/close`: with a reason; a comment goes into the alert's history.
pub async fn close(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, PageError> {
    let resolution = fields.get("resolution").ok_or_else(|| {
        PageError::invalid("close: choose a reason (false positive, true positive, ...)")
    })?;
    let comment = fields.get("comment");
    change_one(
        &state,
        &caller,
        &headers,
        &fields,
        "closed",
        move |store, who, clock| {
            let alert = secops_service::alerts::close(store, id, &resolution, who, clock)?;
            if let Some(comment) = comment {
                store.comment_alert(id, &comment, &who.name, clock.now().unix_nanos())?;
            }
            Ok(alert)
        },
    )
    .await
}

/// `POST /alerts/{id}/assign`: to a user, or (empty) to no one.
pub async fn assign(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, PageError> {
    let assignee = fields.get("assignee");
    change_one(
        &state,
        &caller,
        &headers,
        &fields,
        "assigned",
        move |store, who, clock| {
            secops_service::alerts::assign(store, id, assignee.as_deref(), who, clock)
        },
    )
    .await
}

/// `POST /alerts/{id}/tags`: tags to add and to remove, comma-separated.
pub async fn tag(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, PageError> {
    let (add, remove) = (fields.list("add"), fields.list("remove"));
    if add.is_empty() && remove.is_empty() {
        return Err(PageError::invalid("tags: none to add or remove"));
    }
    change_one(
        &state,
        &caller,
        &headers,
        &fields,
        "tagged",
        move |store, who, clock| secops_service::alerts::tag(store, id, &add, &remove, who, clock),
    )
    .await
}

/// `POST /alerts/{id}/escalate`: to a new case, or merged into the case numbered `case`, with a
/// comment as the case's note.
pub async fn escalate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, PageError> {
    let case = case_number(&fields)?;
    let number = escalate_to_case(
        &state,
        &caller,
        vec![id],
        case,
        fields.get("title"),
        fields.get("comment"),
    )
    .await?;
    let alert = as_caller(&state, &caller, move |store| Ok(store.alert(id)?)).await?;
    let done = if case.is_some() {
        "merged"
    } else {
        "escalated"
    };
    changed(
        &state,
        &caller,
        &headers,
        &fields,
        alert,
        done,
        Some(number),
    )
    .await
}

/// `GET /alerts/export.csv`: the alerts the filters match (at most 10,000, and the file says so
/// when there were more), cells a spreadsheet would run as formulas neutralized.
pub async fn export(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, PageError> {
    let fields = query_fields(uri.query());
    let filter = AlertFilter {
        limit: Some(BULK_MAX as u32 + 1),
        ..QueueFilters::read(&fields).filter(state.now())?
    };
    // Read and written on the blocking pool, beside the store.
    let out = as_caller(&state, &caller, move |store| {
        let mut alerts = store.alerts(&filter)?;
        let more = alerts.len() > BULK_MAX;
        alerts.truncate(BULK_MAX);
        let cell = secops_intel::csv::cell;
        let mut out = String::from(
            "id,rule_id,rule_name,severity,risk_score,status,resolution,assignee,tags,group_key,first_seen,last_seen,events,case_id\n",
        );
        for a in &alerts {
            let row = [
                a.id.to_string(),
                cell(&a.rule_id),
                cell(&a.rule_name),
                cell(&a.severity),
                a.risk_score.to_string(),
                a.status.as_str().to_string(),
                cell(a.resolution.as_deref().unwrap_or_default()),
                cell(a.assignee.as_deref().unwrap_or_default()),
                cell(&a.tags.join(";")),
                cell(&a.group_key),
                crate::api::time(a.first_seen),
                crate::api::time(a.last_seen),
                a.event_count.to_string(),
                a.case_id.map(|c| c.to_string()).unwrap_or_default(),
            ];
            out.push_str(&row.join(","));
            out.push('\n');
        }
        if more {
            out.push_str(&format!(
                "# more than {BULK_MAX} alerts match: this file holds the newest {BULK_MAX}; narrow the filters for the rest\n"
            ));
        }
        Ok(out)
    })
    .await?;
    let mut response = out.into_response();
    let h = response.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"alerts.csv\""),
    );
    Ok(response)
}

/// A field of an event, with where its actions lead.
pub struct FieldRow {
    pub name: String,
    pub value: String,
    /// Hunts for events with this value, without it, and for only this field's values.
    pub hunt_in: String,
    pub hunt_out: String,
    pub hunt_only: String,
    pub top: String,
}

pub struct EntityLink {
    pub kind: String,
    pub value: String,
    pub queue: String,
    pub page: String,
}

pub struct HistoryRow {
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub detail: String,
}

pub struct CaseLink {
    pub href: String,
    pub label: String,
    pub state: String,
}

pub struct ExceptionRow {
    pub field: String,
    pub value: String,
    pub reason: String,
    pub by: String,
    pub expires: String,
}

/// Everything an alert's page shows.
pub struct AlertView {
    pub row: Row,
    pub rule_id: String,
    pub risk_score: u8,
    pub entities: Vec<EntityLink>,
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
    pub group: Vec<FieldRow>,
    pub events: Vec<Vec<FieldRow>>,
    /// Events the alert holds beyond those shown.
    pub events_hidden: usize,
    pub field_names: Vec<String>,
    pub history: Vec<HistoryRow>,
    pub similar: Vec<Row>,
    pub similar_cases: Vec<CaseLink>,
    pub guide: Option<secops_service::rules::Guide>,
    pub exceptions: Vec<ExceptionRow>,
    pub resolutions: &'static [(&'static str, &'static str)],
    pub can_triage: bool,
    pub can_escalate: bool,
    pub here: String,
    pub notice: String,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage<'a> {
    chrome: Chrome,
    a: &'a AlertView,
}

fn hunt_href(query: &str) -> String {
    format!("/hunts?{}", view::query([("q", query)]))
}

fn field_row(alert_id: i64, name: &str, value: &str) -> FieldRow {
    let field = column(name);
    let lit = literal(value);
    FieldRow {
        hunt_in: hunt_href(&format!("FROM events\n| WHERE {field} == {lit}\n| LIMIT 100")),
        hunt_out: hunt_href(&format!(
            "FROM events\n| WHERE {field} != {lit}\n| LIMIT 100"
        )),
        hunt_only: hunt_href(&format!(
            "FROM events\n| WHERE {field} IS NOT NULL\n| STATS n = count(*) BY {field}\n| SORT n DESC\n| LIMIT 100"
        )),
        top: format!(
            "/alerts/{alert_id}/top?{}",
            view::query([("field", name)])
        ),
        name: shown(name).into_owned(),
        value: shown(value).into_owned(),
    }
}

/// Events an alert's page lays out field by field (the rest are counted).
const EVENTS_SHOWN: usize = 20;

/// `GET /alerts/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    uri: Uri,
) -> Result<Response, PageError> {
    let now = state.now();
    let (alert, history, entities, similar, cases, exceptions) =
        as_caller(&state, &caller, move |store| {
            let alert = store.alert(id)?;
            let history = store.alert_events(id)?;
            let entities = store.alert_entities(id)?;
            let similar = similar_alerts(store, id, &entities)?;
            let mut case_ids: Vec<i64> = similar
                .iter()
                .chain(std::iter::once(&alert))
                .filter_map(|a| a.case_id)
                .collect();
            case_ids.sort_unstable();
            case_ids.dedup();
            let cases = if case_ids.is_empty() {
                Vec::new()
            } else {
                store.cases(&CaseFilter {
                    ids: case_ids,
                    limit: Some(20),
                    ..CaseFilter::default()
                })?
            };
            let exceptions = store.exceptions(Some(&alert.rule_id), Some(now))?;
            Ok((alert, history, entities, similar, cases, exceptions))
        })
        .await?;
    let guide = match crate::api::rules::rules(&state).await {
        Ok(rules) => rules.guide(&alert.rule_id),
        Err(_) => None,
    };
    let detail = crate::api::alerts::detail(&alert, history, entities);
    let can_triage = may(&state, &caller, role::ALERTS_TRIAGE);
    let events_hidden = detail.events.len().saturating_sub(EVENTS_SHOWN);
    let mut names: Vec<String> = detail
        .events
        .iter()
        .flat_map(|e| e.fields.iter().map(|f| f.name.clone()))
        .collect();
    names.sort();
    names.dedup();
    let fields = query_fields(uri.query());
    let view = AlertView {
        rule_id: shown(&alert.rule_id).into_owned(),
        risk_score: alert.risk_score,
        entities: detail
            .entities
            .iter()
            .map(|e| EntityLink {
                kind: e.kind.clone(),
                value: shown(&e.value).into_owned(),
                queue: format!(
                    "/alerts?{}",
                    view::query([("status", ""), (e.kind.as_str(), e.value.as_str())])
                ),
                page: super::insight::entity_href(&e.kind, &e.value),
            })
            .collect(),
        tactics: detail
            .tactics
            .iter()
            .map(|t| shown(t).into_owned())
            .collect(),
        techniques: detail
            .techniques
            .iter()
            .map(|t| shown(t).into_owned())
            .collect(),
        group: detail
            .group
            .iter()
            .map(|f| field_row(id, &f.name, &f.value))
            .collect(),
        events: detail
            .events
            .iter()
            .take(EVENTS_SHOWN)
            .map(|e| {
                e.fields
                    .iter()
                    .map(|f| field_row(id, &f.name, &f.value))
                    .collect()
            })
            .collect(),
        events_hidden,
        field_names: names.iter().map(|n| shown(n).into_owned()).collect(),
        history: detail
            .history
            .iter()
            .map(|h| HistoryRow {
                at: h.at.clone(),
                actor: shown(&h.actor).into_owned(),
                kind: shown(&h.kind).into_owned(),
                detail: shown(h.after.as_deref().unwrap_or_default()).into_owned(),
            })
            .collect(),
        similar: similar.iter().map(|a| Row::of(a, false)).collect(),
        similar_cases: cases
            .iter()
            .map(|c| CaseLink {
                href: format!("/cases/{}", c.number),
                label: format!("#{} {}", c.number, shown(&c.title)),
                state: c.state.clone(),
            })
            .collect(),
        guide,
        exceptions: exceptions
            .iter()
            .map(|e| ExceptionRow {
                field: shown(&e.field).into_owned(),
                value: shown(&e.value).into_owned(),
                reason: shown(&e.reason).into_owned(),
                by: shown(&e.created_by).into_owned(),
                expires: e.expires_at.map(when).unwrap_or_else(|| "never".into()),
            })
            .collect(),
        resolutions: RESOLUTIONS,
        can_triage,
        can_escalate: may(&state, &caller, role::CASES_WRITE),
        here: format!("/alerts/{id}"),
        notice: notice(&fields),
        row: Row::of(&alert, can_triage),
    };
    let title = format!("Alert {id}");
    Ok(html(&AlertPage {
        chrome: Chrome::new(&state, &caller, "/alerts", title),
        a: &view,
    }))
}

/// Alerts sharing a host, user or address with alert `id`, newest first, at most 20.
fn similar_alerts(
    store: &mut Store,
    id: i64,
    entities: &[(String, String)],
) -> Result<Vec<AlertRecord>, ApiError> {
    let mut found: BTreeMap<i64, AlertRecord> = BTreeMap::new();
    for (kind, value) in entities.iter().take(8) {
        let filter = AlertFilter {
            entity: Some((kind.clone(), value.clone())),
            limit: Some(11),
            ..AlertFilter::default()
        };
        for alert in store.alerts(&filter)? {
            if alert.id != id {
                found.insert(alert.id, alert);
            }
        }
    }
    let mut similar: Vec<AlertRecord> = found.into_values().collect();
    similar.sort_by_key(|a| std::cmp::Reverse((a.last_seen, a.id)));
    similar.truncate(20);
    Ok(similar)
}

/// A value of a field and how many events had it.
pub struct TopValue {
    pub value: String,
    pub count: usize,
    /// Its share of the events, percent.
    pub share: String,
    /// The bar's width (of 100).
    pub width: usize,
}

/// The top values of a field.
pub struct TopView {
    pub field: String,
    pub rule: String,
    pub alerts: usize,
    pub events: usize,
    pub values: Vec<TopValue>,
    pub back: String,
}

#[derive(Template)]
#[template(path = "top_values.html")]
struct TopPage<'a> {
    chrome: Chrome,
    t: &'a TopView,
}

#[derive(Template)]
#[template(path = "top_values.html", block = "top")]
struct TopFragment<'a> {
    t: &'a TopView,
}

/// Alerts of a rule whose events the top values are counted over.
const TOP_OVER: u32 = 500;

/// `GET /alerts/{id}/top?field=`: the ten commonest values of a field over the events of the
/// rule's newest alerts (a fragment, shown beside the field).
pub async fn top_values(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let fields = query_fields(uri.query());
    let field = fields
        .get("field")
        .ok_or_else(|| PageError::invalid("field: which field?"))?;
    // The alerts' documents are read and counted on the blocking pool, beside the store.
    let wanted = field.clone();
    let (rule, alerts, events, counts) = as_caller(&state, &caller, move |store| {
        let alert = store.alert(id)?;
        let alerts = store.alerts(&AlertFilter {
            rule: Some(alert.rule_id.clone()),
            limit: Some(TOP_OVER),
            ..AlertFilter::default()
        })?;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut events = 0;
        for alert in &alerts {
            let detail = crate::api::alerts::detail(alert, Vec::new(), Vec::new());
            for event in &detail.events {
                events += 1;
                for f in event.fields.iter().filter(|f| f.name == wanted) {
                    *counts.entry(f.value.clone()).or_default() += 1;
                }
            }
        }
        Ok((alert.rule_name, alerts.len(), events, counts))
    })
    .await?;
    let mut top: Vec<(String, usize)> = counts.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(10);
    let values = top
        .into_iter()
        .map(|(value, count)| {
            let share = if events == 0 {
                0.0
            } else {
                count as f64 * 100.0 / events as f64
            };
            TopValue {
                value: shown(&value).into_owned(),
                count,
                share: format!("{share:.1}"),
                width: share.round().clamp(1.0, 100.0) as usize,
            }
        })
        .collect();
    let view = TopView {
        field: shown(&field).into_owned(),
        rule: shown(&rule).into_owned(),
        alerts,
        events,
        values,
        back: format!("/alerts/{id}"),
    };
    if wants_fragment(&headers) {
        return Ok(html(&TopFragment { t: &view }));
    }
    Ok(html(&TopPage {
        chrome: Chrome::new(&state, &caller, "/alerts", "Top values"),
        t: &view,
    }))
}

/// `POST /alerts/{id}/exception`: an exception to the alert's rule (events whose field holds the
/// value), with a reason and an expiry; it applies from the rules' next load.
pub async fn add_exception(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    fields: Fields,
) -> Result<Response, PageError> {
    let field = fields
        .get("field")
        .ok_or_else(|| PageError::invalid("exception: which field?"))?;
    let value = fields.text("value");
    if value.is_empty() {
        return Err(PageError::invalid("exception: the value to except"));
    }
    let reason = fields
        .get("reason")
        .ok_or_else(|| PageError::invalid("exception: why (the reason is kept with it)"))?;
    let now = state.now();
    let expires_at = match fields.get("days").as_deref() {
        None | Some("never") => None,
        Some(days) => {
            let days: i64 = days
                .parse()
                .ok()
                .filter(|d| (1..=365).contains(d))
                .ok_or_else(|| PageError::invalid(format!("days: {days:?} is not 1 to 365")))?;
            Some(now.saturating_add(days * 86_400 * 1_000_000_000))
        }
    };
    let by = caller.principal.name.clone();
    as_caller(&state, &caller, move |store| {
        let alert = store.alert(id)?;
        Ok(store.add_exception(
            &secops_store::NewException {
                rule_id: alert.rule_id,
                field,
                value,
                reason,
                alert_id: Some(id),
                expires_at,
            },
            &by,
            now,
        )?)
    })
    .await?;
    Ok(view::see_other(&with_done(
        &format!("/alerts/{id}"),
        "exception",
        1,
        0,
        None,
    )))
}

/// `POST /alerts/{id}/noisy`: a tuning ticket on the alert's rule for detection engineering (on
/// the rules page).
pub async fn noisy(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
    fields: Fields,
) -> Result<Response, PageError> {
    let reason = fields.get("reason").ok_or_else(|| {
        PageError::invalid("rule is noisy: say why (what it flags that it should not)")
    })?;
    let now = state.now();
    let by = caller.principal.name.clone();
    as_caller(&state, &caller, move |store| {
        let alert = store.alert(id)?;
        Ok(store.open_ticket(
            &secops_store::NewTicket {
                rule_id: alert.rule_id,
                rule_name: alert.rule_name,
                alert_id: Some(id),
                reason,
            },
            &by,
            now,
        )?)
    })
    .await?;
    Ok(view::see_other(&with_done(
        &format!("/alerts/{id}"),
        "ticket",
        1,
        0,
        None,
    )))
}

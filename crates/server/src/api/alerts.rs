//! Alerts: listed newest first a page at a time (keyset paging: a deep page costs what the first
//! does), shown with their events and history, acknowledged, closed with a reason, in bulk (one
//! transaction and one audit record for up to 10,000), and escalated to a new or an existing case.

use axum::extract::State;
use axum::{Extension, Json};
use secops_store::{AlertCursor, AlertFilter, AlertRecord, AlertStatus, BulkChange};

use super::{actor, as_caller, parse_time, time, Body, Path, Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// An alert's place in its lifecycle.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Open,
    Acknowledged,
    Closed,
}

impl From<AlertStatus> for Status {
    fn from(s: AlertStatus) -> Self {
        match s {
            AlertStatus::Open => Status::Open,
            AlertStatus::Acknowledged => Status::Acknowledged,
            AlertStatus::Closed => Status::Closed,
        }
    }
}

impl From<Status> for AlertStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Open => AlertStatus::Open,
            Status::Acknowledged => AlertStatus::Acknowledged,
            Status::Closed => AlertStatus::Closed,
        }
    }
}

/// An alert as lists show it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    pub id: i64,
    pub rule_id: String,
    pub rule_name: String,
    pub rule_version: u32,
    pub severity: String,
    pub risk_score: u8,
    /// The values the rule grouped by (`source.ip=203.0.113.7`).
    pub group_key: String,
    pub first_seen: String,
    pub last_seen: String,
    pub event_count: u64,
    pub status: Status,
    pub resolution: Option<String>,
    /// The store's id of the case the alert is in (see the case's `id`).
    pub case_id: Option<i64>,
    pub assignee: Option<String>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&AlertRecord> for Alert {
    fn from(a: &AlertRecord) -> Self {
        Alert {
            id: a.id,
            rule_id: a.rule_id.clone(),
            rule_name: a.rule_name.clone(),
            rule_version: a.rule_version,
            severity: a.severity.clone(),
            risk_score: a.risk_score,
            group_key: a.group_key.clone(),
            first_seen: time(a.first_seen),
            last_seen: time(a.last_seen),
            event_count: a.event_count,
            status: a.status.into(),
            resolution: a.resolution.clone(),
            case_id: a.case_id,
            assignee: a.assignee.clone(),
            tags: a.tags.clone(),
            created_at: time(a.created_at),
            updated_at: time(a.updated_at),
        }
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertPage {
    pub alerts: Vec<Alert>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    pub status: Option<Status>,
    /// A rule's id or name.
    pub rule: Option<String>,
    /// Alerts last seen at or after this time (RFC 3339).
    pub since: Option<String>,
    /// The `next` of the page before.
    pub after: Option<String>,
    pub severity: Option<String>,
    /// Assigned to this user; empty: assigned to no one.
    pub assignee: Option<String>,
    pub tag: Option<String>,
    /// Naming this host (lower case).
    pub host: Option<String>,
    /// Naming this user (lower case).
    pub user: Option<String>,
    /// Naming this address.
    pub ip: Option<String>,
    /// Alerts per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// A host, user or address an alert names.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Entity {
    /// `host`, `user` or `ip`.
    pub kind: String,
    pub value: String,
}

/// A field of an event or of the alert's group, as text.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub fields: Vec<Field>,
}

/// A line of an alert's or a case's history.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryLine {
    pub at: String,
    pub actor: String,
    pub kind: String,
    /// The state before, as JSON text.
    pub before: Option<String>,
    pub after: Option<String>,
}

impl From<secops_store::EventLine> for HistoryLine {
    fn from(l: secops_store::EventLine) -> Self {
        HistoryLine {
            at: time(l.at),
            actor: l.actor,
            kind: l.kind,
            before: l.before,
            after: l.after,
        }
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertDetail {
    pub alert: Alert,
    /// The hosts, users and addresses it names.
    pub entities: Vec<Entity>,
    pub tactics: Vec<String>,
    pub techniques: Vec<String>,
    pub group: Vec<Field>,
    /// The events that raised it, as the rule kept them.
    pub events: Vec<Event>,
    pub history: Vec<HistoryLine>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Close {
    /// `false_positive`, `true_positive`, `benign`, `duplicate`, ...
    #[schema(min_length = 1)]
    pub resolution: String,
}

#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    Acknowledge,
    Close,
    Assign,
    Tag,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bulk {
    /// 1 to 10,000 alert ids.
    #[schema(min_items = 1, max_items = 10000)]
    pub ids: Vec<i64>,
    pub action: BulkAction,
    /// Needed to close.
    pub resolution: Option<String>,
    /// To assign to (`assign`; absent or null: to no one).
    pub assignee: Option<String>,
    /// Tags to add (`tag`; 1 to 64 characters each, at most 16 added and removed).
    #[serde(default)]
    #[schema(max_items = 16)]
    pub add_tags: Vec<String>,
    /// Tags to remove (`tag`).
    #[serde(default)]
    #[schema(max_items = 16)]
    pub remove_tags: Vec<String>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// The user; absent or null: no one.
    pub assignee: Option<String>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Tags {
    /// Tags to add (1 to 64 characters each, at most 16 added and removed).
    #[serde(default)]
    #[schema(max_items = 16)]
    pub add: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 16)]
    pub remove: Vec<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    pub id: i64,
    pub reason: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkResult {
    /// The alerts changed, as they are now.
    pub changed: Vec<i64>,
    /// The alerts left as they were, with why.
    pub refused: Vec<Refusal>,
}

/// Most alerts one bulk request may name.
pub const BULK_MAX: usize = 10_000;

/// Encodes a page's end as `after` text.
pub(crate) fn cursor_text(c: &AlertCursor) -> String {
    format!("{}.{}", c.last_seen, c.id)
}

pub(crate) fn parse_cursor(text: &str) -> Result<AlertCursor, ApiError> {
    let bad = || ApiError::invalid(format!("after: {text:?} is not a page's `next`"));
    let (last, id) = text.split_once('.').ok_or_else(bad)?;
    Ok(AlertCursor {
        last_seen: last.parse().map_err(|_| bad())?,
        id: id.parse().map_err(|_| bad())?,
    })
}

/// The filters alert lists and groups share (the API's and the console's).
#[derive(Debug, Clone, Default)]
pub(crate) struct Filters {
    pub status: Option<Status>,
    pub rule: Option<String>,
    pub since: Option<String>,
    pub severity: Option<String>,
    pub assignee: Option<String>,
    pub tag: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub ip: Option<String>,
}

impl Filters {
    pub(crate) fn filter(self) -> Result<AlertFilter, ApiError> {
        let entities: Vec<(String, String)> =
            [("host", self.host), ("user", self.user), ("ip", self.ip)]
                .into_iter()
                .filter_map(|(kind, value)| value.map(|v| (kind.to_string(), v)))
                .collect();
        if entities.len() > 1 {
            return Err(ApiError::invalid("one of host, user and ip at a time"));
        }
        Ok(AlertFilter {
            status: self.status.map(Into::into),
            rule: self.rule,
            since: self.since.map(|s| parse_time("since", &s)).transpose()?,
            severity: self.severity,
            assignee: self.assignee,
            tag: self.tag,
            entity: entities.into_iter().next(),
            ..AlertFilter::default()
        })
    }
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    /// One to three of `rule`, `severity`, `status`, `assignee`, `tag`, `host`, `user`, `ip`,
    /// comma-separated.
    pub by: String,
    pub status: Option<Status>,
    /// A rule's id or name.
    pub rule: Option<String>,
    /// Alerts last seen at or after this time (RFC 3339).
    pub since: Option<String>,
    pub severity: Option<String>,
    /// Assigned to this user; empty: assigned to no one.
    pub assignee: Option<String>,
    pub tag: Option<String>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub ip: Option<String>,
    /// Groups listed, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Alerts sharing values of the fields grouped by.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// One value per field grouped by, in their order; null: the alerts have none.
    pub values: Vec<Option<String>>,
    pub alerts: i64,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Groups {
    /// The fields grouped by.
    pub by: Vec<String>,
    /// Biggest first.
    pub groups: Vec<Group>,
    /// There are more groups than listed.
    pub more: bool,
}

/// The fields to group by, from `rule,host` (one to three of rule, severity, status, assignee,
/// tag, host, user, ip).
pub(crate) fn group_fields(
    text: &str,
) -> Result<(Vec<String>, Vec<secops_store::AlertField>), ApiError> {
    use secops_store::AlertField;
    let names: Vec<String> = text.split(',').map(|f| f.trim().to_string()).collect();
    let by = names
        .iter()
        .map(|name| {
            Ok(match name.as_str() {
                "rule" => AlertField::Rule,
                "severity" => AlertField::Severity,
                "status" => AlertField::Status,
                "assignee" => AlertField::Assignee,
                "tag" => AlertField::Tag,
                "host" => AlertField::Host,
                "user" => AlertField::User,
                "ip" => AlertField::Ip,
                other => {
                    return Err(ApiError::invalid(format!(
                        "by: {other:?} is not one of rule, severity, status, assignee, tag, host, user, ip"
                    )))
                }
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    if by.len() > 3 {
        return Err(ApiError::invalid("by: at most three fields"));
    }
    Ok((names, by))
}

/// The alerts matching the filters grouped by up to three fields with their counts, biggest group
/// first. An alert with several values of a field (tags, hosts) counts in the group of each.
#[utoipa::path(get, path = "/api/v1/alerts/groups", tag = "alerts", security(("api_key" = ["alerts:read"])),
    params(GroupQuery),
    responses((status = 200, description = "The groups", body = Groups)))]
pub async fn groups(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<GroupQuery>,
) -> Result<Json<Groups>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit: 1 to 500"));
    }
    let (names, by) = group_fields(&query.by)?;
    let filter = Filters {
        status: query.status,
        rule: query.rule,
        since: query.since,
        severity: query.severity,
        assignee: query.assignee,
        tag: query.tag,
        host: query.host,
        user: query.user,
        ip: query.ip,
    }
    .filter()?;
    let mut found = as_caller(&state, &caller, move |store| {
        Ok(store.alert_groups(&filter, &by, limit + 1)?)
    })
    .await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    Ok(Json(Groups {
        by: names,
        groups: found
            .into_iter()
            .map(|g| Group {
                values: g.values,
                alerts: g.alerts,
            })
            .collect(),
        more,
    }))
}

/// Alerts newest first (by last seen), filtered, a page at a time.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", security(("api_key" = ["alerts:read"])),
    params(AlertQuery),
    responses((status = 200, description = "A page of alerts", body = AlertPage)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<AlertQuery>,
) -> Result<Json<AlertPage>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit: 1 to 500"));
    }
    let filter = AlertFilter {
        after: query.after.as_deref().map(parse_cursor).transpose()?,
        ..Filters {
            status: query.status,
            rule: query.rule,
            since: query.since,
            severity: query.severity,
            assignee: query.assignee,
            tag: query.tag,
            host: query.host,
            user: query.user,
            ip: query.ip,
        }
        .filter()?
    };
    let page = as_caller(&state, &caller, move |store| {
        Ok(secops_service::alerts::list(store, &filter, limit)?)
    })
    .await?;
    Ok(Json(AlertPage {
        alerts: page.items.iter().map(Alert::from).collect(),
        next: page.next.as_ref().map(cursor_text),
    }))
}

/// An alert with its events and history.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", security(("api_key" = ["alerts:read"])),
    params(("id" = i64, Path, description = "The alert's id")),
    responses((status = 200, description = "The alert", body = AlertDetail),
              (status = 404, description = "No such alert", body = crate::error::Problem)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<AlertDetail>, ApiError> {
    let (alert, history, entities) = as_caller(&state, &caller, move |store| {
        Ok((
            store.alert(id)?,
            store.alert_events(id)?,
            store.alert_entities(id)?,
        ))
    })
    .await?;
    Ok(Json(detail(&alert, history, entities)))
}

pub(crate) fn detail(
    alert: &AlertRecord,
    history: Vec<secops_store::EventLine>,
    entities: Vec<(String, String)>,
) -> AlertDetail {
    let document = secops_alert::AlertDocument::parse(&alert.document).ok();
    let fields = |object: &serde_json::Map<String, serde_json::Value>| -> Vec<Field> {
        let mut out = Vec::new();
        flatten("", object, &mut out);
        out
    };
    AlertDetail {
        alert: Alert::from(alert),
        entities: entities
            .into_iter()
            .map(|(kind, value)| Entity { kind, value })
            .collect(),
        tactics: document
            .as_ref()
            .map(|d| d.tactics.clone())
            .unwrap_or_default(),
        techniques: document
            .as_ref()
            .map(|d| d.techniques.clone())
            .unwrap_or_default(),
        group: document
            .as_ref()
            .map(|d| fields(&d.group))
            .unwrap_or_default(),
        events: document
            .as_ref()
            .map(|d| {
                d.events
                    .iter()
                    .filter_map(|e| e.as_object())
                    .map(|o| Event { fields: fields(o) })
                    .collect()
            })
            .unwrap_or_default(),
        history: history.into_iter().map(HistoryLine::from).collect(),
    }
}

/// Nested objects as dotted names; lists element by element; every value as text.
fn flatten(
    prefix: &str,
    object: &serde_json::Map<String, serde_json::Value>,
    out: &mut Vec<Field>,
) {
    for (key, value) in object {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        push_value(&name, value, out);
    }
}

fn push_value(name: &str, value: &serde_json::Value, out: &mut Vec<Field>) {
    match value {
        serde_json::Value::Null => {}
        serde_json::Value::Object(inner) => flatten(name, inner, out),
        serde_json::Value::Array(items) => {
            for item in items {
                push_value(name, item, out);
            }
        }
        serde_json::Value::String(s) => out.push(Field {
            name: name.to_string(),
            value: s.clone(),
        }),
        other => out.push(Field {
            name: name.to_string(),
            value: other.to_string(),
        }),
    }
}

/// Acknowledges an open alert.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "alerts",
    security(("api_key" = ["alerts:triage"])),
    params(("id" = i64, Path, description = "The alert's id")),
    responses((status = 200, description = "Acknowledged", body = Alert),
              (status = 404, description = "No such alert", body = crate::error::Problem)))]
pub async fn acknowledge(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<Alert>, ApiError> {
    let who = actor(&caller);
    let clock = state.clock.clone();
    let alert = as_caller(&state, &caller, move |store| {
        Ok(secops_service::alerts::acknowledge(
            store,
            id,
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    Ok(Json(Alert::from(&alert)))
}

/// Closes an alert with a resolution.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/close", tag = "alerts",
    security(("api_key" = ["alerts:triage"])), request_body = Close,
    params(("id" = i64, Path, description = "The alert's id")),
    responses((status = 200, description = "Closed", body = Alert),
              (status = 404, description = "No such alert", body = crate::error::Problem)))]
pub async fn close(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Body(body): Body<Close>,
) -> Result<Json<Alert>, ApiError> {
    let who = actor(&caller);
    let clock = state.clock.clone();
    let alert = as_caller(&state, &caller, move |store| {
        Ok(secops_service::alerts::close(
            store,
            id,
            &body.resolution,
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    Ok(Json(Alert::from(&alert)))
}

/// Acknowledges, closes, assigns or tags many alerts in one transaction and one audit record;
/// alerts that cannot change (already closed, not open, missing) are listed with the reason, the
/// rest changed.
#[utoipa::path(post, path = "/api/v1/alerts/bulk", tag = "alerts",
    security(("api_key" = ["alerts:triage"])), request_body = Bulk,
    responses((status = 200, description = "What changed and what did not", body = BulkResult)))]
pub async fn bulk(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Bulk>,
) -> Result<Json<BulkResult>, ApiError> {
    if body.ids.is_empty() || body.ids.len() > BULK_MAX {
        return Err(ApiError::invalid(format!("ids: 1 to {BULK_MAX} alert ids")));
    }
    let who = actor(&caller);
    let now = state.now();
    let outcome = as_caller(&state, &caller, move |store| {
        let change = match body.action {
            BulkAction::Acknowledge => BulkChange::Acknowledge,
            BulkAction::Close => BulkChange::Close {
                resolution: body.resolution.as_deref().unwrap_or_default(),
            },
            BulkAction::Assign => BulkChange::Assign {
                assignee: body.assignee.as_deref(),
            },
            BulkAction::Tag => BulkChange::Tag {
                add: &body.add_tags,
                remove: &body.remove_tags,
            },
        };
        Ok(store.bulk_change_alerts(&body.ids, change, &who.name, now)?)
    })
    .await?;
    Ok(Json(BulkResult {
        changed: outcome.changed.iter().map(|a| a.id).collect(),
        refused: outcome
            .refused
            .into_iter()
            .map(|(id, reason)| Refusal { id, reason })
            .collect(),
    }))
}

/// Assigns an alert to a user (or, with no assignee, to no one).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/assign", tag = "alerts",
    security(("api_key" = ["alerts:triage"])), request_body = Assign,
    params(("id" = i64, Path, description = "The alert's id")),
    responses((status = 200, description = "Assigned", body = Alert),
              (status = 404, description = "No such alert", body = crate::error::Problem)))]
pub async fn assign(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Body(body): Body<Assign>,
) -> Result<Json<Alert>, ApiError> {
    let who = actor(&caller);
    let clock = state.clock.clone();
    let alert = as_caller(&state, &caller, move |store| {
        Ok(secops_service::alerts::assign(
            store,
            id,
            body.assignee.as_deref(),
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    Ok(Json(Alert::from(&alert)))
}

/// Adds and removes an alert's tags.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/tags", tag = "alerts",
    security(("api_key" = ["alerts:triage"])), request_body = Tags,
    params(("id" = i64, Path, description = "The alert's id")),
    responses((status = 200, description = "Tagged", body = Alert),
              (status = 404, description = "No such alert", body = crate::error::Problem)))]
pub async fn tag(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Body(body): Body<Tags>,
) -> Result<Json<Alert>, ApiError> {
    let who = actor(&caller);
    let clock = state.clock.clone();
    let alert = as_caller(&state, &caller, move |store| {
        Ok(secops_service::alerts::tag(
            store,
            id,
            &body.add,
            &body.remove,
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    Ok(Json(Alert::from(&alert)))
}

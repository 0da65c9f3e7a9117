//! Entities and risk: the hosts and users with the highest risk (each alert's points decayed to the
//! time asked, as `secops entity risk` reckons them), one entity's risk with the rules behind it and
//! the newest alerts naming it; and alert volume per rule over time.

use axum::extract::State;
use axum::{Extension, Json};
use secops_store::AlertFilter;

use super::alerts::Alert;
use super::{as_caller, parse_time, time, Path, Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Points a rule added to an entity's risk.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePoints {
    pub rule: String,
    /// Decayed to the risk's time.
    pub points: f64,
}

/// An entity's risk at a time.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Risk {
    /// `host` or `user`.
    pub kind: String,
    pub entity: String,
    pub score: f64,
    pub at: String,
    /// Alerts counted (within ten half-lives before `at`).
    pub alerts: usize,
    /// Rules by the points they added, most first.
    pub rules: Vec<RulePoints>,
    /// What a host's open vulnerability findings add to `score` (they stand while open).
    pub vulnerabilities: Option<VulnerabilityPoints>,
}

/// A host's open findings in its risk.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VulnerabilityPoints {
    pub points: f64,
    /// How many, and the riskiest (`3 open vulnerabilities: CVE-…`).
    pub findings: String,
}

fn risk(kind: &str, entity: String, r: secops_service::entities::StoredRisk) -> Risk {
    Risk {
        kind: kind.to_string(),
        entity,
        score: (r.score * 1000.0).round() / 1000.0,
        at: time(r.at),
        alerts: r.alerts,
        rules: r
            .rules
            .into_iter()
            .map(|(rule, points)| RulePoints {
                rule,
                points: (points * 1000.0).round() / 1000.0,
            })
            .collect(),
        vulnerabilities: r.vulnerabilities.map(|v| VulnerabilityPoints {
            points: (v.points * 1000.0).round() / 1000.0,
            findings: v.rule,
        }),
    }
}

fn kind_of(kind: &str) -> Result<&'static str, ApiError> {
    match kind {
        "host" => Ok("host"),
        "user" => Ok("user"),
        other => Err(ApiError::invalid(format!(
            "kind: {other:?} is not host or user"
        ))),
    }
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RiskQuery {
    /// `host` (default) or `user`.
    pub kind: Option<String>,
    /// The time the risk is taken at (RFC 3339; default: now).
    pub at: Option<String>,
    /// Entities listed, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskList {
    pub entities: Vec<Risk>,
}

/// The hosts or users with the highest risk, highest first.
#[utoipa::path(get, path = "/api/v1/risk", tag = "entities", security(("api_key" = ["alerts:read"])),
    params(RiskQuery),
    responses((status = 200, description = "Entities by risk", body = RiskList)))]
pub async fn leaders(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<RiskQuery>,
) -> Result<Json<RiskList>, ApiError> {
    let kind = kind_of(query.kind.as_deref().unwrap_or("host"))?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit: 1 to 100"));
    }
    let at = match &query.at {
        Some(text) => parse_time("at", text)?,
        None => state.now(),
    };
    let found = as_caller(&state, &caller, move |store| {
        let model = secops_entity::RiskModel::default();
        Ok(secops_service::entities::risk_leaders(
            store, kind, at, &model, limit,
        )?)
    })
    .await?;
    Ok(Json(RiskList {
        entities: found
            .into_iter()
            .map(|(entity, r)| risk(kind, entity, r))
            .collect(),
    }))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EntityQuery {
    /// The time the risk is taken at (RFC 3339; default: its latest contribution).
    pub at: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityDetail {
    /// `host`, `user` or `ip`.
    pub kind: String,
    pub name: String,
    /// Its risk (hosts and users with recorded contributions).
    pub risk: Option<Risk>,
    /// The newest alerts naming it (at most 20).
    pub alerts: Vec<Alert>,
}

/// A host, user or address: its risk and the newest alerts naming it.
#[utoipa::path(get, path = "/api/v1/entities/{kind}/{name}", tag = "entities", security(("api_key" = ["alerts:read"])),
    params(("kind" = String, Path, description = "`host`, `user` or `ip`"),
           ("name" = String, Path, description = "The name or address (hosts and users in lower case)"),
           EntityQuery),
    responses((status = 200, description = "The entity", body = EntityDetail)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((kind, name)): Path<(String, String)>,
    Query(query): Query<EntityQuery>,
) -> Result<Json<EntityDetail>, ApiError> {
    if !matches!(kind.as_str(), "host" | "user" | "ip") {
        return Err(ApiError::invalid(format!(
            "kind: {kind:?} is not host, user or ip"
        )));
    }
    let at = query.at.map(|t| parse_time("at", &t)).transpose()?;
    let now = state.now();
    let (k, n) = (kind.clone(), name.clone());
    let (stored, alerts) = as_caller(&state, &caller, move |store| {
        let stored = if k == "ip" {
            None
        } else {
            let model = secops_entity::RiskModel::default();
            secops_service::entities::current_risk(store, &k, &n, at, now, &model)?
        };
        let filter = AlertFilter {
            entity: Some((k, n)),
            ..AlertFilter::default()
        };
        let page = secops_service::alerts::list(store, &filter, 20)?;
        Ok((stored, page.items))
    })
    .await?;
    Ok(Json(EntityDetail {
        risk: stored.map(|r| risk(&kind, name.clone(), r)),
        alerts: alerts.iter().map(Alert::from).collect(),
        kind,
        name,
    }))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VolumeQuery {
    /// From (RFC 3339; default: `until` less 24 periods).
    pub since: Option<String>,
    /// Up to (RFC 3339; default: now).
    pub until: Option<String>,
    /// A period's length (`15m`, `1h`, `1d`; default `1h`); at most 1,000 periods in all.
    pub period: Option<String>,
    /// Rules shown apart, 1 to 50 (default 10); the rest are summed as others.
    #[param(minimum = 1, maximum = 50)]
    pub top: Option<u32>,
}

/// A rule's alerts per period.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleVolume {
    pub rule_id: String,
    pub rule_name: String,
    /// Alerts that began in each period (as `periods`).
    pub counts: Vec<i64>,
    pub total: i64,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Each period's start, oldest first.
    pub periods: Vec<String>,
    pub period_seconds: i64,
    /// The rules with most alerts, most first.
    pub rules: Vec<RuleVolume>,
    /// The other rules' alerts per period.
    pub others: Vec<i64>,
}

/// Alert volume per rule over time: alerts counted by when they began, per period.
#[utoipa::path(get, path = "/api/v1/alerts/volume", tag = "alerts", security(("api_key" = ["alerts:read"])),
    params(VolumeQuery),
    responses((status = 200, description = "Alerts per rule and period", body = Volume)))]
pub async fn volume(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<VolumeQuery>,
) -> Result<Json<Volume>, ApiError> {
    let period_text = query.period.as_deref().unwrap_or("1h");
    let period: secops_rules::Duration = period_text
        .parse()
        .map_err(|e| ApiError::invalid(format!("period: {e}")))?;
    let period = i64::try_from(period.as_nanos())
        .ok()
        .filter(|p| *p >= 1_000_000_000)
        .ok_or_else(|| ApiError::invalid("period: at least one second"))?;
    let top = query.top.unwrap_or(10);
    if !(1..=50).contains(&top) {
        return Err(ApiError::invalid("top: 1 to 50"));
    }
    let until = match &query.until {
        Some(t) => parse_time("until", t)?,
        None => state.now(),
    };
    let since = match &query.since {
        Some(t) => parse_time("since", t)?,
        None => until.saturating_sub(period.saturating_mul(24)),
    };
    let v = as_caller(&state, &caller, move |store| {
        Ok(secops_service::alerts::volume(
            store,
            since,
            until,
            period,
            top as usize,
        )?)
    })
    .await?;
    Ok(Json(Volume {
        periods: v.periods.iter().map(|p| time(*p)).collect(),
        period_seconds: period / 1_000_000_000,
        rules: v
            .rules
            .into_iter()
            .map(|(rule_id, rule_name, counts)| RuleVolume {
                total: counts.iter().sum(),
                rule_id,
                rule_name,
                counts,
            })
            .collect(),
        others: v.others,
    }))
}

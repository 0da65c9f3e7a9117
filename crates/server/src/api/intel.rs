//! Threat intelligence: indicators searched, imported (STIX 2.1, MISP events, CSV, plain lists;
//! judged against the warninglists and decay models as `secops intel import` judges them) and
//! counted. Each import is one audited change.

use axum::extract::State;
use axum::{Extension, Json};
use secops_intel::{Format, Kind};
use secops_store::{IndicatorFilter, IndicatorRecord};

use super::{as_caller, opt_time, time, Body, Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// An indicator as kept.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    pub id: i64,
    /// `ip`, `domain`, `hostname`, `url`, `md5`, `sha1`, `sha256`, `email`.
    pub kind: String,
    pub value: String,
    pub source: String,
    pub native_id: Option<String>,
    pub confidence: Option<u8>,
    /// `clear`, `green`, `amber`, `amber+strict`, `red`.
    pub tlp: String,
    pub tags: Vec<String>,
    pub description: String,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub expires_at: String,
    /// Warninglists that cover it (then it never alerts).
    pub warninglists: Vec<String>,
    /// `active`, `context` (not for detection), `expired` or `listed`.
    pub state: String,
    pub updated_at: String,
}

fn indicator(r: &IndicatorRecord, now: i64) -> Indicator {
    let i = &r.indicator;
    Indicator {
        id: r.id,
        kind: i.kind.as_str().to_string(),
        value: i.value.clone(),
        source: i.source.clone(),
        native_id: i.native_id.clone(),
        confidence: i.confidence,
        tlp: i.tlp.as_str().to_string(),
        tags: i.tags.clone(),
        description: i.description.clone(),
        first_seen: opt_time(i.first_seen),
        last_seen: opt_time(i.last_seen),
        expires_at: time(r.expires_at),
        warninglists: r.warninglists.clone(),
        state: r.state(now).as_str().to_string(),
        updated_at: time(r.updated_at),
    }
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IndicatorQuery {
    /// Values containing this text (case-insensitive).
    pub search: Option<String>,
    /// `ip`, `domain`, `hostname`, `url`, `md5`, `sha1`, `sha256` or `email`.
    pub kind: Option<String>,
    pub source: Option<String>,
    /// Only those that would alert now (not expired, for detection, on no warninglist).
    pub active: Option<bool>,
    /// The `next` of the page before.
    pub after: Option<i64>,
    /// Indicators per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IndicatorPage {
    pub indicators: Vec<Indicator>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<i64>,
}

/// Indicators by value, kind, source and state, a page at a time (oldest first).
#[utoipa::path(get, path = "/api/v1/intel/indicators", tag = "intel", security(("api_key" = ["intel:read"])),
    params(IndicatorQuery),
    responses((status = 200, description = "A page of indicators", body = IndicatorPage)))]
pub async fn search(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<IndicatorQuery>,
) -> Result<Json<IndicatorPage>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit: 1 to 500"));
    }
    let kind = query
        .kind
        .as_deref()
        .map(|k| {
            Kind::parse(k).ok_or_else(|| {
                ApiError::invalid(format!(
                    "kind: {k:?} is not one of ip, domain, hostname, url, md5, sha1, sha256, email"
                ))
            })
        })
        .transpose()?;
    let now = state.now();
    let filter = IndicatorFilter {
        kind,
        source: query.source,
        search: query.search,
        active_at: query.active.unwrap_or(false).then_some(now),
        after_id: query.after,
        limit: Some(limit + 1),
        ..IndicatorFilter::default()
    };
    let mut found = as_caller(&state, &caller, move |store| Ok(store.indicators(&filter)?)).await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    Ok(Json(IndicatorPage {
        next: if more {
            found.last().map(|r| r.id)
        } else {
            None
        },
        indicators: found.iter().map(|r| indicator(r, now)).collect(),
    }))
}

#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ImportFormat {
    /// A STIX 2.1 bundle (indicators' patterns).
    Stix,
    /// A MISP event (JSON).
    Misp,
    /// CSV with a header naming the value column (`value`, `indicator`, `ioc`, ...).
    Csv,
    /// One value per line, kinds recognized.
    List,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// The feed's name, kept as each indicator's source (`abuse.ch feodo`).
    #[schema(min_length = 1, max_length = 200)]
    pub source: String,
    pub format: ImportFormat,
    /// The document itself.
    pub text: String,
}

/// A record that did not become an indicator.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejected {
    /// Where in the document (`line 7`, an object's id).
    pub location: String,
    pub reason: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportResult {
    /// Indicators new to the store.
    pub added: usize,
    /// Indicators the store had, refreshed.
    pub updated: usize,
    /// Indicators a warninglist covers (kept, never alerting).
    pub warninglisted: usize,
    /// Indicators already expired by their decay model (kept, never alerting).
    pub expired: usize,
    /// Records that did not become indicators, each with where and why (at most 1,000 listed).
    pub rejected: Vec<Rejected>,
    pub rejected_count: usize,
}

/// Imports indicators from a document sent in the request (STIX, MISP, CSV or a list), judged
/// against the server's warninglists and decay models, in one audited change.
#[utoipa::path(post, path = "/api/v1/intel/import", tag = "intel", security(("api_key" = ["intel:write"])),
    request_body = ImportRequest,
    responses((status = 200, description = "What the import did", body = ImportResult)))]
pub async fn import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<ImportRequest>,
) -> Result<Json<ImportResult>, ApiError> {
    let source = request.source.trim().to_string();
    if source.is_empty() || source.chars().count() > 200 || source.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "source: 1 to 200 characters, no control characters",
        ));
    }
    let format = match request.format {
        ImportFormat::Stix => Format::Stix,
        ImportFormat::Misp => Format::Misp,
        ImportFormat::Csv => Format::Csv,
        ImportFormat::List => Format::List,
    };
    let judges = state.judges.clone();
    let now = state.now();
    let (imported, stored) = as_caller(&state, &caller, move |store| {
        let imported = secops_intel::import_text(
            &source,
            &request.text,
            format,
            &secops_intel::csv::Mapping::default(),
        )
        .map_err(|e| ApiError::invalid(format!("the document: {e}")))?;
        let stored = secops_service::feeds::store_import(store, &imported, &judges, now)?;
        Ok((imported, stored))
    })
    .await?;
    Ok(Json(ImportResult {
        added: stored.added,
        updated: stored.updated,
        warninglisted: stored.judged.warninglisted.len(),
        expired: stored.judged.expired,
        rejected_count: imported.rejected.len(),
        rejected: imported
            .rejected
            .into_iter()
            .take(1000)
            .map(|r| Rejected {
                location: r.location,
                reason: r.reason,
            })
            .collect(),
    }))
}

/// Indicators of a kind from a source in a state.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IndicatorCount {
    pub kind: String,
    pub source: String,
    /// `active`, `context`, `expired` or `listed`.
    pub state: String,
    pub count: i64,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntelStats {
    pub total: i64,
    /// Would alert now.
    pub active: i64,
    pub counts: Vec<IndicatorCount>,
}

/// Indicators counted by kind, source and state.
#[utoipa::path(get, path = "/api/v1/intel/stats", tag = "intel", security(("api_key" = ["intel:read"])),
    responses((status = 200, description = "The counts", body = IntelStats)))]
pub async fn stats(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<IntelStats>, ApiError> {
    let now = state.now();
    let counts = as_caller(&state, &caller, move |store| {
        Ok(store.indicator_counts(now)?)
    })
    .await?;
    Ok(Json(IntelStats {
        total: counts.iter().map(|c| c.count).sum(),
        active: counts
            .iter()
            .filter(|c| c.state == "active")
            .map(|c| c.count)
            .sum(),
        counts: counts
            .into_iter()
            .map(|c| IndicatorCount {
                kind: c.kind,
                source: c.source,
                state: c.state,
                count: c.count,
            })
            .collect(),
    }))
}

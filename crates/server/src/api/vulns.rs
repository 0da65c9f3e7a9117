//! Vulnerability findings: the queue (by risk, by deadline, or every finding by id a page at a
//! time), one finding with the inputs of its priority and its history, risk accepted and findings
//! closed in bulk (answered per finding), and where the findings stand against their SLA.

use axum::extract::State;
use axum::{Extension, Json};
use secops_store::{FindingFilter, FindingRecord};

use super::{actor, as_caller, opt_time, parse_time, time, Body, Path, Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// A finding as kept.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub id: i64,
    /// `vulnerability`, `malicious`, `misconfiguration`, `secret`, `weakness`.
    pub kind: String,
    /// The id findings merge by (a CVE when there is one).
    pub vulnerability: String,
    /// The id the first tool reported it by (a GHSA, a plugin).
    pub reported_as: String,
    pub title: String,
    /// `critical`, `high`, `medium`, `low`, `none`, `unknown`.
    pub severity: String,
    /// The vendor's word: `fixed` (a fix exists), `affected`, `will_not_fix`, `not_affected`...
    pub fix_state: String,
    /// `open`, `accepted`, `mitigated`, `false_positive`, `not_affected`.
    pub status: String,
    pub resolution: Option<String>,
    /// `host`, `image`, `repository`, `path`, `workload`.
    pub asset_kind: String,
    pub asset: String,
    pub address: Option<String>,
    pub package: Option<String>,
    pub version: Option<String>,
    pub location: Option<String>,
    pub tools: Vec<String>,
    /// Grype's risk times the asset's weights.
    pub risk: f64,
    /// Grype's risk (0-100).
    pub vuln_risk: f64,
    pub epss: Option<f64>,
    pub in_kev: bool,
    /// BOD 26-04's timeline: `FSU`, `60D`, `14D`, `3D`, `3DF`.
    pub timeline: Option<String>,
    pub due_at: Option<String>,
    pub overdue: bool,
    pub first_seen: String,
    pub last_seen: String,
    pub closed_at: Option<String>,
    /// The case opened for it.
    pub case: Option<i64>,
}

fn finding(f: &FindingRecord, now: i64) -> Finding {
    Finding {
        id: f.id,
        kind: f.kind.clone(),
        vulnerability: f.primary_id.clone(),
        reported_as: f.vuln_id.clone(),
        title: f.title.clone(),
        severity: f.severity.clone(),
        fix_state: f.fix_state.clone(),
        status: f.status.clone(),
        resolution: f.resolution.clone(),
        asset_kind: f.asset_kind.clone(),
        asset: f.asset_name.clone(),
        address: f.asset_address.clone(),
        package: f.package.clone(),
        version: f.package_version.clone(),
        location: f.location.clone(),
        tools: f.tools.clone(),
        risk: f.priority.risk,
        vuln_risk: f.priority.vuln_risk,
        epss: f.priority.epss,
        in_kev: f.priority.in_kev,
        timeline: f.priority.timeline.clone(),
        due_at: opt_time(f.due_at),
        overdue: f.status == "open" && f.due_at.is_some_and(|d| d < now),
        first_seen: time(f.first_seen),
        last_seen: time(f.last_seen),
        closed_at: opt_time(f.closed_at),
        case: f.case_id,
    }
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FindingQuery {
    /// Statuses, comma-separated (default `open`; `all` for every one).
    pub status: Option<String>,
    /// Severities, comma-separated.
    pub severity: Option<String>,
    /// Kinds, comma-separated.
    pub kind: Option<String>,
    /// Findings on this asset (its name or address).
    pub asset: Option<String>,
    /// Findings a tool reported (`trivy`, `nessus`, `sarif:gitleaks`).
    pub tool: Option<String>,
    /// Findings naming this id (CVE, GHSA, plugin).
    pub id: Option<String>,
    /// Only those in CISA's KEV catalog.
    pub kev: Option<bool>,
    /// Only those past their deadline.
    pub overdue: Option<bool>,
    /// `risk` (highest first, the default), `due` (earliest deadline first) or `id` (every finding,
    /// a page at a time with `after`).
    pub sort: Option<String>,
    /// With `sort=id`: the `next` of the page before.
    pub after: Option<i64>,
    /// Findings per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingPage {
    pub findings: Vec<Finding>,
    /// With `sort=id`: pass as `after` for the next page; absent on the last.
    pub next: Option<i64>,
}

const STATUSES: &[&str] = &[
    "open",
    "accepted",
    "mitigated",
    "false_positive",
    "not_affected",
];
const SEVERITIES: &[&str] = &["critical", "high", "medium", "low", "none", "unknown"];
const KINDS: &[&str] = &[
    "vulnerability",
    "malicious",
    "misconfiguration",
    "secret",
    "weakness",
];

/// A comma-separated list of known words, or a 400 naming the unknown one.
fn words(name: &str, text: Option<&str>, known: &[&str]) -> Result<Vec<String>, ApiError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| {
            if known.contains(&w) {
                Ok(w.to_string())
            } else {
                Err(ApiError::invalid(format!(
                    "{name}: {w:?} is not one of {}",
                    known.join(", ")
                )))
            }
        })
        .collect()
}

/// The findings queue: open findings by risk (or deadline), or every finding by id a page at a time.
#[utoipa::path(get, path = "/api/v1/vulns", tag = "vulns", security(("api_key" = ["vulns:read"])),
    params(FindingQuery),
    responses((status = 200, description = "Findings", body = FindingPage)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<FindingQuery>,
) -> Result<Json<FindingPage>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit: 1 to 500"));
    }
    let statuses = match query.status.as_deref() {
        Some("all") => Vec::new(),
        None => vec!["open".to_string()],
        given => words("status", given, STATUSES)?,
    };
    let sort = query.sort.as_deref().unwrap_or("risk");
    if !matches!(sort, "risk" | "due" | "id") {
        return Err(ApiError::invalid("sort: risk, due or id"));
    }
    if query.after.is_some() && sort != "id" {
        return Err(ApiError::invalid("after: pages are by id (sort=id)"));
    }
    let now = state.now();
    let filter = FindingFilter {
        statuses,
        kinds: words("kind", query.kind.as_deref(), KINDS)?,
        severities: words("severity", query.severity.as_deref(), SEVERITIES)?,
        asset: query.asset,
        tool: query.tool,
        vuln_id: query.id,
        in_kev: query.kev.filter(|k| *k),
        due_before: query.overdue.unwrap_or(false).then_some(now),
        by_due: sort == "due",
        by_id: sort == "id",
        after_id: query.after,
        limit: Some(limit + 1),
    };
    let who = actor(&caller);
    let clock = state.clock.clone();
    let mut found = as_caller(&state, &caller, move |store| {
        Ok(secops_service::vulns::list(
            store,
            &filter,
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    let more = found.len() > limit as usize;
    found.truncate(limit as usize);
    Ok(Json(FindingPage {
        next: if more && sort == "id" {
            found.last().map(|f| f.id)
        } else {
            None
        },
        findings: found.iter().map(|f| finding(f, now)).collect(),
    }))
}

/// A CVSS assessment: the vector, the score computed from it and the one reported.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingCvss {
    pub version: String,
    pub source: String,
    pub vector: Option<String>,
    pub computed: Option<f64>,
    pub reported: Option<f64>,
    /// Why the vector did not parse.
    pub problem: Option<String>,
}

/// BOD 26-04's inputs.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingSsvc {
    pub in_kev: bool,
    pub publicly_exposed: bool,
    pub automatable: bool,
    pub total_impact: bool,
}

/// What the priority was computed from.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingPriority {
    pub risk: f64,
    pub vuln_risk: f64,
    pub severity_factor: f64,
    pub epss: Option<f64>,
    pub in_kev: bool,
    pub ransomware: bool,
    pub criticality_weight: f64,
    pub exposure_weight: f64,
    /// The BOD 26-04 inputs, when a CVSS v3 or v4 vector gives them.
    pub ssvc: Option<FindingSsvc>,
    pub timeline: Option<String>,
    pub sla_days: Option<i64>,
    /// `ssvc`, `severity`, `kev due date` or `malicious package`.
    pub basis: Option<String>,
    pub kev_due: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingDetection {
    pub tool: String,
    /// What the tool scanned (an image, a path, a host).
    pub scope: String,
    /// Whether the tool's latest scan of the scope still reports it.
    pub present: bool,
    pub first_seen: String,
    pub last_seen: String,
    /// Where in the report.
    pub record: String,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingHistoryLine {
    pub at: String,
    pub actor: String,
    /// `created`, `mitigated`, `reopened`, `accepted`, `acceptance expired`, `closed`...
    pub kind: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingAcceptance {
    pub owner: String,
    pub reason: String,
    pub expires_at: String,
    pub accepted_by: String,
    pub accepted_at: String,
    pub ended_at: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingDetail {
    pub finding: Finding,
    pub aliases: Vec<String>,
    pub description: String,
    pub fixed_version: Option<String>,
    pub cwes: Vec<String>,
    pub references: Vec<String>,
    pub cvss: Vec<FindingCvss>,
    pub priority: Option<FindingPriority>,
    pub detections: Vec<FindingDetection>,
    pub history: Vec<FindingHistoryLine>,
    pub acceptances: Vec<FindingAcceptance>,
}

/// One finding: its ids, package, scores with their inputs, deadline, detections and history.
#[utoipa::path(get, path = "/api/v1/vulns/{id}", tag = "vulns", security(("api_key" = ["vulns:read"])),
    params(("id" = i64, Path, description = "The finding's id")),
    responses((status = 200, description = "The finding", body = FindingDetail),
        (status = 404, description = "No such finding", body = crate::error::Problem)))]
pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Result<Json<FindingDetail>, ApiError> {
    let now = state.now();
    let who = actor(&caller);
    let clock = state.clock.clone();
    let d = as_caller(&state, &caller, move |store| {
        Ok(secops_service::vulns::show(
            store,
            id,
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    let report = d.finding.clone();
    Ok(Json(FindingDetail {
        finding: finding(&d.record, now),
        aliases: report
            .as_ref()
            .map(|f| f.aliases.clone())
            .unwrap_or_default(),
        description: report
            .as_ref()
            .map(|f| f.description.clone())
            .unwrap_or_default(),
        fixed_version: report.as_ref().and_then(|f| f.fixed_version.clone()),
        cwes: report.as_ref().map(|f| f.cwes.clone()).unwrap_or_default(),
        references: report
            .as_ref()
            .map(|f| f.references.clone())
            .unwrap_or_default(),
        cvss: report
            .iter()
            .flat_map(|f| &f.cvss)
            .map(|c| FindingCvss {
                version: c.version.as_str().to_string(),
                source: c.source.clone(),
                vector: c.vector.clone(),
                computed: c.computed,
                reported: c.reported,
                problem: c.problem.clone(),
            })
            .collect(),
        priority: d.priority.as_ref().map(|p| FindingPriority {
            risk: p.risk,
            vuln_risk: p.vuln_risk,
            severity_factor: p.severity_factor,
            epss: p.epss,
            in_kev: p.in_kev,
            ransomware: p.ransomware,
            criticality_weight: p.criticality_weight,
            exposure_weight: p.exposure_weight,
            ssvc: p.ssvc.map(|i| FindingSsvc {
                in_kev: i.in_kev,
                publicly_exposed: i.publicly_exposed,
                automatable: i.automatable,
                total_impact: i.total_impact,
            }),
            timeline: p.timeline.map(|t| t.as_str().to_string()),
            sla_days: p.sla_days,
            basis: p.basis.map(|b| b.as_str().to_string()),
            kev_due: opt_time(p.kev_due),
        }),
        detections: d
            .detections
            .iter()
            .map(|x| FindingDetection {
                tool: x.tool.clone(),
                scope: x.scope.clone(),
                present: x.present,
                first_seen: time(x.first_seen),
                last_seen: time(x.last_seen),
                record: x.record.clone(),
            })
            .collect(),
        history: d
            .events
            .iter()
            .map(|e| FindingHistoryLine {
                at: time(e.at),
                actor: e.actor.clone(),
                kind: e.kind.clone(),
                before: e.before.clone(),
                after: e.after.clone(),
            })
            .collect(),
        acceptances: d
            .acceptances
            .iter()
            .map(|a| FindingAcceptance {
                owner: a.owner.clone(),
                reason: a.reason.clone(),
                expires_at: time(a.expires_at),
                accepted_by: a.created_by.clone(),
                accepted_at: time(a.created_at),
                ended_at: opt_time(a.ended_at),
            })
            .collect(),
    }))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingAcceptRequest {
    /// The findings (1 to 1,000).
    #[schema(min_items = 1, max_items = 1000)]
    pub ids: Vec<i64>,
    /// Who owns the risk.
    #[schema(min_length = 1, max_length = 200)]
    pub owner: String,
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
    /// Until when (RFC 3339), in the future.
    pub until: String,
}

#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingResolution {
    Fixed,
    /// A control the scanner cannot see: stays closed when scans report it again.
    Mitigated,
    FalsePositive,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingCloseRequest {
    /// The findings (1 to 1,000).
    #[schema(min_items = 1, max_items = 1000)]
    pub ids: Vec<i64>,
    pub resolution: FindingResolution,
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// What became of each finding of a bulk change.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingChange {
    pub id: i64,
    pub done: bool,
    /// Why not, when refused (closed already, no such finding).
    pub refused: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingsChanged {
    pub changed: usize,
    pub results: Vec<FindingChange>,
}

fn bulk(ids: &[i64], results: Vec<Result<FindingRecord, String>>) -> FindingsChanged {
    let results: Vec<FindingChange> = ids
        .iter()
        .zip(results)
        .map(|(id, r)| match r {
            Ok(f) => FindingChange {
                id: *id,
                done: true,
                refused: None,
                status: Some(f.status),
            },
            Err(e) => FindingChange {
                id: *id,
                done: false,
                refused: Some(e),
                status: None,
            },
        })
        .collect();
    FindingsChanged {
        changed: results.iter().filter(|r| r.done).count(),
        results,
    }
}

/// Accepts findings' risk until a time: they leave the open queue and their SLA pauses until then.
#[utoipa::path(post, path = "/api/v1/vulns/accept", tag = "vulns", security(("api_key" = ["vulns:accept"])),
    request_body = FindingAcceptRequest,
    responses((status = 200, description = "Each finding accepted or refused", body = FindingsChanged)))]
pub async fn accept(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<FindingAcceptRequest>,
) -> Result<Json<FindingsChanged>, ApiError> {
    let until = parse_time("until", &request.until)?;
    let FindingAcceptRequest {
        ids, owner, reason, ..
    } = request;
    let who = actor(&caller);
    let clock = state.clock.clone();
    let asked = ids.clone();
    let results = as_caller(&state, &caller, move |store| {
        Ok(secops_service::vulns::accept(
            store,
            &ids,
            &owner,
            &reason,
            until,
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    Ok(Json(bulk(&asked, results)))
}

/// Closes findings: fixed, mitigated or a false positive.
#[utoipa::path(post, path = "/api/v1/vulns/close", tag = "vulns", security(("api_key" = ["vulns:accept"])),
    request_body = FindingCloseRequest,
    responses((status = 200, description = "Each finding closed or refused", body = FindingsChanged)))]
pub async fn close(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(request): Body<FindingCloseRequest>,
) -> Result<Json<FindingsChanged>, ApiError> {
    let note = request.note.clone().unwrap_or_default();
    let resolution = match request.resolution {
        FindingResolution::Fixed => "fixed",
        FindingResolution::Mitigated => "mitigated",
        FindingResolution::FalsePositive => "false_positive",
    };
    let who = actor(&caller);
    let clock = state.clock.clone();
    let ids = request.ids.clone();
    let results = as_caller(&state, &caller, move |store| {
        Ok(secops_service::vulns::close(
            store,
            &ids,
            resolution,
            &note,
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    Ok(Json(bulk(&request.ids, results)))
}

/// One severity against its SLA.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingSlaLine {
    pub severity: String,
    pub open: u64,
    pub overdue: u64,
    pub due_within_7_days: u64,
    pub accepted: u64,
    pub closed_in_time: u64,
    pub closed_late: u64,
    /// Remediated findings, first detection to closing.
    pub remediated: usize,
    pub median_days: Option<f64>,
    pub p90_days: Option<f64>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingSla {
    pub open: u64,
    pub overdue: u64,
    pub severities: Vec<FindingSlaLine>,
    /// Open findings per owner (the inventory's owner of their asset when they were last
    /// prioritised), most overdue first.
    pub owners: Vec<FindingOwnerLine>,
}

/// One owner's open findings.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingOwnerLine {
    pub owner: String,
    pub open: u64,
    pub overdue: u64,
    pub kev: u64,
    /// Days the oldest of their overdue findings is late.
    pub oldest_overdue_days: i64,
}

/// Where the findings stand against their deadlines, per severity, with the time to remediate as
/// median and 90th percentile.
#[utoipa::path(get, path = "/api/v1/vulns/sla", tag = "vulns", security(("api_key" = ["vulns:read"])),
    responses((status = 200, description = "The SLA standing", body = FindingSla)))]
pub async fn sla(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<FindingSla>, ApiError> {
    let who = actor(&caller);
    let clock = state.clock.clone();
    let report = as_caller(&state, &caller, move |store| {
        Ok(secops_service::vuln_report::report(
            store,
            None,
            0,
            1,
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    let days = |n: Option<i64>| n.map(|n| n as f64 / 86_400e9);
    let (open, overdue, _, _) = report.totals();
    Ok(Json(FindingSla {
        open,
        overdue,
        severities: report
            .severities
            .iter()
            .map(|l| FindingSlaLine {
                severity: l.severity.clone(),
                open: l.open,
                overdue: l.overdue,
                due_within_7_days: l.due_soon,
                accepted: l.accepted,
                closed_in_time: l.closed_in_time,
                closed_late: l.closed_late,
                remediated: l.remediation.n,
                median_days: days(l.remediation.median),
                p90_days: days(l.remediation.p90),
            })
            .collect(),
        owners: report
            .owners
            .iter()
            .map(|o| FindingOwnerLine {
                owner: o.owner.clone(),
                open: o.open,
                overdue: o.overdue,
                kev: o.kev,
                oldest_overdue_days: o.oldest_days,
            })
            .collect(),
    }))
}

//! Vulnerability findings in the console: the queue (by risk or deadline, filtered) with bulk
//! acceptance and closing, and one finding with the inputs of its priority, its detections and its
//! history. A host's findings also show on its entity page (`insight.rs`).

use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::Extension;
use secops_auth::role;
use secops_store::{FindingFilter, FindingRecord};

use super::form::{query_fields, Fields};
use super::view::{self, html, may, see_other, shown, when, Chrome};
use super::PageError;
use crate::api::{actor, as_caller};
use crate::auth::Caller;
use crate::state::AppState;

const PAGE: u32 = 100;
const DAY: i64 = 86_400 * 1_000_000_000;
const STATUSES: [&str; 6] = [
    "open",
    "accepted",
    "mitigated",
    "false_positive",
    "not_affected",
    "all",
];
const SEVERITIES: [&str; 6] = ["critical", "high", "medium", "low", "none", "unknown"];

/// One finding in a table.
pub struct FindingRow {
    pub id: i64,
    pub risk: String,
    pub severity: String,
    pub kev: bool,
    pub epss: String,
    pub due: String,
    pub overdue: bool,
    pub asset: String,
    pub vuln: String,
    pub package: String,
    pub title: String,
    pub status: String,
}

pub fn row(f: &FindingRecord, now: i64) -> FindingRow {
    let overdue = f.status == "open" && f.due_at.is_some_and(|d| d < now);
    FindingRow {
        id: f.id,
        risk: format!("{:.2}", f.priority.risk),
        severity: f.severity.clone(),
        kev: f.priority.in_kev,
        epss: f
            .priority
            .epss
            .map(|e| format!("{e:.4}"))
            .unwrap_or_default(),
        due: match f.due_at {
            Some(d) if overdue => format!("{} days late", (now - d) / DAY),
            Some(d) => when(d)[..10].to_string(),
            None => String::new(),
        },
        overdue,
        asset: shown(&f.asset_name).into_owned(),
        vuln: shown(&f.primary_id).into_owned(),
        package: shown(&match (&f.package, &f.package_version, &f.location) {
            (Some(p), Some(v), _) => format!("{p} {v}"),
            (Some(p), None, _) => p.clone(),
            (None, _, Some(l)) => l.clone(),
            _ => String::new(),
        })
        .into_owned(),
        title: shown(&f.title).into_owned(),
        status: f.status.clone(),
    }
}

#[derive(Template)]
#[template(path = "vulns.html")]
struct QueuePage {
    chrome: Chrome,
    statuses: Vec<(&'static str, bool)>,
    severities: Vec<(&'static str, bool)>,
    asset: String,
    tool: String,
    id: String,
    kev: bool,
    overdue: bool,
    by_due: bool,
    rows: Vec<FindingRow>,
    notice: String,
    can_change: bool,
    here: String,
}

/// `GET /vulns?status=&severity=&asset=&tool=&id=&kev=&overdue=&sort=`: the findings queue.
pub async fn queue(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, PageError> {
    let fields = query_fields(uri.query());
    let status = fields.get("status").unwrap_or_else(|| "open".into());
    if !STATUSES.contains(&status.as_str()) {
        return Err(PageError::invalid(format!(
            "status: {status:?} is not a finding status"
        )));
    }
    let severity = fields.get("severity").unwrap_or_default();
    if !severity.is_empty() && !SEVERITIES.contains(&severity.as_str()) {
        return Err(PageError::invalid(format!(
            "severity: {severity:?} is not a severity"
        )));
    }
    let asset = fields.get("asset").unwrap_or_default();
    let tool = fields.get("tool").unwrap_or_default();
    let id = fields.get("id").unwrap_or_default();
    let kev = fields.get("kev").is_some();
    let overdue = fields.get("overdue").is_some();
    let by_due = fields.get("sort").as_deref() == Some("due");
    let now = state.now();
    let filter = FindingFilter {
        statuses: if status == "all" {
            Vec::new()
        } else {
            vec![status.clone()]
        },
        severities: if severity.is_empty() {
            Vec::new()
        } else {
            vec![severity.clone()]
        },
        asset: (!asset.is_empty()).then(|| asset.clone()),
        tool: (!tool.is_empty()).then(|| tool.clone()),
        vuln_id: (!id.is_empty()).then(|| id.clone()),
        in_kev: kev.then_some(true),
        due_before: overdue.then_some(now),
        by_due: by_due || overdue,
        limit: Some(PAGE),
        ..FindingFilter::default()
    };
    let who = actor(&caller);
    let clock = state.clock.clone();
    let found = as_caller(&state, &caller, move |store| {
        Ok(secops_service::vulns::list(
            store,
            &filter,
            &who,
            clock.as_ref(),
        )?)
    })
    .await?;
    let here = format!("/vulns?{}", fields.query_without("done"));
    Ok(html(&QueuePage {
        chrome: Chrome::new(&state, &caller, "/vulns", "Vulnerabilities"),
        statuses: STATUSES.iter().map(|s| (*s, *s == status)).collect(),
        severities: SEVERITIES.iter().map(|s| (*s, *s == severity)).collect(),
        asset: shown(&asset).into_owned(),
        tool: shown(&tool).into_owned(),
        id: shown(&id).into_owned(),
        kev,
        overdue,
        by_due,
        rows: found.iter().map(|f| row(f, now)).collect(),
        notice: notice(&fields),
        can_change: may(&state, &caller, role::VULNS_ACCEPT),
        here,
    }))
}

/// What a finished change says (fixed text chosen by the address, never written by it).
fn notice(fields: &Fields) -> String {
    let n = fields.number("n").ok().flatten().unwrap_or(0);
    let refused = fields.number("refused").ok().flatten().unwrap_or(0);
    let what = match fields.get("done").as_deref() {
        Some("accepted") => "accepted",
        Some("closed") => "closed",
        _ => return String::new(),
    };
    let mut text = format!("{n} finding{} {what}", if n == 1 { "" } else { "s" });
    if refused > 0 {
        text.push_str(&format!(", {refused} refused (not open, or already so)"));
    }
    text
}

/// `POST /vulns/bulk`: the checked findings accepted (owner, reason, until) or closed (resolution,
/// note); back to the queue with what happened.
pub async fn bulk(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    fields: Fields,
) -> Result<Response, PageError> {
    let ids = fields.ids("id")?;
    if ids.is_empty() {
        return Err(PageError::invalid(
            "no finding chosen: check the boxes of the findings to change",
        ));
    }
    let back = fields
        .get("return")
        .filter(|r| view::local_path(r))
        .unwrap_or_else(|| "/vulns".to_string());
    let who = actor(&caller);
    let clock = state.clock.clone();
    let (done, results) = match fields.get("action").as_deref() {
        Some("accept") => {
            let owner = fields
                .get("owner")
                .ok_or_else(|| PageError::invalid("accept: who owns the risk?"))?;
            let reason = fields
                .get("reason")
                .ok_or_else(|| PageError::invalid("accept: why is the risk accepted?"))?;
            let until = fields
                .get("until")
                .ok_or_else(|| PageError::invalid("accept: until when? (a date)"))?;
            let expires = secops_vuln::parse_time(&until)
                .ok_or_else(|| PageError::invalid(format!("until: {until:?} is not a date")))?;
            let results = as_caller(&state, &caller, move |store| {
                Ok(secops_service::vulns::accept(
                    store,
                    &ids,
                    &owner,
                    &reason,
                    expires,
                    &who,
                    clock.as_ref(),
                )?)
            })
            .await?;
            ("accepted", results)
        }
        Some("close") => {
            let resolution = fields
                .get("resolution")
                .ok_or_else(|| PageError::invalid("close: fixed, mitigated or false positive?"))?;
            let note = fields.get("note").unwrap_or_default();
            let results = as_caller(&state, &caller, move |store| {
                Ok(secops_service::vulns::close(
                    store,
                    &ids,
                    &resolution,
                    &note,
                    &who,
                    clock.as_ref(),
                )?)
            })
            .await?;
            ("closed", results)
        }
        _ => return Err(PageError::invalid("choose an action: accept or close")),
    };
    let n = results.iter().filter(|r| r.is_ok()).count();
    let refused = results.len() - n;
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(see_other(&format!(
        "{back}{sep}done={done}&n={n}&refused={refused}"
    )))
}

pub struct FactRow {
    pub label: &'static str,
    pub value: String,
}

pub struct LineRow {
    pub cells: Vec<String>,
}

#[derive(Template)]
#[template(path = "vuln.html")]
struct DetailPage {
    chrome: Chrome,
    id: i64,
    title: String,
    facts: Vec<FactRow>,
    cvss: Vec<LineRow>,
    detections: Vec<LineRow>,
    history: Vec<LineRow>,
    description: Vec<String>,
    references: Vec<String>,
    can_change: bool,
    open: bool,
    here: String,
}

/// `GET /vulns/{id}`: one finding, whole.
pub async fn detail(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> Result<Response, PageError> {
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
    let now = state.now();
    let f = &d.record;
    let r = row(f, now);
    let mut facts = vec![
        FactRow {
            label: "Vulnerability",
            value: format!("{} (reported as {})", r.vuln, shown(&f.vuln_id)),
        },
        FactRow {
            label: "Asset",
            value: format!("{} {}", f.asset_kind, r.asset),
        },
        FactRow {
            label: "Package or place",
            value: r.package.clone(),
        },
        FactRow {
            label: "Status",
            value: format!(
                "{}{}",
                f.status,
                f.resolution
                    .as_deref()
                    .map(|x| format!(" ({})", shown(x)))
                    .unwrap_or_default()
            ),
        },
        FactRow {
            label: "Severity",
            value: f.severity.clone(),
        },
        FactRow {
            label: "Fix",
            value: format!(
                "{}{}",
                f.fix_state,
                d.finding
                    .as_ref()
                    .and_then(|x| x.fixed_version.clone())
                    .map(|v| format!(", fixed in {}", shown(&v)))
                    .unwrap_or_default()
            ),
        },
        FactRow {
            label: "Risk",
            value: r.risk.clone(),
        },
        FactRow {
            label: "Due",
            value: if r.due.is_empty() {
                "no deadline".into()
            } else {
                r.due.clone()
            },
        },
        FactRow {
            label: "Tools",
            value: shown(&f.tools.join(", ")).into_owned(),
        },
    ];
    if let Some(p) = &d.priority {
        facts.push(FactRow {
            label: "Why this risk",
            value: format!(
                "{} = {:.4}; x criticality {} x exposure {}",
                p.explain_risk(),
                p.vuln_risk,
                p.criticality_weight,
                p.exposure_weight
            ),
        });
        facts.push(FactRow {
            label: "Why this deadline",
            value: p.explain_deadline(),
        });
    }
    if let Some(case) = f.case_id {
        facts.push(FactRow {
            label: "Case",
            value: format!("#{case}"),
        });
    }
    let cvss = d
        .finding
        .iter()
        .flat_map(|x| &x.cvss)
        .map(|c| LineRow {
            cells: vec![
                c.version.as_str().to_string(),
                shown(c.vector.as_deref().unwrap_or("")).into_owned(),
                c.computed.map(|s| format!("{s:.1}")).unwrap_or_default(),
                c.reported.map(|s| format!("{s:.1}")).unwrap_or_default(),
                shown(&c.source).into_owned(),
            ],
        })
        .collect();
    let detections = d
        .detections
        .iter()
        .map(|x| LineRow {
            cells: vec![
                shown(&x.tool).into_owned(),
                shown(&x.scope).into_owned(),
                if x.present {
                    "present".into()
                } else {
                    "gone".into()
                },
                when(x.last_seen),
                shown(&x.record).into_owned(),
            ],
        })
        .collect();
    let history = d
        .events
        .iter()
        .map(|e| LineRow {
            cells: vec![
                when(e.at),
                shown(&e.actor).into_owned(),
                e.kind.clone(),
                shown(e.after.as_deref().unwrap_or("")).into_owned(),
            ],
        })
        .collect();
    let description = d
        .finding
        .as_ref()
        .map(|x| {
            x.description
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .take(40)
                .map(|l| shown(l).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let references = d
        .finding
        .as_ref()
        .map(|x| {
            x.references
                .iter()
                .take(20)
                .map(|l| shown(l).into_owned())
                .collect()
        })
        .unwrap_or_default();
    Ok(html(&DetailPage {
        chrome: Chrome::new(&state, &caller, "/vulns", format!("Finding {id}")),
        id,
        title: r.title.clone(),
        facts,
        cvss,
        detections,
        history,
        description,
        references,
        can_change: may(&state, &caller, role::VULNS_ACCEPT),
        open: matches!(f.status.as_str(), "open" | "accepted"),
        here: format!("/vulns/{id}"),
    }))
}

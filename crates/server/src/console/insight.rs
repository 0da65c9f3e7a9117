//! The read-mostly pages: indicators searched, hosts and users ranked by risk (and one entity's
//! risk with the alerts naming it), and the team's metrics (MTTD, MTTA, MTTC, MTTR; alert volume per
//! rule over time as a chart drawn on the server, in SVG).

use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::Extension;
use secops_intel::Kind;
use secops_store::{AlertFilter, IndicatorFilter};

use super::alerts::Row;
use super::form::query_fields;
use super::view::{self, html, shown, when, Chrome};
use super::PageError;
use crate::api::as_caller;
use crate::auth::Caller;
use crate::state::AppState;

pub struct IndicatorRow {
    pub kind: String,
    pub value: String,
    pub source: String,
    pub confidence: String,
    pub tlp: String,
    pub state: String,
    pub expires: String,
    pub warninglists: String,
    pub description: String,
    pub hunt: String,
}

#[derive(Template)]
#[template(path = "intel.html")]
struct IntelPage {
    chrome: Chrome,
    value: String,
    kinds: Vec<(&'static str, bool)>,
    source: String,
    active: bool,
    rows: Vec<IndicatorRow>,
    next: String,
}

const INTEL_PAGE: u32 = 100;

/// `GET /intel?value=&kind=&source=&active=`: indicators, a page at a time.
pub async fn intel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, PageError> {
    let fields = query_fields(uri.query());
    let value = fields.get("value").unwrap_or_default();
    let kind_text = fields.get("kind").unwrap_or_default();
    let kind = if kind_text.is_empty() {
        None
    } else {
        Some(Kind::parse(&kind_text).ok_or_else(|| {
            PageError::invalid(format!("kind: {kind_text:?} is not an indicator kind"))
        })?)
    };
    let source = fields.get("source").unwrap_or_default();
    let active = fields.get("active").is_some();
    let now = state.now();
    let filter = IndicatorFilter {
        kind,
        source: (!source.is_empty()).then(|| source.clone()),
        search: (!value.is_empty()).then(|| value.clone()),
        active_at: active.then_some(now),
        after_id: fields.number("after")?,
        limit: Some(INTEL_PAGE + 1),
        ..IndicatorFilter::default()
    };
    let mut found = as_caller(&state, &caller, move |store| Ok(store.indicators(&filter)?)).await?;
    let more = found.len() > INTEL_PAGE as usize;
    found.truncate(INTEL_PAGE as usize);
    let next = if more {
        found
            .last()
            .map(|r| format!("/intel?{}&after={}", fields.query_without("after"), r.id))
            .unwrap_or_default()
    } else {
        String::new()
    };
    let rows = found
        .iter()
        .map(|r| {
            let i = &r.indicator;
            IndicatorRow {
                kind: i.kind.as_str().to_string(),
                value: shown(&i.value).into_owned(),
                source: shown(&i.source).into_owned(),
                confidence: i.confidence.map(|c| c.to_string()).unwrap_or_default(),
                tlp: i.tlp.as_str().to_string(),
                state: r.state(now).as_str().to_string(),
                expires: when(r.expires_at),
                warninglists: shown(&r.warninglists.join(", ")).into_owned(),
                description: shown(&i.description).into_owned(),
                hunt: format!(
                    "/hunts?{}",
                    view::query([("q", pivot(i.kind, &i.value).as_str())])
                ),
            }
        })
        .collect();
    Ok(html(&IntelPage {
        chrome: Chrome::new(&state, &caller, "/intel", "Intel"),
        kinds: Kind::ALL
            .iter()
            .map(|k| (k.as_str(), k.as_str() == kind_text))
            .collect(),
        value: shown(&value).into_owned(),
        source: shown(&source).into_owned(),
        active,
        rows,
        next,
    }))
}

/// A hunt for the events that carry an indicator, by the ECS fields its kind appears in.
fn pivot(kind: Kind, value: &str) -> String {
    let fields: &[&str] = match kind {
        Kind::Ip => &["source.ip", "destination.ip"],
        Kind::Domain | Kind::Hostname => &["url.domain", "dns.question.name", "destination.domain"],
        Kind::Url => &["url.full", "url.original"],
        Kind::Md5 => &["file.hash.md5", "process.hash.md5"],
        Kind::Sha1 => &["file.hash.sha1", "process.hash.sha1"],
        Kind::Sha256 => &["file.hash.sha256", "process.hash.sha256"],
        Kind::Email => &["email.from.address", "user.email"],
    };
    let literal = super::hunts::literal(value);
    let condition = fields
        .iter()
        .map(|f| format!("{f} == {literal}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    format!("FROM events\n| WHERE {condition}\n| LIMIT 100")
}

pub struct RiskRow {
    pub entity: String,
    pub href: String,
    pub score: String,
    pub alerts: usize,
    pub rules: String,
    /// The bar's width (of 200).
    pub width: u32,
}

#[derive(Template)]
#[template(path = "risk.html")]
struct RiskPage {
    chrome: Chrome,
    kind: String,
    rows: Vec<RiskRow>,
}

/// An entity's page.
pub(crate) fn entity_href(kind: &str, name: &str) -> String {
    format!("/entities/{kind}/{}", view::segment(name))
}

/// `GET /risk?kind=host|user`: the riskiest hosts or users now.
pub async fn risk(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, PageError> {
    let fields = query_fields(uri.query());
    let kind: &'static str = match fields.get("kind").as_deref() {
        None | Some("host") => "host",
        Some("user") => "user",
        Some(other) => {
            return Err(PageError::invalid(format!(
                "kind: {other:?} is not host or user"
            )))
        }
    };
    let at = state.now();
    let found = as_caller(&state, &caller, move |store| {
        let model = secops_entity::RiskModel::default();
        Ok(secops_service::entities::risk_leaders(
            store, kind, at, &model, 25,
        )?)
    })
    .await?;
    let top = found.iter().map(|(_, r)| r.score).fold(0.0_f64, f64::max);
    let rows = found
        .iter()
        .map(|(entity, r)| RiskRow {
            href: entity_href(kind, entity),
            entity: shown(entity).into_owned(),
            score: format!("{:.1}", r.score),
            alerts: r.alerts,
            rules: r
                .rules
                .iter()
                .take(3)
                .map(|(rule, points)| format!("{} ({points:.1})", shown(rule)))
                .collect::<Vec<_>>()
                .join(", "),
            width: if top > 0.0 {
                ((r.score / top) * 200.0).round().clamp(1.0, 200.0) as u32
            } else {
                1
            },
        })
        .collect();
    Ok(html(&RiskPage {
        chrome: Chrome::new(&state, &caller, "/risk", "Entities"),
        kind: kind.to_string(),
        rows,
    }))
}

#[derive(Template)]
#[template(path = "entity.html")]
struct EntityPage {
    chrome: Chrome,
    kind: String,
    name: String,
    score: String,
    contributions: usize,
    rules: Vec<(String, String)>,
    /// What a host's open vulnerability findings add to the score (and, with `vulns:read`, which).
    vulnerabilities: Option<String>,
    alerts: Vec<Row>,
    queue: String,
    /// The host's or address's open vulnerability findings, riskiest first (with `vulns:read`).
    findings: Vec<super::vulns::FindingRow>,
    findings_href: String,
    show_findings: bool,
}

/// `GET /entities/{kind}/{name}`: an entity's risk and the newest alerts naming it, and for a host
/// or an address its open vulnerability findings beside them.
pub async fn entity(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path((kind, name)): axum::extract::Path<(String, String)>,
) -> Result<Response, PageError> {
    if !matches!(kind.as_str(), "host" | "user" | "ip") {
        return Err(PageError::invalid(format!(
            "{kind:?} is not host, user or ip"
        )));
    }
    let (k, n) = (kind.clone(), name.clone());
    let show_findings = kind != "user" && view::may(&state, &caller, secops_auth::role::VULNS_READ);
    let now = state.now();
    let (stored, alerts, findings) = as_caller(&state, &caller, move |store| {
        let findings = if show_findings {
            store.vuln_findings(&secops_store::FindingFilter {
                statuses: vec!["open".into()],
                asset: Some(n.clone()),
                limit: Some(20),
                ..secops_store::FindingFilter::default()
            })?
        } else {
            Vec::new()
        };
        let stored = if k == "ip" {
            None
        } else {
            let model = secops_entity::RiskModel::default();
            secops_service::entities::current_risk(store, &k, &n, None, now, &model)?
        };
        let page = secops_service::alerts::list(
            store,
            &AlertFilter {
                entity: Some((k, n)),
                ..AlertFilter::default()
            },
            20,
        )?;
        Ok((stored, page.items, findings))
    })
    .await?;
    Ok(html(&EntityPage {
        findings: findings.iter().map(|f| super::vulns::row(f, now)).collect(),
        findings_href: format!("/vulns?{}", view::query([("asset", name.as_str())])),
        show_findings,
        chrome: Chrome::new(&state, &caller, "/risk", format!("{kind} {name}")),
        score: stored
            .as_ref()
            .map(|r| format!("{:.1}", r.score))
            .unwrap_or_else(|| "none recorded".into()),
        contributions: stored.as_ref().map_or(0, |r| r.alerts),
        vulnerabilities: stored
            .as_ref()
            .and_then(|r| r.vulnerabilities.as_ref())
            .map(|v| match show_findings {
                true => format!("{:.1} ({})", v.points, shown(&v.rule)),
                false => format!("{:.1}", v.points),
            }),
        rules: stored
            .map(|r| {
                r.rules
                    .into_iter()
                    .map(|(rule, points)| (shown(&rule).into_owned(), format!("{points:.1}")))
                    .collect()
            })
            .unwrap_or_default(),
        alerts: alerts.iter().map(|a| Row::of(a, false)).collect(),
        queue: format!(
            "/alerts?{}",
            view::query([("status", ""), (kind.as_str(), name.as_str())])
        ),
        name: shown(&name).into_owned(),
        kind,
    }))
}

pub struct MetricRow {
    pub group: String,
    pub cases: usize,
    pub mttd: String,
    pub mtta: String,
    pub mttc: String,
    pub mttr: String,
}

/// A bar of the chart.
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub series: usize,
    pub title: String,
}

pub struct Tick {
    pub x: u32,
    pub label: String,
}

pub struct Series {
    pub index: usize,
    pub label: String,
    pub total: i64,
}

/// Alerts per rule over time, as stacked bars.
pub struct Chart {
    pub width: u32,
    pub height: u32,
    pub plot_height: u32,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    pub series: Vec<Series>,
    pub most: i64,
    pub empty: bool,
}

#[derive(Template)]
#[template(path = "metrics.html")]
struct MetricsPage {
    chrome: Chrome,
    rows: Vec<MetricRow>,
    chart: Chart,
    ranges: Vec<(i64, bool)>,
}

/// A duration as people read it: `42 s`, `17 min`, `5.2 h`, `3.1 d`.
fn span(nanos: Option<i64>) -> String {
    let Some(n) = nanos else {
        return "—".into();
    };
    let s = n as f64 / 1e9;
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86_400.0)
    }
}

/// The chart of `volume` (oldest period first) in a box of 960 by 240.
pub fn chart(volume: &secops_service::alerts::Volume, period: i64) -> Chart {
    const WIDTH: u32 = 960;
    const PLOT: u32 = 200;
    const LEFT: u32 = 40;
    let mut series: Vec<(String, &Vec<i64>)> = volume
        .rules
        .iter()
        .map(|(_, name, counts)| (shown(name).into_owned(), counts))
        .collect();
    if volume.others.iter().any(|c| *c > 0) {
        series.push(("other rules".into(), &volume.others));
    }
    let periods = volume.periods.len().max(1);
    let totals: Vec<i64> = (0..volume.periods.len())
        .map(|i| {
            series
                .iter()
                .map(|(_, c)| c.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let most = totals.iter().copied().max().unwrap_or(0).max(1);
    let slot = ((WIDTH - LEFT) as usize / periods).max(1) as u32;
    let bar_width = slot.saturating_sub(1).max(1);
    let mut bars = Vec::new();
    for (i, _) in volume.periods.iter().enumerate() {
        let x = LEFT + slot * i as u32;
        let mut base = 0_i64;
        for (index, (label, counts)) in series.iter().enumerate() {
            let count = counts.get(i).copied().unwrap_or(0);
            if count == 0 {
                continue;
            }
            let y0 = (base as f64 / most as f64 * PLOT as f64).round() as u32;
            let y1 = ((base + count) as f64 / most as f64 * PLOT as f64).round() as u32;
            bars.push(Bar {
                x,
                y: PLOT - y1,
                width: bar_width,
                height: (y1 - y0).max(1),
                series: index % 10,
                title: format!("{label}: {count} at {}", when(volume.periods[i])),
            });
            base += count;
        }
    }
    let every = (periods / 8).max(1);
    let ticks = volume
        .periods
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, at)| Tick {
            x: LEFT + slot * i as u32,
            label: if period >= 86_400 * 1_000_000_000 {
                when(*at)[..10].to_string()
            } else {
                when(*at)[5..16].to_string()
            },
        })
        .collect();
    Chart {
        width: WIDTH,
        height: PLOT + 40,
        plot_height: PLOT,
        empty: totals.iter().all(|t| *t == 0),
        bars,
        ticks,
        series: series
            .iter()
            .enumerate()
            .map(|(index, (label, counts))| Series {
                index: index % 10,
                label: label.clone(),
                total: counts.iter().sum(),
            })
            .collect(),
        most,
    }
}

/// `GET /metrics?days=`: MTTD/MTTA/MTTC/MTTR overall, by severity and playbook; alert volume per
/// rule over the last days.
pub async fn metrics(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Result<Response, PageError> {
    let fields = query_fields(uri.query());
    let days = match fields.number("days")? {
        None => 7,
        Some(d) if [1, 7, 30, 90].contains(&d) => d,
        Some(_) => return Err(PageError::invalid("days: 1, 7, 30 or 90")),
    };
    let until = state.now();
    let since = until - days * 86_400 * 1_000_000_000;
    let period = if days <= 1 { 3600 } else { 86_400 } * 1_000_000_000_i64;
    let (groups, volume) = as_caller(&state, &caller, move |store| {
        Ok((
            secops_service::cases::metrics(store)?,
            secops_service::alerts::volume(store, since, until, period, 8)?,
        ))
    })
    .await?;
    let rows = groups
        .into_iter()
        .map(|(group, s)| MetricRow {
            group: shown(&group).into_owned(),
            cases: s.cases,
            mttd: span(s.detect.median),
            mtta: span(s.acknowledge.median),
            mttc: span(s.contain.median),
            mttr: span(s.resolve.median),
        })
        .collect();
    Ok(html(&MetricsPage {
        chrome: Chrome::new(&state, &caller, "/metrics", "Metrics"),
        rows,
        chart: chart(&volume, period),
        ranges: [1, 7, 30, 90].iter().map(|d| (*d, *d == days)).collect(),
    }))
}

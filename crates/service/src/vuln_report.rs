//! Where the findings stand: against their SLA per severity (time to remediate as median and 90th
//! percentile, the case metrics' own nearest-rank machinery), overdue by owner (the inventory's
//! owner of each asset), the top risks, and the open findings per day replayed from their history.

use std::collections::{BTreeMap, HashMap};

use secops_case::metrics::Stat;
use secops_store::{FindingFilter, SlaRow, Store};
use secops_vuln::assets::AssetIndex;
use secops_vuln::report::{BurnPoint, Durations, OwnerLine, Report, SeverityLine, TopRow};
use secops_vuln::{Asset, AssetKind};

use crate::vulns::expire_acceptances;
use crate::{Actor, Clock, ServiceError};

const DAY: i64 = 86_400 * 1_000_000_000;
const SEVERITIES: [&str; 6] = ["critical", "high", "medium", "low", "unknown", "none"];

/// The report as of now: SLA per severity, owners, the `top` highest risks, the last `days` days of
/// open findings.
pub fn report(
    store: &mut Store,
    assets: Option<&AssetIndex>,
    top: u32,
    days: i64,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<Report, ServiceError> {
    expire_acceptances(store, actor, clock)?;
    let now = clock.now().unix_nanos();
    let rows = store.vuln_sla_rows()?;
    let top = store
        .vuln_findings(&FindingFilter {
            statuses: vec!["open".into()],
            limit: Some(top),
            ..FindingFilter::default()
        })?
        .into_iter()
        .map(|f| TopRow {
            id: f.id,
            risk: f.priority.risk,
            severity: f.severity,
            kev: f.priority.in_kev,
            epss: f.priority.epss,
            due: f.due_at,
            asset: f.asset_name,
            vuln: f.primary_id,
            package: match (f.package, f.package_version) {
                (Some(p), Some(v)) => format!("{p} {v}"),
                (Some(p), None) => p,
                _ => f.location.unwrap_or_default(),
            },
            title: f.title,
        })
        .collect();
    Ok(Report {
        generated: now,
        severities: severities(&rows, now),
        owners: owners(&rows, assets, now),
        top,
        burn: burn(store, now, days)?,
    })
}

/// Whether a finding was remediated (not a false positive or not affected).
fn remediated(row: &SlaRow) -> bool {
    row.status == "mitigated" && row.closed_at.is_some()
}

fn severities(rows: &[SlaRow], now: i64) -> Vec<SeverityLine> {
    let mut lines: Vec<SeverityLine> = Vec::new();
    for severity in SEVERITIES {
        let of: Vec<&SlaRow> = rows.iter().filter(|r| r.severity == severity).collect();
        if of.is_empty() {
            continue;
        }
        let open: Vec<&&SlaRow> = of.iter().filter(|r| r.status == "open").collect();
        let closed: Vec<&&SlaRow> = of.iter().filter(|r| remediated(r)).collect();
        let late = |r: &SlaRow| match (r.due_at, r.closed_at) {
            (Some(due), Some(closed)) => closed > due,
            _ => false,
        };
        let stat = Stat::of(
            closed
                .iter()
                .filter_map(|r| Some(r.closed_at? - r.first_seen))
                .collect(),
        );
        lines.push(SeverityLine {
            severity: severity.to_string(),
            open: open.len() as u64,
            overdue: open
                .iter()
                .filter(|r| r.due_at.is_some_and(|d| d < now))
                .count() as u64,
            due_soon: open
                .iter()
                .filter(|r| r.due_at.is_some_and(|d| d >= now && d < now + 7 * DAY))
                .count() as u64,
            accepted: of.iter().filter(|r| r.status == "accepted").count() as u64,
            closed_in_time: closed.iter().filter(|r| !late(r)).count() as u64,
            closed_late: closed.iter().filter(|r| late(r)).count() as u64,
            remediation: Durations {
                n: stat.n,
                median: stat.median,
                p90: stat.p90,
            },
        });
    }
    lines
}

fn owners(rows: &[SlaRow], assets: Option<&AssetIndex>, now: i64) -> Vec<OwnerLine> {
    let mut by: BTreeMap<String, OwnerLine> = BTreeMap::new();
    let mut owner_of: HashMap<(&str, &str), String> = HashMap::new();
    for r in rows.iter().filter(|r| r.status == "open") {
        let owner = owner_of
            .entry((r.asset_kind.as_str(), r.asset_name.as_str()))
            .or_insert_with(|| {
                let asset = Asset {
                    kind: AssetKind::parse(&r.asset_kind).unwrap_or(AssetKind::Host),
                    name: r.asset_name.clone(),
                    address: r.asset_address.clone(),
                };
                // The inventory given now, else the one the finding was last prioritised with.
                match assets {
                    Some(a) => a.find(&asset).and_then(|m| m.owner.clone()),
                    None => r.owner.clone(),
                }
                .unwrap_or_else(|| "(no owner in the inventory)".into())
            })
            .clone();
        let line = by.entry(owner.clone()).or_insert_with(|| OwnerLine {
            owner,
            ..OwnerLine::default()
        });
        line.open += 1;
        line.kev += u64::from(r.in_kev);
        if let Some(due) = r.due_at.filter(|d| *d < now) {
            line.overdue += 1;
            line.oldest_days = line.oldest_days.max((now - due) / DAY);
        }
    }
    let mut lines: Vec<OwnerLine> = by.into_values().collect();
    lines.sort_by(|a, b| b.overdue.cmp(&a.overdue).then(b.open.cmp(&a.open)));
    lines
}

/// Open findings at the end of each of the last `days` days, replayed from the findings' history.
fn burn(store: &mut Store, now: i64, days: i64) -> Result<Vec<BurnPoint>, ServiceError> {
    let changes = store.vuln_status_changes()?;
    let Some(first) = changes.first() else {
        return Ok(Vec::new());
    };
    let today = now - now.rem_euclid(DAY);
    let start = (today - (days - 1).max(0) * DAY).max(first.at - first.at.rem_euclid(DAY));
    let mut open: HashMap<i64, bool> = HashMap::new();
    let mut count: i64 = 0;
    let mut points = Vec::new();
    let mut changes = changes.iter().peekable();
    let mut day = start;
    while day <= today {
        let end = day + DAY;
        while let Some(c) = changes.next_if(|c| c.at < end) {
            let now_open = match c.kind.as_str() {
                "created" => c.after.as_deref() == Some("open"),
                "reopened" | "acceptance expired" => true,
                "mitigated" | "closed" | "accepted" | "not affected" => false,
                _ => continue,
            };
            let was = open.insert(c.finding, now_open).unwrap_or(false);
            count += i64::from(now_open) - i64::from(was);
        }
        points.push(BurnPoint { day, open: count });
        day = end;
    }
    Ok(points)
}

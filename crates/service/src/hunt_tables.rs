//! The tables hunts read besides events: the store's alerts, cases, indicators and vulnerability
//! findings, the warninglists and the asset inventory. Columns carry ECS names where ECS has one, so a
//! `LOOKUP JOIN alerts ON host.name` or an `ENRICH assets ON host.name` needs no renaming.
//!
//! Rows are read page by page from the store as the query consumes them (bounded memory), on a
//! connection of their own.

use std::sync::Arc;

use secops_entity::inventory::Inventory;
use secops_hunt::{Cell, ColumnType, Registered, Rows, TableInfo};
use secops_intel::warninglist::Warninglists;
use secops_store::{
    AlertCursor, AlertFilter, AlertRecord, CaseFilter, CaseRecord, FindingFilter, FindingRecord,
    IndicatorFilter, IndicatorRecord, Store,
};

/// Rows read from the store per page.
const PAGE: u32 = 1000;

/// What the tables read: the store (opened when a query reads one of its tables), the
/// warninglists and the inventory when given.
#[derive(Debug, Clone, Default)]
pub struct HuntTables {
    /// The store as `--db` or `--database-url` name it; `None`: no store tables.
    pub store: Option<String>,
    pub warninglists: Option<Arc<Warninglists>>,
    pub inventory: Option<Arc<Inventory>>,
    /// The time indicators' states are judged at (UTC nanoseconds).
    pub now: i64,
    /// Every table declared, whatever was given (for validating queries: nothing is read).
    pub declare_all: bool,
}

use ColumnType::{Integer, Text, TextList, Time};

fn alerts_info() -> TableInfo {
    TableInfo {
        name: "alerts",
        columns: vec![
            ("alert.id", Integer),
            ("@timestamp", Time),
            ("alert.first", Time),
            ("rule.id", Text),
            ("rule.name", Text),
            ("rule.severity", Text),
            ("rule.risk_score", Integer),
            ("threat.tactic.id", TextList),
            ("threat.technique.id", TextList),
            ("rule.tags", TextList),
            ("alert.status", Text),
            ("alert.resolution", Text),
            ("alert.count", Integer),
            ("alert.group", Text),
            ("case.id", Integer),
            ("host.name", Text),
            ("user.name", Text),
            ("source.ip", Text),
        ],
        key: "alert.id",
        folded: false,
        prefer: Vec::new(),
    }
}

fn cases_info() -> TableInfo {
    TableInfo {
        name: "cases",
        columns: vec![
            ("case.id", Integer),
            ("case.number", Integer),
            ("@timestamp", Time),
            ("case.title", Text),
            ("case.severity", Text),
            ("case.state", Text),
            ("case.assignee", Text),
            ("case.tlp", Text),
            ("case.tags", TextList),
            ("case.resolution", Text),
            ("case.updated", Time),
            ("case.closed", Time),
        ],
        key: "case.number",
        folded: false,
        prefer: Vec::new(),
    }
}

fn indicators_info() -> TableInfo {
    TableInfo {
        name: "indicators",
        columns: vec![
            ("threat.indicator.name", Text),
            ("threat.indicator.type", Text),
            ("threat.indicator.provider", Text),
            ("threat.indicator.confidence", Integer),
            ("threat.indicator.marking.tlp", Text),
            ("threat.indicator.description", Text),
            ("threat.indicator.first_seen", Time),
            ("threat.indicator.last_seen", Time),
            ("threat.indicator.modified_at", Time),
            ("threat.indicator.tags", TextList),
            ("threat.indicator.state", Text),
            ("threat.indicator.expires", Time),
            ("threat.indicator.warninglists", TextList),
        ],
        key: "threat.indicator.name",
        folded: false,
        // The indicator that would match now ("active" sorts first), the surest, the latest seen.
        prefer: vec![
            ("threat.indicator.state", false),
            ("threat.indicator.confidence", true),
            ("threat.indicator.last_seen", true),
        ],
    }
}

fn findings_info() -> TableInfo {
    TableInfo {
        name: "findings",
        columns: vec![
            ("finding.id", Integer),
            ("@timestamp", Time),
            ("finding.first_seen", Time),
            ("finding.kind", Text),
            ("finding.status", Text),
            ("finding.due", Time),
            ("finding.title", Text),
            ("finding.tools", TextList),
            ("vulnerability.id", Text),
            ("vulnerability.severity", Text),
            ("vulnerability.risk", ColumnType::Float),
            ("vulnerability.epss", ColumnType::Float),
            ("vulnerability.kev", ColumnType::Bool),
            ("package.name", Text),
            ("package.version", Text),
            ("host.name", Text),
            ("host.ip", Text),
            ("container.image.name", Text),
        ],
        key: "host.name",
        folded: true,
        // A host's riskiest finding first.
        prefer: vec![("vulnerability.risk", true)],
    }
}

fn warninglists_info() -> TableInfo {
    TableInfo {
        name: "warninglists",
        columns: vec![
            ("warninglist.name", Text),
            ("warninglist.version", Text),
            ("warninglist.type", Text),
            ("warninglist.size", Integer),
        ],
        key: "warninglist.name",
        folded: false,
        prefer: Vec::new(),
    }
}

fn assets_info() -> TableInfo {
    TableInfo {
        name: "assets",
        columns: vec![
            ("asset.identifier", Text),
            ("asset.kind", Text),
            ("asset.id", Text),
            ("asset.criticality", Text),
            ("asset.exposure", Text),
            ("asset.owner", Text),
            ("asset.vip", ColumnType::Bool),
            ("asset.tags", TextList),
        ],
        key: "asset.identifier",
        folded: true,
        prefer: Vec::new(),
    }
}

impl Registered for HuntTables {
    fn tables(&self) -> Vec<TableInfo> {
        let mut tables = Vec::new();
        if self.store.is_some() || self.declare_all {
            tables.extend([
                alerts_info(),
                cases_info(),
                indicators_info(),
                findings_info(),
            ]);
        }
        if self.warninglists.is_some() || self.declare_all {
            tables.push(warninglists_info());
        }
        if self.inventory.is_some() || self.declare_all {
            tables.push(assets_info());
        }
        tables
    }

    fn rows(&self, name: &str) -> Result<Rows, String> {
        match name {
            "alerts" | "cases" | "indicators" | "findings" => {
                let target = self.store.as_deref().ok_or("no store was given")?;
                let store = Store::open_existing(target)
                    .map_err(|e| format!("opening the store {target}: {e}"))?;
                Ok(match name {
                    "alerts" => Box::new(Pages::new(store, alert_page)),
                    "cases" => Box::new(Pages::new(store, case_page)),
                    "findings" => Box::new(Pages::new(store, finding_page)),
                    _ => {
                        let now = self.now;
                        Box::new(Pages::new(store, move |store, after| {
                            indicator_page(store, after, now)
                        }))
                    }
                })
            }
            "warninglists" => {
                let lists = self
                    .warninglists
                    .clone()
                    .ok_or("no warninglists were given")?;
                let rows: Vec<Result<Vec<Cell>, String>> = lists
                    .lists
                    .iter()
                    .map(|l| {
                        Ok(vec![
                            Cell::Text(l.name.clone()),
                            Cell::Text(l.version.clone()),
                            Cell::Text(l.list_type().to_string()),
                            Cell::Integer(i64::try_from(l.size).unwrap_or(i64::MAX)),
                        ])
                    })
                    .collect();
                Ok(Box::new(rows.into_iter()))
            }
            "assets" => {
                let inventory = self.inventory.clone().ok_or("no inventory was given")?;
                Ok(Box::new(asset_rows(&inventory).into_iter().map(Ok)))
            }
            other => Err(format!("no table {other}")),
        }
    }
}

/// A table read from the store a page at a time: `page` gives the rows after a position `C` (the
/// listing's own cursor) and the position of its last row.
struct Pages<C, F> {
    store: Store,
    page: F,
    after: Option<C>,
    rows: std::vec::IntoIter<Vec<Cell>>,
    done: bool,
}

type Page<C> = Result<(Vec<Vec<Cell>>, Option<C>), String>;

impl<C: Copy, F: FnMut(&mut Store, Option<C>) -> Page<C>> Pages<C, F> {
    fn new(store: Store, page: F) -> Pages<C, F> {
        Pages {
            store,
            page,
            after: None,
            rows: Vec::new().into_iter(),
            done: false,
        }
    }
}

impl<C: Copy, F: FnMut(&mut Store, Option<C>) -> Page<C>> Iterator for Pages<C, F> {
    type Item = Result<Vec<Cell>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.rows.next() {
                return Some(Ok(row));
            }
            if self.done {
                return None;
            }
            match (self.page)(&mut self.store, self.after) {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok((rows, last)) => {
                    self.done = last.is_none() || rows.len() < PAGE as usize;
                    self.after = last;
                    self.rows = rows.into_iter();
                }
            }
        }
    }
}

fn text(value: &str) -> Cell {
    Cell::Text(value.to_string())
}

fn optional_text(value: Option<&str>) -> Cell {
    value.map_or(Cell::Null, text)
}

fn time(value: Option<i64>) -> Cell {
    value.map_or(Cell::Null, Cell::Time)
}

/// Alerts newest first, paged by (last seen, id).
fn alert_page(store: &mut Store, after: Option<AlertCursor>) -> Page<AlertCursor> {
    let records = store
        .alerts(&AlertFilter {
            after,
            limit: Some(PAGE),
            ..AlertFilter::default()
        })
        .map_err(|e| format!("reading alerts: {e}"))?;
    let last = records.last().map(AlertRecord::cursor);
    Ok((records.iter().map(alert_row).collect(), last))
}

fn alert_row(record: &AlertRecord) -> Vec<Cell> {
    // The document gives the techniques and the entities; a document that does not read (written
    // by a later version) leaves them null rather than hiding the alert.
    let document = secops_alert::AlertDocument::parse(&record.document).ok();
    let list = |pick: fn(&secops_alert::AlertDocument) -> &Vec<String>| {
        document
            .as_ref()
            .map_or(Cell::Null, |d| Cell::TextList(pick(d).clone()))
    };
    // The first event as the engine reads events: flat and nested keys alike.
    let first = document
        .as_ref()
        .and_then(|d| d.events.first())
        .map(|e| secops_event::Value::from(e.clone()));
    let entity = |field: &str| {
        document
            .as_ref()
            .and_then(|d| d.group.get(field))
            .map(|v| secops_event::Value::from(v.clone()))
            .or_else(|| {
                first
                    .as_ref()
                    .and_then(|e| e.as_object())
                    .and_then(|o| o.lookup(field))
                    .cloned()
            })
            .and_then(|v| match v {
                secops_event::Value::Str(_)
                | secops_event::Value::Int(_)
                | secops_event::Value::Float(_)
                | secops_event::Value::Ip(_) => Some(Cell::Text(v.to_string())),
                _ => None,
            })
            .unwrap_or(Cell::Null)
    };
    vec![
        Cell::Integer(record.id),
        Cell::Time(record.last_seen),
        Cell::Time(record.first_seen),
        text(&record.rule_id),
        text(&record.rule_name),
        text(&record.severity),
        Cell::Integer(record.risk_score.into()),
        list(|d| &d.tactics),
        list(|d| &d.techniques),
        list(|d| &d.rule_tags),
        text(record.status.as_str()),
        optional_text(record.resolution.as_deref()),
        Cell::Integer(i64::try_from(record.event_count).unwrap_or(i64::MAX)),
        text(&record.group_key),
        record.case_id.map_or(Cell::Null, Cell::Integer),
        entity("host.name"),
        entity("user.name"),
        entity("source.ip"),
    ]
}

/// Cases newest first, paged by number.
fn case_page(store: &mut Store, before_number: Option<i64>) -> Page<i64> {
    let records = store
        .cases(&CaseFilter {
            before_number,
            limit: Some(PAGE),
            ..CaseFilter::default()
        })
        .map_err(|e| format!("reading cases: {e}"))?;
    let last = records.last().map(|r| r.number);
    Ok((records.iter().map(case_row).collect(), last))
}

fn case_row(record: &CaseRecord) -> Vec<Cell> {
    vec![
        Cell::Integer(record.id),
        Cell::Integer(record.number),
        Cell::Time(record.created_at),
        text(&record.title),
        text(&record.severity),
        text(&record.state),
        optional_text(record.assignee.as_deref()),
        text(&record.tlp),
        Cell::TextList(record.tags.clone()),
        optional_text(record.resolution.as_deref()),
        Cell::Time(record.updated_at),
        time(record.closed_at),
    ]
}

/// Indicators in the order they were stored, paged by id.
/// Findings in id order, every status.
fn finding_page(store: &mut Store, after_id: Option<i64>) -> Page<i64> {
    let records = store
        .vuln_findings(&FindingFilter {
            after_id,
            by_id: true,
            limit: Some(PAGE),
            ..FindingFilter::default()
        })
        .map_err(|e| format!("reading findings: {e}"))?;
    let last = records.last().map(|r| r.id);
    Ok((records.iter().map(finding_row).collect(), last))
}

fn finding_row(f: &FindingRecord) -> Vec<Cell> {
    let host = f.asset_kind == "host";
    vec![
        Cell::Integer(f.id),
        Cell::Time(f.last_seen),
        Cell::Time(f.first_seen),
        text(&f.kind),
        text(&f.status),
        time(f.due_at),
        text(&f.title),
        Cell::TextList(f.tools.clone()),
        text(&f.primary_id),
        text(&f.severity),
        Cell::Float(f.priority.risk),
        f.priority.epss.map_or(Cell::Null, Cell::Float),
        Cell::Bool(f.priority.in_kev),
        optional_text(f.package.as_deref()),
        optional_text(f.package_version.as_deref()),
        if host {
            text(&secops_entity::names::host(&f.asset_name))
        } else {
            Cell::Null
        },
        if host {
            optional_text(f.asset_address.as_deref())
        } else {
            Cell::Null
        },
        if f.asset_kind == "image" {
            text(&f.asset_name)
        } else {
            Cell::Null
        },
    ]
}

fn indicator_page(store: &mut Store, after_id: Option<i64>, now: i64) -> Page<i64> {
    let records = store
        .indicators(&IndicatorFilter {
            after_id,
            limit: Some(PAGE),
            ..IndicatorFilter::default()
        })
        .map_err(|e| format!("reading indicators: {e}"))?;
    let last = records.last().map(|r| r.id);
    Ok((
        records.iter().map(|r| indicator_row(r, now)).collect(),
        last,
    ))
}

fn indicator_row(record: &IndicatorRecord, now: i64) -> Vec<Cell> {
    let i = &record.indicator;
    vec![
        text(&i.value),
        text(i.kind.as_str()),
        text(&i.source),
        i.confidence.map_or(Cell::Null, |c| Cell::Integer(c.into())),
        text(i.tlp.as_str()),
        text(&i.description),
        time(i.first_seen),
        time(i.last_seen),
        Cell::Time(record.updated_at),
        Cell::TextList(i.tags.clone()),
        text(record.state(now).as_str()),
        Cell::Time(record.expires_at),
        Cell::TextList(record.warninglists.clone()),
    ]
}

/// One row per name an asset is known by (host names, addresses, user aliases; a network by its
/// name and block), the name in lower case.
fn asset_rows(inventory: &Inventory) -> Vec<Vec<Cell>> {
    let mut rows = Vec::new();
    let mut row = |identifier: String,
                   kind: &str,
                   id: &str,
                   criticality: &str,
                   exposure: Option<&str>,
                   owner: Option<&str>,
                   vip: bool,
                   tags: &[String]| {
        rows.push(vec![
            Cell::Text(identifier.to_lowercase()),
            text(kind),
            text(id),
            text(criticality),
            optional_text(exposure),
            optional_text(owner),
            Cell::Bool(vip),
            Cell::TextList(tags.to_vec()),
        ]);
    };
    for host in &inventory.hosts {
        let mut names: Vec<String> = vec![host.id.clone()];
        names.extend(host.names.iter().cloned());
        names.extend(host.addresses.iter().map(|l| l.ip.to_string()));
        names.sort_by_key(|n| n.to_lowercase());
        names.dedup_by_key(|n| n.to_lowercase());
        for name in names {
            row(
                name,
                "host",
                &host.id,
                host.criticality.as_str(),
                Some(host.exposure.as_str()),
                host.owner.as_deref(),
                host.vip,
                &host.tags,
            );
        }
    }
    for user in &inventory.users {
        let mut names: Vec<String> = vec![user.id.clone()];
        names.extend(user.aliases.iter().cloned());
        names.sort_by_key(|n| n.to_lowercase());
        names.dedup_by_key(|n| n.to_lowercase());
        for name in names {
            row(
                name,
                "user",
                &user.id,
                user.criticality.as_str(),
                None,
                None,
                user.vip,
                &user.tags,
            );
        }
    }
    for network in &inventory.networks {
        for name in [network.name.clone(), network.text.clone()] {
            row(
                name,
                "network",
                &network.name,
                network.criticality.as_str(),
                Some(network.exposure.as_str()),
                None,
                false,
                &[],
            );
        }
    }
    rows
}

//! Vulnerability management: scanner reports into the store (each finding prioritised with the
//! catalogs the store holds and the asset inventory), the findings queue, a finding's detail,
//! risk acceptance and closing. Catalogs are loaded by `vuln_refresh.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use secops_store::{
    AcceptanceRecord, DetectionRecord, EpssRow, FindingEvent, FindingFilter, FindingRecord,
    ImportCounts, Imported, KevRow, NewFinding, PriorityColumns, Store,
};
use secops_vuln::assets::AssetIndex;
use secops_vuln::risk::{self, Exploit, Priority, SlaPolicy, Weights};
use secops_vuln::{Finding, FindingKind, FixState, Format, KevMark, Sink, Tally, VulnError};
use serde::{Deserialize, Serialize};

use crate::{Actor, Clock, Progress, ServiceError};

/// Findings stored per transaction.
const BATCH: usize = 5000;

/// A batch is sent on before its findings' documents reach this many bytes: findings with long
/// texts (a Nessus plugin's output) make smaller batches, and the pipeline's memory stays near
/// `IN_FLIGHT + 2` batches of this size whatever the report (a Trivy report's 5,000 findings are
/// about 12 MB: they still go together).
const BATCH_BYTES: usize = 16 << 20;

/// How findings are prioritised: asset weights and SLA days (`[vuln]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VulnPolicy {
    pub weights: Weights,
    pub sla: SlaPolicy,
}

/// What to import.
#[derive(Debug, Default)]
pub struct ImportOptions<'a> {
    pub files: Vec<PathBuf>,
    /// The format of every file (detected per file when not given).
    pub format: Option<Format>,
    /// Names what was scanned when the report does not (a SARIF run without its repository): the
    /// scope and asset of every finding.
    pub target: Option<String>,
    pub assets: Option<&'a AssetIndex>,
    pub policy: VulnPolicy,
}

/// What one file's import did.
#[derive(Debug, Clone, Default)]
pub struct FileImport {
    pub file: String,
    pub tally: Tally,
    pub new: u64,
    pub merged: u64,
    pub reopened: u64,
    /// Findings closed as gone from the scopes this file covered.
    pub closed: u64,
    /// Nothing was closed because entries were rejected (one of them may be a finding still
    /// there).
    pub closing_skipped: bool,
    /// The scopes (tool, what was scanned) the file covered.
    pub scopes: Vec<(String, String)>,
    /// Why the file could not be read at all.
    pub error: Option<String>,
    /// What a file of VEX statements did.
    pub vex: Option<VexApplied>,
}

/// What VEX statements did: statements read, those saying not affected, the findings they marked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VexApplied {
    pub statements: u64,
    pub not_affected: u64,
    pub marked: u64,
}

impl FileImport {
    pub fn rejected(&self) -> u64 {
        self.tally.rejected.len() as u64
    }
}

/// An import of several files.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub files: Vec<FileImport>,
}

impl ImportReport {
    /// Totals over the files: read, new, merged, rejected, reopened, closed.
    pub fn totals(&self) -> ImportCounts {
        let mut t = ImportCounts::default();
        // VEX files hold statements, not findings: not in the counts of findings read.
        for f in self.files.iter().filter(|f| f.vex.is_none()) {
            t.read += f.tally.read;
            t.rejected += f.rejected();
            t.reopened += f.reopened;
        }
        // New and merged count the findings read (vulnerabilities), not those kept apart.
        for f in self.files.iter().filter(|f| f.vex.is_none()) {
            t.new += f.new;
            t.merged += f.merged;
        }
        t
    }

    pub fn closed(&self) -> u64 {
        self.files.iter().map(|f| f.closed).sum()
    }
}

/// What prioritising needs from the store: the KEV catalog and, per batch, EPSS scores.
pub struct Knowledge {
    pub kev: BTreeMap<String, KevRow>,
}

impl std::fmt::Debug for Knowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knowledge")
            .field("kev", &self.kev.len())
            .finish()
    }
}

impl Knowledge {
    pub fn load(store: &mut Store) -> Result<Knowledge, ServiceError> {
        Ok(Knowledge {
            kev: store.kev_entries()?,
        })
    }

    /// The finding's KEV entry (of any CVE it names) and highest EPSS score.
    fn exploit(&self, finding: &Finding, epss: &BTreeMap<String, EpssRow>) -> Exploit {
        let cves = finding.cves();
        let kev = cves.iter().find_map(|c| self.kev.get(*c)).map(|k| KevMark {
            cve: k.cve.clone(),
            ransomware: k.ransomware,
            date_added: Some(k.date_added.clone()),
            due_date: k.due_date.clone(),
        });
        let epss = cves
            .iter()
            .filter_map(|c| epss.get(*c))
            .map(|e| e.score)
            .reduce(f64::max);
        Exploit { kev, epss }
    }
}

/// A finding's priority, and the columns the store keeps of it.
pub fn prioritise(
    finding: &Finding,
    knowledge: &Knowledge,
    epss: &BTreeMap<String, EpssRow>,
    assets: Option<&AssetIndex>,
    policy: &VulnPolicy,
) -> (Priority, PriorityColumns) {
    let context = assets
        .map(|a| a.context(&finding.asset))
        .unwrap_or_default();
    let priority = risk::prioritise(
        finding,
        &knowledge.exploit(finding, epss),
        context,
        &policy.weights,
        &policy.sla,
    );
    let columns = PriorityColumns {
        risk: priority.risk,
        vuln_risk: priority.vuln_risk,
        epss: priority.epss,
        in_kev: priority.in_kev,
        timeline: priority.timeline.map(|t| t.key().to_string()),
        sla_days: priority.sla_days,
        kev_due: priority.kev_due,
        detail: serde_json::to_string(&priority).unwrap_or_default(),
        owner: assets
            .and_then(|a| a.find(&finding.asset))
            .and_then(|m| m.owner.clone()),
    };
    (priority, columns)
}

/// Imports reports into the store: per file, its findings stored in batches, then the scopes it
/// covered closed of what it no longer reports. A file that cannot be read is reported and the
/// others imported.
pub fn import(
    store: &mut Store,
    options: &ImportOptions<'_>,
    actor: &Actor,
    clock: &dyn Clock,
    progress: &dyn Progress,
) -> Result<ImportReport, ServiceError> {
    let knowledge = Knowledge::load(store)?;
    expire_acceptances(store, actor, clock)?;
    let mut report = ImportReport::default();
    progress.start(options.files.len() as u64);
    for path in &options.files {
        let now = clock.now().unix_nanos();
        let name = path.display().to_string();
        if options.format.is_none() && secops_vuln::import::is_vex(path) {
            report.files.push(import_vex(store, path, actor, now)?);
            progress.advance();
            continue;
        }
        let format = options.format.map_or("detected", Format::as_str);
        let import = store.begin_vuln_import(&name, format, &actor.name, now)?;
        let mut writer = Writer {
            store,
            import,
            knowledge: &knowledge,
            options,
            actor: &actor.name,
            now,
            file: FileImport {
                file: name.clone(),
                ..FileImport::default()
            },
        };
        let (result, scopes) = writer.read_and_store(path)?;
        let mut file = writer.file;
        match result {
            Ok(tally) => {
                file.tally = tally;
                let counts = ImportCounts {
                    read: file.tally.read,
                    new: file.new,
                    merged: file.merged,
                    rejected: file.rejected(),
                    reopened: file.reopened,
                };
                // A rejected entry may be a finding still there: with rejections, nothing in the
                // file's scopes is closed (the next clean import of them will).
                file.closing_skipped = counts.rejected > 0;
                let closing: &[(String, String)] = if file.closing_skipped { &[] } else { &scopes };
                file.closed =
                    store.finish_vuln_import(import, closing, counts, &actor.name, now)?;
                file.scopes = scopes;
            }
            Err(e) => file.error = Some(e.to_string()),
        }
        report.files.push(file);
        progress.advance();
    }
    progress.finish();
    Ok(report)
}

/// A finding read, with what the store keeps of it but its priority (which needs the store's
/// EPSS scores).
type Prepared = (Finding, NewFinding);

/// Batches of findings on their way from the reading thread to the store.
const IN_FLIGHT: usize = 2;

/// Stores one file's findings as a second thread reads them: reading a report (parsing, digests,
/// documents) and writing the store take about as long each, so the two overlap.
struct Writer<'a> {
    store: &'a mut Store,
    import: i64,
    knowledge: &'a Knowledge,
    options: &'a ImportOptions<'a>,
    actor: &'a str,
    now: i64,
    file: FileImport,
}

impl Writer<'_> {
    /// The file read on another thread and its batches stored here: the reader's outcome and the
    /// scopes it covered. The store failing stops both (the reader's next batch finds nobody to
    /// take it) and is the error returned.
    #[allow(clippy::type_complexity)]
    fn read_and_store(
        &mut self,
        path: &std::path::Path,
    ) -> Result<(Result<Tally, VulnError>, Vec<(String, String)>), ServiceError> {
        let (sender, batches) = std::sync::mpsc::sync_channel::<Vec<Prepared>>(IN_FLIGHT);
        let format = self.options.format;
        let target = self.options.target.as_deref();
        std::thread::scope(|threads| {
            let reader = threads.spawn(move || {
                let mut sink = ReadSink {
                    sender,
                    target,
                    batch: Vec::with_capacity(BATCH),
                    bytes: 0,
                    scopes: Vec::new(),
                    seen_scopes: BTreeSet::new(),
                };
                let result = secops_vuln::import_path(path, format, &mut sink);
                // What was read before a file broke stays stored; the last part batch only when
                // the file was read to its end.
                let result = result.and_then(|tally| sink.send().map(|()| tally));
                (result, sink.scopes)
            });
            let mut failed = None;
            for batch in batches.iter() {
                if let Err(e) = self.store_batch(batch) {
                    failed = Some(e);
                    break;
                }
            }
            drop(batches);
            // A reader that panicked is that file's failure; the other files are still imported.
            let read = reader.join().unwrap_or_else(|_| {
                let reason = "reading stopped unexpectedly".to_string();
                let file = path.display().to_string();
                (Err(VulnError::Format { file, reason }), Vec::new())
            });
            match failed {
                Some(e) => Err(e),
                None => Ok(read),
            }
        })
    }

    /// One batch prioritised (with the EPSS scores of the CVEs it names) and stored.
    fn store_batch(&mut self, batch: Vec<Prepared>) -> Result<(), ServiceError> {
        let cves: BTreeSet<&str> = batch.iter().flat_map(|(f, _)| f.cves()).collect();
        let cves: Vec<&str> = cves.into_iter().collect();
        let epss = self.store.epss_scores(&cves)?;
        let mut findings = Vec::with_capacity(batch.len());
        let mut new = Vec::with_capacity(batch.len());
        for (finding, mut stored) in batch {
            let (_, priority) = prioritise(
                &finding,
                self.knowledge,
                &epss,
                self.options.assets,
                &self.options.policy,
            );
            stored.priority = priority;
            new.push(stored);
            findings.push(finding);
        }
        let outcomes = self
            .store
            .import_findings(self.import, &new, self.actor, self.now)?;
        for (finding, outcome) in findings.iter().zip(outcomes) {
            // Only what the read count counts is split into new and merged.
            if !counted(finding) {
                continue;
            }
            match outcome {
                Imported::New(_) => self.file.new += 1,
                Imported::Merged(_) => self.file.merged += 1,
                Imported::Reopened(_) => {
                    self.file.merged += 1;
                    self.file.reopened += 1;
                }
            }
        }
        Ok(())
    }
}

/// The reading side: findings prepared for the store and sent on in batches.
struct ReadSink<'a> {
    sender: std::sync::mpsc::SyncSender<Vec<Prepared>>,
    /// Names what was scanned when the report does not (`ImportOptions::target`).
    target: Option<&'a str>,
    batch: Vec<Prepared>,
    /// The batch's documents' bytes.
    bytes: usize,
    scopes: Vec<(String, String)>,
    seen_scopes: BTreeSet<(String, String)>,
}

impl ReadSink<'_> {
    fn send(&mut self) -> Result<(), VulnError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.bytes = 0;
        self.sender
            .send(batch)
            .map_err(|_| VulnError::Sink("the store stopped taking findings".into()))
    }
}

/// Whether a finding is one the tally's `read` counts (vulnerabilities and malicious packages, and
/// every SARIF result), as opposed to the misconfigurations and secrets counted apart.
fn counted(finding: &Finding) -> bool {
    matches!(
        finding.kind,
        FindingKind::Vulnerability | FindingKind::Malicious
    ) || finding.tool.starts_with("sarif:")
}

impl Sink for ReadSink<'_> {
    fn scope(&mut self, tool: &str, scope: &str) -> Result<(), VulnError> {
        let scope = self.target.unwrap_or(scope);
        let key = (tool.to_string(), scope.to_string());
        if self.seen_scopes.insert(key.clone()) {
            self.scopes.push(key);
        }
        Ok(())
    }

    fn finding(&mut self, mut finding: Finding) -> Result<(), VulnError> {
        if let Some(target) = self.target {
            finding.scope = target.to_string();
            finding.asset.name = target.to_string();
        }
        let stored = new_finding(&finding, PriorityColumns::default());
        self.bytes += stored.document.len() + stored.advisory.len();
        self.batch.push((finding, stored));
        if self.batch.len() >= BATCH || self.bytes >= BATCH_BYTES {
            self.send()?;
        }
        Ok(())
    }
}

fn new_finding(f: &Finding, priority: PriorityColumns) -> NewFinding {
    let documents = f.documents();
    NewFinding {
        identity: f.identity(),
        detection_key: f.detection_key(),
        kind: f.kind.as_str().to_string(),
        primary_id: f.primary_id().to_string(),
        vuln_id: f.id.clone(),
        cves: f.cves().into_iter().map(str::to_string).collect(),
        title: f.title.clone(),
        severity: f.severity.as_str().to_string(),
        fix_state: f.fix_state.as_str().to_string(),
        asset_kind: f.asset.kind.as_str().to_string(),
        asset_name: f.asset.name.clone(),
        asset_address: f.asset.address.clone(),
        package: f.package.as_ref().map(|p| p.name.clone()),
        package_version: f.package.as_ref().map(|p| p.version.clone()),
        location: f.location.clone(),
        tool: f.tool.clone(),
        scope: f.scope.clone(),
        record: f.record.clone(),
        not_affected: f.fix_state == FixState::NotAffected,
        priority,
        document: documents.finding,
        advisory: documents.advisory,
        advisory_digest: documents.advisory_digest,
    }
}

/// Applies a file of VEX statements: each `not_affected` statement marks the open findings of its
/// vulnerability (by any id they name) in its products (package URLs, with or without the version,
/// or asset names; every finding of the vulnerability when it names none).
fn import_vex(
    store: &mut Store,
    path: &std::path::Path,
    actor: &Actor,
    now: i64,
) -> Result<FileImport, ServiceError> {
    let name = path.display().to_string();
    let mut file = FileImport {
        file: name.clone(),
        tally: Tally {
            format: Some(Format::Vex),
            ..Tally::default()
        },
        ..FileImport::default()
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            file.error = Some(format!("{name}: {e}"));
            return Ok(file);
        }
    };
    let (statements, rejected) = match secops_vuln::import::vex::read(&name, &text) {
        Ok(read) => read,
        Err(e) => {
            file.error = Some(e.to_string());
            return Ok(file);
        }
    };
    file.tally.rejected = rejected;
    let mut applied = VexApplied {
        statements: statements.len() as u64,
        ..VexApplied::default()
    };
    for statement in &statements {
        if statement.status != secops_vuln::import::vex::VexStatus::NotAffected {
            continue;
        }
        applied.not_affected += 1;
        let candidates = store.vuln_findings(&FindingFilter {
            statuses: vec!["open".into(), "accepted".into()],
            vuln_id: Some(statement.vulnerability.clone()),
            ..FindingFilter::default()
        })?;
        let ids: Vec<i64> = candidates
            .iter()
            .filter(|f| statement.products.is_empty() || in_products(f, &statement.products))
            .map(|f| f.id)
            .collect();
        let why = format!(
            "VEX {}: not affected{}",
            statement.record,
            statement
                .justification
                .as_deref()
                .map(|j| format!(" ({j})"))
                .unwrap_or_default()
        );
        applied.marked += store.mark_not_affected(&ids, &why, &actor.name, now)?;
    }
    file.vex = Some(applied);
    Ok(file)
}

/// Whether a finding is in one of a statement's products: its package URL (the version and
/// qualifiers of a product left out match every version) or its asset's name.
fn in_products(f: &FindingRecord, products: &[String]) -> bool {
    let purl = serde_json::from_str::<Finding>(&f.document)
        .ok()
        .and_then(|d| d.package.and_then(|p| p.purl));
    let bare = |p: &str| p.split(['?', '#']).next().unwrap_or(p).to_string();
    let unversioned = |p: &str| {
        let p = bare(p);
        match p.rfind('@') {
            Some(at) if at > p.rfind('/').unwrap_or(0) => p[..at].to_string(),
            _ => p,
        }
    };
    products.iter().any(|product| {
        if *product == f.asset_name {
            return true;
        }
        let Some(purl) = &purl else { return false };
        if bare(product) == bare(purl) {
            return true;
        }
        // A product without a version names every version.
        unversioned(product) == bare(product) && unversioned(product) == unversioned(purl)
    })
}

/// Ends risk acceptances past their expiry (their findings open again, the SLA resumed).
pub fn expire_acceptances(
    store: &mut Store,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<Vec<i64>, ServiceError> {
    Ok(store.expire_acceptances(&actor.name, clock.now().unix_nanos())?)
}

/// The findings queue (acceptances past their expiry ended first).
pub fn list(
    store: &mut Store,
    filter: &FindingFilter,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<Vec<FindingRecord>, ServiceError> {
    expire_acceptances(store, actor, clock)?;
    Ok(store.vuln_findings(filter)?)
}

/// One finding with its history, detections, acceptances and the report's own document.
#[derive(Debug, Clone)]
pub struct FindingDetail {
    pub record: FindingRecord,
    pub finding: Option<Finding>,
    pub priority: Option<Priority>,
    pub events: Vec<FindingEvent>,
    pub detections: Vec<DetectionRecord>,
    pub acceptances: Vec<AcceptanceRecord>,
}

pub fn show(
    store: &mut Store,
    id: i64,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<FindingDetail, ServiceError> {
    expire_acceptances(store, actor, clock)?;
    let record = store.vuln_finding(id)?;
    let trail = store.vuln_finding_trail(id)?;
    Ok(FindingDetail {
        finding: serde_json::from_str(&record.document).ok(),
        priority: serde_json::from_str(&record.priority.detail).ok(),
        record,
        events: trail.events,
        detections: trail.detections,
        acceptances: trail.acceptances,
    })
}

/// Most findings one accept or close changes (the CLI, the API and the console alike).
pub const MAX_AT_ONCE: usize = 1000;

fn checked_ids(ids: &[i64]) -> Result<(), ServiceError> {
    if ids.is_empty() || ids.len() > MAX_AT_ONCE {
        return Err(ServiceError::invalid("ids", "1 to 1,000 findings at once"));
    }
    Ok(())
}

/// The text trimmed, when it has 1 to `max` characters.
fn checked_text<'t>(name: &str, text: &'t str, max: usize) -> Result<&'t str, ServiceError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max {
        return Err(ServiceError::invalid(
            name,
            format!("1 to {max} characters"),
        ));
    }
    Ok(text)
}

/// Accepts the risk of findings until `expires_at`, a time to come: the owner (up to 200
/// characters) and the reason (up to 2,000) are required. Each finding's outcome, in order.
pub fn accept(
    store: &mut Store,
    ids: &[i64],
    owner: &str,
    reason: &str,
    expires_at: i64,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<Vec<Result<FindingRecord, String>>, ServiceError> {
    checked_ids(ids)?;
    let owner = checked_text("owner", owner, 200)?;
    let reason = checked_text("reason", reason, 2000)?;
    let now = clock.now().unix_nanos();
    if expires_at <= now {
        return Err(ServiceError::invalid("until", "a time in the future"));
    }
    Ok(ids
        .iter()
        .map(|id| {
            store
                .accept_finding(*id, owner, reason, expires_at, &actor.name, now)
                .map_err(|e| e.to_string())
        })
        .collect())
}

/// Closes findings as `fixed`, `mitigated` or `false_positive`, with a note of up to 2,000
/// characters. Each finding's outcome, in order.
pub fn close(
    store: &mut Store,
    ids: &[i64],
    resolution: &str,
    note: &str,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<Vec<Result<FindingRecord, String>>, ServiceError> {
    checked_ids(ids)?;
    if !matches!(resolution, "fixed" | "mitigated" | "false_positive") {
        return Err(ServiceError::invalid(
            "resolution",
            "fixed, mitigated or false_positive",
        ));
    }
    let note = note.trim();
    if note.chars().count() > 2000 {
        return Err(ServiceError::invalid("note", "at most 2,000 characters"));
    }
    let now = clock.now().unix_nanos();
    Ok(ids
        .iter()
        .map(|id| {
            store
                .close_finding(*id, resolution, note, &actor.name, now)
                .map_err(|e| e.to_string())
        })
        .collect())
}

/// Opens a case for a finding: its title, severity and description from the finding (what to fix,
/// where, by when, and why it ranks), linked so the finding names its case.
pub fn open_case(
    store: &mut Store,
    playbooks: &secops_case::playbook::Playbooks,
    id: i64,
    playbook: Option<String>,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<secops_store::CaseRecord, ServiceError> {
    let f = store.vuln_finding(id)?;
    if let Some(case) = f.case_id {
        return Err(ServiceError::invalid(
            "--from-finding",
            format!("finding {id} is in case {case} already"),
        ));
    }
    let severity = secops_case::vocabulary::Severity::parse(&f.severity)
        .unwrap_or(secops_case::vocabulary::Severity::Medium);
    let mut description = format!(
        "Finding {id}: {} ({}) on {} {}.\n",
        f.title, f.primary_id, f.asset_kind, f.asset_name
    );
    if let (Some(p), Some(v)) = (&f.package, &f.package_version) {
        description.push_str(&format!("Package: {p} {v}.\n"));
    }
    if let Some(l) = &f.location {
        description.push_str(&format!("Location: {l}.\n"));
    }
    description.push_str(&format!(
        "Risk {:.2}{}{}; severity {}.\n",
        f.priority.risk,
        if f.priority.in_kev {
            ", in CISA KEV"
        } else {
            ""
        },
        f.priority
            .epss
            .map(|e| format!(", EPSS {e:.4}"))
            .unwrap_or_default(),
        f.severity
    ));
    if let Some(due) = f.due_at {
        description.push_str(&format!(
            "Due {}{}.\n",
            secops_event::Timestamp::from_unix_nanos(due).to_seconds(),
            f.priority
                .timeline
                .as_deref()
                .map(|t| format!(" (BOD 26-04 timeline {t})"))
                .unwrap_or_default()
        ));
    }
    let case = secops_case::open(
        store,
        playbooks,
        &secops_case::ByHand {
            title: format!("{} on {}: {}", f.primary_id, f.asset_name, f.title),
            description,
            severity: Some(severity),
            tlp: None,
            playbook,
        },
        secops_case::Actor {
            name: &actor.name,
            now: clock.now().unix_nanos(),
        },
    )?;
    let now = clock.now().unix_nanos();
    store.link_finding_case(id, case.number, &actor.name, now)?;
    // The vulnerability's ids and the host as the case's observables.
    let mut ids = vec![f.primary_id.clone()];
    if let Ok(finding) = serde_json::from_str::<Finding>(&f.document) {
        ids.extend(finding.cves().into_iter().map(str::to_string));
    }
    ids.sort();
    ids.dedup();
    let mut observables: Vec<(&str, String)> =
        ids.into_iter().map(|i| ("vulnerability", i)).collect();
    if f.asset_kind == "host" {
        observables.push(("target-machine", f.asset_name.clone()));
    }
    for (kind, value) in observables {
        secops_case::add_observable(
            store,
            case.number,
            kind,
            &value,
            Some(false),
            &format!("from finding {id}"),
            secops_case::Actor {
                name: &actor.name,
                now,
            },
        )?;
    }
    Ok(store.case(case.number)?)
}

/// The EPSS probability from which an alert carries its host's finding (with every KEV finding).
pub use secops_store::EXPOSURE_EPSS;

/// Alert documents given the open KEV and high-EPSS findings of the hosts and addresses they name
/// (`secops.vulnerabilities`, at most five per host). Documents of alerts on no such host are left
/// as they are (not even parsed twice), and none is parsed when the store has no such finding.
pub fn add_exposure<'a>(
    store: &mut Store,
    documents: impl IntoIterator<Item = &'a mut String>,
) -> Result<(), ServiceError> {
    if !store.any_vuln_exposure()? {
        return Ok(());
    }
    let mut parsed: Vec<(&'a mut String, secops_alert::AlertDocument)> = documents
        .into_iter()
        .filter_map(|text| {
            let doc = secops_alert::AlertDocument::parse(text).ok()?;
            Some((text, doc))
        })
        .collect();
    let mut assets: Vec<String> = parsed
        .iter()
        .flat_map(|(_, d)| d.entities())
        .filter(|(kind, _)| matches!(*kind, "host" | "ip"))
        .map(|(_, value)| value.to_lowercase())
        .collect();
    assets.sort();
    assets.dedup();
    if assets.is_empty() {
        return Ok(());
    }
    let found = store.vuln_exposure(&assets, 5)?;
    if found.is_empty() {
        return Ok(());
    }
    for (text, doc) in parsed.iter_mut() {
        let names: Vec<String> = doc
            .entities()
            .into_iter()
            .filter(|(kind, _)| matches!(*kind, "host" | "ip"))
            .map(|(_, v)| v.to_lowercase())
            .collect();
        let carried: Vec<secops_alert::HostFinding> = found
            .iter()
            .filter(|f| {
                names.contains(&f.asset_name.to_lowercase())
                    || f.asset_address.as_ref().is_some_and(|a| names.contains(a))
            })
            .map(|f| secops_alert::HostFinding {
                host: f.asset_name.clone(),
                finding: f.id,
                id: f.primary_id.clone(),
                severity: f.severity.clone(),
                kev: f.priority.in_kev,
                epss: f.priority.epss,
                risk: f.priority.risk,
            })
            .collect();
        if carried.is_empty() {
            continue;
        }
        doc.vulnerabilities = carried;
        **text = doc.to_line();
    }
    Ok(())
}

/// The rule id of the alerts a finding past its deadline raises.
pub const BREACH_RULE: &str = "secops-vuln-sla-breach";

/// What raising SLA breaches did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Breaches {
    /// Open findings past their deadline.
    pub overdue: usize,
    /// Alerts raised for them now.
    pub raised: usize,
    /// Raised before (the same finding and deadline).
    pub known: usize,
}

/// Raises an alert for each open finding past its deadline (rule `secops-vuln-sla-breach`), once
/// per finding and deadline: what a rule, a case or response automation acts on like any alert.
pub fn raise_breaches(
    store: &mut Store,
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<Breaches, ServiceError> {
    expire_acceptances(store, actor, clock)?;
    let now = clock.now().unix_nanos();
    let mut out = Breaches::default();
    let mut after = None;
    loop {
        let page = store.vuln_findings(&FindingFilter {
            statuses: vec!["open".into()],
            due_before: Some(now),
            by_id: true,
            after_id: after,
            limit: Some(1000),
            ..FindingFilter::default()
        })?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        out.overdue += page.len();
        let alerts: Vec<secops_store::NewAlert> =
            page.iter().filter_map(|f| breach(f, now)).collect();
        for r in store.record_alerts(&alerts, &actor.name, now)? {
            match r {
                secops_store::Recorded::Inserted(_) => out.raised += 1,
                _ => out.known += 1,
            }
        }
    }
    Ok(out)
}

fn breach(f: &FindingRecord, now: i64) -> Option<secops_store::NewAlert> {
    let due = f.due_at?;
    let severity = match f.severity.as_str() {
        s @ ("critical" | "high" | "medium" | "low") => s,
        _ => "low",
    };
    let risk_score = match severity {
        "critical" => 99,
        "high" => 73,
        "medium" => 47,
        _ => 21,
    };
    let mut group: Vec<(String, String)> = vec![
        ("secops.finding.id".into(), f.id.to_string()),
        ("vulnerability.id".into(), f.primary_id.clone()),
    ];
    match f.asset_kind.as_str() {
        "host" => {
            group.push(("host.name".into(), f.asset_name.clone()));
            if let Some(ip) = &f.asset_address {
                group.push(("host.ip".into(), ip.clone()));
            }
        }
        "image" => group.push(("container.image.name".into(), f.asset_name.clone())),
        _ => group.push(("secops.asset".into(), f.asset_name.clone())),
    }
    let rule_name = "Vulnerability past its remediation deadline";
    let id = secops_alert::alert_id(BREACH_RULE, &group, due, None);
    let time = |n: i64| secops_event::Timestamp::from_unix_nanos(n).to_rfc3339();
    let document = secops_alert::AlertDocument {
        timestamp: time(now),
        id: id.clone(),
        first: time(due),
        rule_id: BREACH_RULE.into(),
        rule_name: rule_name.into(),
        rule_author: vec!["secops".into()],
        rule_version: 1,
        rule_type: "vulnerability_sla".into(),
        severity: severity.into(),
        risk_score,
        group: group
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
        provenance: vec![format!("finding {} due {}", f.id, time(due))],
        events: vec![serde_json::json!({
            "@timestamp": time(due),
            "event.kind": "alert",
            "event.action": "vulnerability-sla-breach",
            "vulnerability.id": f.primary_id,
            "vulnerability.severity": f.severity,
            "secops.finding.id": f.id,
            "secops.finding.title": f.title,
            "secops.finding.risk": f.priority.risk,
            "secops.finding.kev": f.priority.in_kev,
        })],
        ..secops_alert::AlertDocument::default()
    };
    Some(secops_store::NewAlert {
        rule_id: BREACH_RULE.into(),
        rule_name: rule_name.into(),
        rule_version: 1,
        severity: severity.into(),
        risk_score,
        group_key: secops_alert::group_key(&group, &id),
        first_seen: due,
        last_seen: now,
        event_count: 1,
        dedupe_window: 0,
        document: document.to_line(),
    })
}

//! The response configuration (`respond.toml`, or every `.toml` file of a folder): guards,
//! connectors, actions and workflows, checked as a whole when it loads. A problem names its file
//! and, where TOML knows it, its line; nothing half-checked is used.
//!
//! ```toml
//! [guards]
//! allow = ["198.51.100.7"]       # special addresses that may be acted on all the same
//! never = ["185.199.108.0/22"]   # values never acted on
//! approval_hours = 24            # a request not decided by then expires unrun
//!
//! [[connector]]
//! name = "edge"
//! kind = "nftables"
//! table = "inet secops"
//! set = "blocked"
//!
//! [[action]]
//! id = "block-source"
//! name = "Block the source address at the edge"
//! target = "ip"
//! target_value = "{{ alert.source.ip }}"
//! connector = "edge"
//! params = { operation = "add" }
//! inverse = "unblock-source"
//! escalation = ["1h", "24h", "7d"]   # the first block 1 h, a repeat 24 h, then 7 d
//!
//! [[workflow]]
//! id = "contain-ssh-brute-force"
//! on = "alert"
//! rules = ["SSH Password Brute Force from a Single Source"]
//! steps = [{ action = "block-source" }]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use secops_case::vocabulary::Pap;
use secops_intel::Tlp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::connector::ConnectorDef;
use crate::secret::line_of;
use crate::target::TargetKind;
use crate::template::{Context, Template};
use crate::{RespondError, SECOND};

/// How far an action's effect reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlastRadius {
    /// One address, account or host.
    Single,
    /// A group of them (a subnet, a team's accounts).
    Group,
    /// Everyone (a tenant-wide setting).
    Tenant,
}

impl BlastRadius {
    pub fn as_str(self) -> &'static str {
        match self {
            BlastRadius::Single => "single",
            BlastRadius::Group => "group",
            BlastRadius::Tenant => "tenant",
        }
    }
}

/// When a run waits for a second person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    Never,
    Always,
    /// When the alert's severity is this or higher (runs by hand always wait).
    AtOrAbove(u8),
    /// When the blast radius is more than a single target.
    BlastRadius,
}

/// The severities alerts carry, lowest first: a rank for comparisons.
pub const SEVERITIES: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

pub fn severity_rank(text: &str) -> Option<u8> {
    let text = text.trim().to_ascii_lowercase();
    SEVERITIES
        .iter()
        .position(|s| *s == text || (text == "info" && *s == "informational"))
        .map(|i| i as u8)
}

/// At most `count` runs per `per_ns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per_ns: i64,
    /// As written (`20/h`), for records.
    pub text: String,
}

/// Repeated failures stop an action for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Circuit {
    /// This many failed runs in a row open the circuit...
    pub failures: u32,
    /// ...for this long after the last of them.
    pub cooldown_ns: i64,
}

/// One checked action.
#[derive(Debug, Clone)]
pub struct ActionDef {
    pub id: String,
    pub name: String,
    pub description: String,
    pub target: TargetKind,
    /// Where the target comes from in an alert or case.
    pub target_value: Template,
    pub connector: String,
    /// The connector's parameters: templates (strings) and constants.
    pub params: BTreeMap<String, Param>,
    pub inverse: Option<String>,
    /// Whether this action undoes another (it is some action's `inverse`).
    pub undoes: Option<String>,
    pub blast_radius: BlastRadius,
    pub approval: Approval,
    pub rate_per_action: Option<Rate>,
    pub rate_per_target: Option<Rate>,
    pub circuit: Circuit,
    pub timeout_ns: i64,
    pub retries: u32,
    pub backoff_ns: i64,
    pub max_tlp: Option<Tlp>,
    pub max_pap: Option<Pap>,
    /// How long the effect holds before it is rolled back: the first time, and for each repeat on
    /// the same target (the last holds for every later one). Empty: until undone by hand.
    pub durations_ns: Vec<i64>,
    /// Runs only ever as dry runs (an action on trial).
    pub dry_run_only: bool,
}

/// A connector parameter: a template rendered per run, or a constant.
#[derive(Debug, Clone)]
pub enum Param {
    Template(Template),
    Constant(Value),
}

impl ActionDef {
    /// How long a run holds given how many earlier runs on the same target succeeded.
    pub fn duration_for(&self, earlier: u64) -> Option<i64> {
        let i = usize::try_from(earlier).unwrap_or(usize::MAX);
        self.durations_ns
            .get(i)
            .or(self.durations_ns.last())
            .copied()
    }

    /// The parameters for one run, each value through `filter` when given (see
    /// [`Template::render_with`]); lists of templates rendered item by item.
    pub fn render_params(
        &self,
        context: &Context,
        filter: Option<&dyn Fn(&str) -> String>,
    ) -> Result<BTreeMap<String, Value>, RespondError> {
        self.params
            .iter()
            .map(|(name, p)| {
                let value = match p {
                    Param::Template(t) => t.render_with(context, filter)?,
                    Param::Constant(Value::Array(items)) => {
                        let mut out = Vec::new();
                        for item in items {
                            let text = item.as_str().unwrap_or_default();
                            let t = Template::parse(text).map_err(RespondError::Template)?;
                            out.push(t.render_with(context, filter)?);
                        }
                        Value::Array(out)
                    }
                    Param::Constant(v) => v.clone(),
                };
                Ok((name.clone(), value))
            })
            .collect()
    }

    /// Whether a run needs approval, given the alert's severity rank (none: by hand).
    pub fn needs_approval(&self, severity: Option<u8>) -> bool {
        match self.approval {
            Approval::Never => false,
            Approval::Always => true,
            Approval::AtOrAbove(rank) => severity.is_none_or(|s| s >= rank),
            Approval::BlastRadius => self.blast_radius > BlastRadius::Single,
        }
    }
}

/// What starts a workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// An alert recorded.
    Alert,
    /// A case moved to another state.
    Case,
    /// A vulnerability finding past its deadline (the SLA breach alert).
    VulnSla,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Alert => "alert",
            Trigger::Case => "case",
            Trigger::VulnSla => "vuln_sla",
        }
    }
}

/// A condition on a field: it equals one of the values, or is at least a number.
#[derive(Debug, Clone)]
pub struct Condition {
    pub field: String,
    pub one_of: Vec<String>,
    pub at_least: Option<f64>,
}

impl Condition {
    pub fn holds(&self, context: &Context) -> bool {
        let Some(value) = context.get(&self.field) else {
            return false;
        };
        let values: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            v => vec![v],
        };
        values.into_iter().any(|v| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let equal = self.one_of.is_empty()
                || self
                    .one_of
                    .iter()
                    .any(|w| w.eq_ignore_ascii_case(text.as_str()));
            let enough = match self.at_least {
                None => true,
                Some(min) => v
                    .as_f64()
                    .or_else(|| text.parse::<f64>().ok())
                    .is_some_and(|n| n >= min),
            };
            equal && enough
        })
    }
}

/// One step of a workflow: an action, run when its conditions hold.
#[derive(Debug, Clone)]
pub struct WorkflowStep {
    pub action: String,
    pub when: Vec<Condition>,
}

/// A response workflow: which alerts or cases start it, and its steps in order.
#[derive(Debug, Clone)]
pub struct Workflow {
    pub id: String,
    pub name: String,
    pub on: Trigger,
    /// Rule ids or names (any, when empty).
    pub rules: Vec<String>,
    /// Rule tags, ATT&CK tactics or techniques the alert carries (any, when empty).
    pub tags: Vec<String>,
    pub min_severity: Option<u8>,
    /// For `on = "case"`: the states that start it (any change, when empty).
    pub case_states: Vec<String>,
    pub steps: Vec<WorkflowStep>,
}

/// What a workflow is matched against.
#[derive(Debug, Clone, Default)]
pub struct Subject<'a> {
    pub rule_id: &'a str,
    pub rule_name: &'a str,
    pub severity: &'a str,
    /// The rule's tags, the alert's tactics and techniques.
    pub tags: Vec<&'a str>,
}

impl Workflow {
    /// Whether an alert of this rule is one it acts on (any, when `rules` is empty).
    pub fn takes_rule(&self, id: &str, name: &str) -> bool {
        self.rules.is_empty()
            || self
                .rules
                .iter()
                .any(|r| r == id || r.eq_ignore_ascii_case(name))
    }

    /// Whether a severity reaches its `min_severity` (any, when none is set).
    pub fn takes_severity(&self, severity: &str) -> bool {
        self.min_severity
            .is_none_or(|min| severity_rank(severity).is_some_and(|s| s >= min))
    }

    /// Whether a case moving to `state` starts it (`on = "case"`; any state when `case_states` is
    /// empty).
    pub fn starts_on_case(&self, state: &str) -> bool {
        self.on == Trigger::Case
            && (self.case_states.is_empty()
                || self
                    .case_states
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(state)))
    }

    /// Whether an alert's rule and tags are ones it acts on (`rules` and `tags`; its severity is
    /// left to the caller: a case workflow weighs the case's).
    pub fn takes_alert(&self, subject: &Subject<'_>) -> bool {
        self.takes_rule(subject.rule_id, subject.rule_name)
            && (self.tags.is_empty()
                || self
                    .tags
                    .iter()
                    .any(|t| subject.tags.iter().any(|s| s.eq_ignore_ascii_case(t))))
    }

    /// Whether an alert (of an alert or SLA breach trigger) starts it.
    pub fn matches(&self, on: Trigger, subject: &Subject<'_>) -> bool {
        self.on == on && self.takes_alert(subject) && self.takes_severity(subject.severity)
    }
}

/// Never-act entries and approval expiry (`[guards]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    pub allow: Vec<String>,
    pub never: Vec<String>,
    /// A request waiting for approval expires unrun after this long.
    pub approval_ns: i64,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            allow: Vec::new(),
            never: Vec::new(),
            approval_ns: 24 * 3600 * SECOND,
        }
    }
}

/// A whole, checked response configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub guards: GuardConfig,
    pub connectors: BTreeMap<String, ConnectorDef>,
    pub actions: BTreeMap<String, ActionDef>,
    pub workflows: Vec<Workflow>,
}

// The file as written.

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    guards: Option<GuardsDoc>,
    #[serde(default)]
    connector: Vec<toml::Table>,
    #[serde(default)]
    action: Vec<ActionDoc>,
    #[serde(default)]
    workflow: Vec<WorkflowDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardsDoc {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    never: Vec<String>,
    approval_hours: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ApprovalDoc {
    Word(String),
    Severity { severity: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionDoc {
    id: String,
    name: Option<String>,
    #[serde(default)]
    description: String,
    target: String,
    target_value: Option<String>,
    connector: String,
    #[serde(default)]
    params: toml::Table,
    inverse: Option<String>,
    blast_radius: Option<BlastRadius>,
    approval: Option<ApprovalDoc>,
    rate_per_action: Option<String>,
    rate_per_target: Option<String>,
    circuit_failures: Option<u32>,
    circuit_cooldown: Option<String>,
    timeout: Option<String>,
    retries: Option<u32>,
    backoff: Option<String>,
    max_tlp: Option<String>,
    max_pap: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    escalation: Vec<String>,
    #[serde(default)]
    dry_run_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionDoc {
    field: String,
    #[serde(default)]
    one_of: Vec<String>,
    equals: Option<String>,
    at_least: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepDoc {
    action: String,
    #[serde(default)]
    when: Vec<ConditionDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowDoc {
    id: String,
    name: Option<String>,
    on: Trigger,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    min_severity: Option<String>,
    #[serde(default)]
    case_states: Vec<String>,
    steps: Vec<StepDoc>,
}

/// `30s`, `15m`, `1h`, `7d` in nanoseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{text:?}: a duration is a number and a unit (30s, 15m, 1h, 7d)"))?;
    let unit_ns = match unit.trim() {
        "ms" => SECOND / 1000,
        "s" => SECOND,
        "m" => 60 * SECOND,
        "h" => 3600 * SECOND,
        "d" => 86_400 * SECOND,
        _ => return Err(format!("{text:?}: units are ms, s, m, h and d")),
    };
    if n <= 0 {
        return Err(format!("{text:?}: more than nothing"));
    }
    n.checked_mul(unit_ns)
        .ok_or_else(|| format!("{text:?}: too long"))
}

fn parse_rate(text: &str) -> Result<Rate, String> {
    let (count, per) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?}: a rate is a count per period (20/h, 3/d, 5/10m)"))?;
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: the count is a whole number"))?;
    let per = per.trim();
    let per = if per.starts_with(|c: char| c.is_ascii_digit()) {
        per.to_string()
    } else {
        format!("1{per}")
    };
    Ok(Rate {
        count,
        per_ns: parse_duration(&per)?,
        text: text.trim().to_string(),
    })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

fn default_target_value(kind: TargetKind) -> Option<&'static str> {
    match kind {
        TargetKind::Ip => Some("{{ alert.source.ip }}"),
        TargetKind::User => Some("{{ alert.user.name }}"),
        TargetKind::Host => Some("{{ alert.host.name }}"),
        TargetKind::Domain => Some("{{ alert.destination.domain }}"),
        TargetKind::Url => Some("{{ alert.url.full }}"),
        TargetKind::Hash => Some("{{ alert.file.hash.sha256 }}"),
    }
}

impl Config {
    /// Reads a file, or every `.toml` file of a folder (sorted by name), as one configuration.
    pub fn load(path: &Path) -> Result<Config, RespondError> {
        let mut files = Vec::new();
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| RespondError::Config {
                file: path.display().to_string(),
                line: None,
                message: e.to_string(),
            })?;
            for entry in entries.flatten() {
                let p = entry.path();
                if p.extension().is_some_and(|e| e == "toml") {
                    files.push(p);
                }
            }
            files.sort();
        } else {
            files.push(path.to_path_buf());
        }
        let mut texts = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).map_err(|e| RespondError::Config {
                file: file.display().to_string(),
                line: None,
                message: e.to_string(),
            })?;
            texts.push((file.display().to_string(), text));
        }
        let refs: Vec<(&str, &str)> = texts
            .iter()
            .map(|(f, t)| (f.as_str(), t.as_str()))
            .collect();
        Config::parse_all(&refs)
    }

    /// Reads one file's text (`file` names it in errors).
    pub fn parse(file: &str, text: &str) -> Result<Config, RespondError> {
        Config::parse_all(&[(file, text)])
    }

    /// Reads several files' texts as one configuration.
    pub fn parse_all(files: &[(&str, &str)]) -> Result<Config, RespondError> {
        let mut config = Config::default();
        let mut guards_from: Option<&str> = None;
        for (file, text) in files {
            let doc: FileDoc = toml::from_str(text).map_err(|e| RespondError::Config {
                file: file.to_string(),
                line: e.span().map(|s| line_of(text, s.start)),
                message: e.message().to_string(),
            })?;
            let err = |what: &str, message: String| RespondError::Config {
                file: file.to_string(),
                line: find_line(text, what),
                message,
            };
            if let Some(g) = doc.guards {
                if let Some(first) = guards_from {
                    return Err(err(
                        "[guards]",
                        format!("[guards] again (first in {first})"),
                    ));
                }
                guards_from = Some(file);
                config.guards.allow = g.allow;
                config.guards.never = g.never;
                if let Some(hours) = g.approval_hours {
                    if hours == 0 {
                        return Err(err("approval_hours", "approval_hours: at least 1".into()));
                    }
                    config.guards.approval_ns = i64::from(hours) * 3600 * SECOND;
                }
            }
            for table in doc.connector {
                let connector = ConnectorDef::from_table(&table).map_err(|m| {
                    let name = table.get("name").and_then(|v| v.as_str()).unwrap_or("?");
                    err(&format!("\"{name}\""), format!("connector {name}: {m}"))
                })?;
                if config.connectors.contains_key(connector.name()) {
                    return Err(err(
                        &format!("\"{}\"", connector.name()),
                        format!("connector {} defined twice", connector.name()),
                    ));
                }
                config
                    .connectors
                    .insert(connector.name().to_string(), connector);
            }
            for a in doc.action {
                let id = a.id.clone();
                let action = action_of(a)
                    .map_err(|m| err(&format!("\"{id}\""), format!("action {id}: {m}")))?;
                if config.actions.contains_key(&action.id) {
                    return Err(err(
                        &format!("\"{id}\""),
                        format!("action {id} defined twice"),
                    ));
                }
                config.actions.insert(action.id.clone(), action);
            }
            for w in doc.workflow {
                let id = w.id.clone();
                let workflow = workflow_of(w)
                    .map_err(|m| err(&format!("\"{id}\""), format!("workflow {id}: {m}")))?;
                if config.workflows.iter().any(|x| x.id == workflow.id) {
                    return Err(err(
                        &format!("\"{id}\""),
                        format!("workflow {id} defined twice"),
                    ));
                }
                config.workflows.push(workflow);
            }
        }
        config.check(files.first().map_or("", |(f, _)| f))?;
        Ok(config)
    }

    /// What only the whole can tell: connectors and inverses that exist and fit.
    fn check(&mut self, file: &str) -> Result<(), RespondError> {
        let bad = |message: String| RespondError::Config {
            file: file.to_string(),
            line: None,
            message,
        };
        let mut undoes: Vec<(String, String)> = Vec::new();
        for action in self.actions.values() {
            let connector = self.connectors.get(&action.connector).ok_or_else(|| {
                bad(format!(
                    "action {}: no connector {:?}",
                    action.id, action.connector
                ))
            })?;
            connector
                .check_action(action)
                .map_err(|m| bad(format!("action {}: {m}", action.id)))?;
            if let Some(inverse) = &action.inverse {
                let undo = self.actions.get(inverse).ok_or_else(|| {
                    bad(format!(
                        "action {}: no inverse action {inverse:?}",
                        action.id
                    ))
                })?;
                if undo.target != action.target {
                    return Err(bad(format!(
                        "action {}: its inverse {inverse} acts on {}, not {}",
                        action.id, undo.target, action.target
                    )));
                }
                if undo.inverse.is_some() {
                    return Err(bad(format!(
                        "action {}: its inverse {inverse} has an inverse of its own",
                        action.id
                    )));
                }
                undoes.push((inverse.clone(), action.id.clone()));
            }
            if !action.durations_ns.is_empty() && action.inverse.is_none() {
                return Err(bad(format!(
                    "action {}: a duration needs an inverse to roll it back",
                    action.id
                )));
            }
        }
        for (inverse, of) in undoes {
            if let Some(undo) = self.actions.get_mut(&inverse) {
                undo.undoes = Some(of);
            }
        }
        for w in &self.workflows {
            for step in &w.steps {
                let action = self.actions.get(&step.action).ok_or_else(|| {
                    bad(format!("workflow {}: no action {:?}", w.id, step.action))
                })?;
                if action.undoes.is_some() {
                    return Err(bad(format!(
                        "workflow {}: {} is an inverse, run by rollback only",
                        w.id, step.action
                    )));
                }
            }
        }
        Ok(())
    }

    /// The workflows a subject starts, in file order.
    pub fn workflows_for<'a>(
        &'a self,
        on: Trigger,
        subject: &'a Subject<'_>,
    ) -> impl Iterator<Item = &'a Workflow> + 'a {
        self.workflows
            .iter()
            .filter(move |w| w.matches(on, subject))
    }
}

/// The line of the first occurrence of `needle`, for messages about a whole item.
fn find_line(text: &str, needle: &str) -> Option<usize> {
    text.find(needle).map(|i| line_of(text, i))
}

fn action_of(a: ActionDoc) -> Result<ActionDef, String> {
    if !valid_id(&a.id) {
        return Err("ids are lower-case letters, digits, '-', '_' and '.' (at most 64)".into());
    }
    let target = TargetKind::parse(&a.target).ok_or_else(|| {
        format!(
            "target {:?}: one of ip, domain, user, host, hash, url",
            a.target
        )
    })?;
    let target_value = match a.target_value.as_deref().or(default_target_value(target)) {
        Some(t) => Template::parse(t)?,
        None => return Err("target_value: where the target comes from".into()),
    };
    let mut params = BTreeMap::new();
    for (name, value) in a.params {
        let param = match value {
            toml::Value::String(s) => {
                Param::Template(Template::parse(&s).map_err(|m| format!("params.{name}: {m}"))?)
            }
            toml::Value::Integer(i) => Param::Constant(Value::from(i)),
            toml::Value::Boolean(b) => Param::Constant(Value::from(b)),
            toml::Value::Float(f) => Param::Constant(Value::from(f)),
            toml::Value::Array(items) => {
                // Lists of strings: each a template, rendered one by one (a program's arguments).
                let mut out = Vec::new();
                for item in items {
                    let toml::Value::String(s) = item else {
                        return Err(format!("params.{name}: lists hold strings"));
                    };
                    Template::parse(&s).map_err(|m| format!("params.{name}: {m}"))?;
                    out.push(Value::String(s));
                }
                Param::Constant(Value::Array(out))
            }
            _ => {
                return Err(format!(
                    "params.{name}: a string, number, boolean or list of strings"
                ))
            }
        };
        params.insert(name, param);
    }
    let approval = match a.approval {
        None => Approval::Never,
        Some(ApprovalDoc::Word(w)) => match w.as_str() {
            "never" => Approval::Never,
            "always" => Approval::Always,
            "blast-radius" | "blast_radius" => Approval::BlastRadius,
            other => {
                return Err(format!(
                    "approval {other:?}: never, always, blast-radius or {{ severity = \"high\" }}"
                ))
            }
        },
        Some(ApprovalDoc::Severity { severity }) => {
            Approval::AtOrAbove(severity_rank(&severity).ok_or_else(|| {
                format!(
                    "approval severity {severity:?}: one of {}",
                    SEVERITIES.join(", ")
                )
            })?)
        }
    };
    let rate = |text: Option<String>| text.as_deref().map(parse_rate).transpose();
    let mut durations_ns = Vec::new();
    if let Some(d) = &a.duration {
        if !a.escalation.is_empty() {
            return Err("duration or escalation, not both".into());
        }
        durations_ns.push(parse_duration(d)?);
    }
    for d in &a.escalation {
        durations_ns.push(parse_duration(d)?);
    }
    Ok(ActionDef {
        name: a.name.unwrap_or_else(|| a.id.clone()),
        id: a.id,
        description: a.description,
        target,
        target_value,
        connector: a.connector,
        params,
        inverse: a.inverse,
        undoes: None,
        blast_radius: a.blast_radius.unwrap_or(BlastRadius::Single),
        approval,
        rate_per_action: rate(a.rate_per_action)?,
        rate_per_target: rate(a.rate_per_target)?,
        circuit: Circuit {
            failures: a.circuit_failures.unwrap_or(3).max(1),
            cooldown_ns: a
                .circuit_cooldown
                .as_deref()
                .map(parse_duration)
                .transpose()?
                .unwrap_or(15 * 60 * SECOND),
        },
        timeout_ns: a
            .timeout
            .as_deref()
            .map(parse_duration)
            .transpose()?
            .unwrap_or(10 * SECOND),
        retries: a.retries.unwrap_or(2).min(10),
        backoff_ns: a
            .backoff
            .as_deref()
            .map(parse_duration)
            .transpose()?
            .unwrap_or(SECOND),
        max_tlp: a
            .max_tlp
            .as_deref()
            .map(|t| {
                Tlp::parse(t).ok_or_else(|| format!("max_tlp {t:?}: one of {}", Tlp::choices()))
            })
            .transpose()?,
        max_pap: a
            .max_pap
            .as_deref()
            .map(|t| {
                Pap::parse(t).ok_or_else(|| format!("max_pap {t:?}: one of {}", Pap::choices()))
            })
            .transpose()?,
        durations_ns,
        dry_run_only: a.dry_run_only,
    })
}

fn workflow_of(w: WorkflowDoc) -> Result<Workflow, String> {
    if !valid_id(&w.id) {
        return Err("ids are lower-case letters, digits, '-', '_' and '.' (at most 64)".into());
    }
    if w.steps.is_empty() {
        return Err("no steps".into());
    }
    let steps = w
        .steps
        .into_iter()
        .map(|s| WorkflowStep {
            action: s.action,
            when: s
                .when
                .into_iter()
                .map(|c| {
                    let mut one_of = c.one_of;
                    one_of.extend(c.equals);
                    Condition {
                        field: c.field,
                        one_of,
                        at_least: c.at_least,
                    }
                })
                .collect(),
        })
        .collect();
    Ok(Workflow {
        name: w.name.unwrap_or_else(|| w.id.clone()),
        id: w.id,
        on: w.on,
        rules: w.rules,
        tags: w.tags,
        min_severity: w
            .min_severity
            .as_deref()
            .map(|s| {
                severity_rank(s)
                    .ok_or_else(|| format!("min_severity {s:?}: one of {}", SEVERITIES.join(", ")))
            })
            .transpose()?,
        case_states: w.case_states,
        steps,
    })
}

//! Rule state checkpoints: everything the engine's rules remember between events (threshold groups,
//! sequence partials, new terms, baselines, correlation groups, alerts open for repeats, counts) as
//! bytes, and back into an engine compiled from the same rules. A long-running process saves it with the
//! input position it covers and the alerts it raised, in one transaction, so that a restart carries on
//! where the last checkpoint left off: no event counted twice, no window forgotten.
//!
//! Layout: a header (magic, this format's version), then per rule in engine order its id, version,
//! shape (type and whether alerts fold) and state, each state written by its own type with postcard.
//! A rule whose id is missing, or whose version or shape changed since, starts afresh and is named in
//! the [`Restored`] report; bytes from another format are refused whole.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use secops_event::codec::events::Packed;
use secops_event::{Event, Provenance, Timestamp};
use secops_intel::Indicator;
use serde::{Deserialize, Serialize};

use crate::alert::{Alert, Enrichment, RuleInfo};
use crate::Engine;

const MAGIC: &[u8; 8] = b"SECOPSRS";
/// Raised whenever what a rule's state holds changes shape (or the event codec does).
pub const STATE_FORMAT: u32 = 1;

/// Why saved state cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("not a rule state checkpoint")]
    NotState,
    #[error("rule state format {found}, this build reads {STATE_FORMAT}: start without it")]
    Format { found: u32 },
    #[error("rule state checkpoint damaged: {0}")]
    Damaged(String),
    #[error("rule {rule}: state not saved: {reason}")]
    Save { rule: String, reason: String },
}

/// What a restore did: rules given their saved state, and rules starting afresh with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    pub restored: usize,
    pub fresh: Vec<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    rules: u32,
}

#[derive(Serialize, Deserialize)]
struct RuleHeader {
    id: String,
    version: u32,
    shape: u8,
    len: u64,
}

impl Engine {
    /// The state of every rule (see the module's documentation).
    pub fn save_state(&self) -> Result<Vec<u8>, StateError> {
        let mut out = Vec::new();
        self.save_state_into(&mut out)?;
        Ok(out)
    }

    /// [`Engine::save_state`] into `out` (cleared first; its allocation reused from one checkpoint to
    /// the next).
    pub fn save_state_into(&self, out: &mut Vec<u8>) -> Result<(), StateError> {
        out.clear();
        out.extend_from_slice(MAGIC);
        let header = Header {
            format: STATE_FORMAT,
            rules: self.rules().len() as u32,
        };
        postcard::to_io(&header, &mut *out).map_err(damaged)?;
        let mut state = Vec::new();
        for rule in self.rules() {
            state.clear();
            let runtime = rule.runtime();
            runtime.save(&mut state).map_err(|e| StateError::Save {
                rule: rule.info.id.clone(),
                reason: e.to_string(),
            })?;
            let header = RuleHeader {
                id: rule.info.id.clone(),
                version: rule.info.version,
                shape: runtime.shape(),
                len: state.len() as u64,
            };
            postcard::to_io(&header, &mut *out).map_err(damaged)?;
            out.extend_from_slice(&state);
        }
        Ok(())
    }

    /// Gives each rule the state [`Engine::save_state`] kept of the rule with the same id (the n-th
    /// saved rule of an id to the n-th loaded one), if version and shape still agree; call before the
    /// first event.
    pub fn restore_state(&mut self, bytes: &[u8]) -> Result<Restored, StateError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(StateError::NotState)?;
        let (header, mut rest): (Header, _) = postcard::take_from_bytes(rest).map_err(damaged)?;
        if header.format != STATE_FORMAT {
            return Err(StateError::Format {
                found: header.format,
            });
        }
        let mut saved: HashMap<String, VecDeque<(RuleHeader, &[u8])>> = HashMap::new();
        for _ in 0..header.rules {
            let (rule, after): (RuleHeader, _) =
                postcard::take_from_bytes(rest).map_err(damaged)?;
            let len = usize::try_from(rule.len).unwrap_or(usize::MAX);
            if len > after.len() {
                return Err(StateError::Damaged(format!(
                    "rule {}: state cut short",
                    rule.id
                )));
            }
            let (state, after) = after.split_at(len);
            rest = after;
            saved
                .entry(rule.id.clone())
                .or_default()
                .push_back((rule, state));
        }
        let mut report = Restored::default();
        for rule in self.rules_mut() {
            let id = rule.info.id.clone();
            let Some((header, state)) = saved.get_mut(&id).and_then(VecDeque::pop_front) else {
                report.fresh.push((id, "not in the checkpoint".into()));
                continue;
            };
            let version = rule.info.version;
            let runtime = rule.runtime_mut();
            let reason = if header.version != version {
                Some(format!(
                    "version {} saved, {version} loaded",
                    header.version
                ))
            } else if header.shape != runtime.shape() {
                Some("its type or alert aggregation changed".to_string())
            } else {
                runtime
                    .restore(state)
                    .err()
                    .map(|e| format!("saved state unreadable: {e}"))
            };
            match reason {
                None => report.restored += 1,
                Some(reason) => {
                    runtime.reset();
                    report.fresh.push((id, reason));
                }
            }
        }
        Ok(report)
    }
}

fn damaged(e: postcard::Error) -> StateError {
    StateError::Damaged(e.to_string())
}

/// An alert as saved (its rule is the runtime's own and is not written).
#[derive(Serialize)]
pub(crate) struct AlertOut<'a> {
    id: &'a str,
    timestamp: Timestamp,
    first: Timestamp,
    group: &'a [(String, String)],
    count: u64,
    events: Vec<Packed<'a>>,
    provenance: &'a [Provenance],
    suppressed: u64,
    suppressed_count: u64,
    entity: &'a [(String, String)],
    window: Option<i64>,
    last_seen: Timestamp,
    enrichments: Vec<(&'a str, &'a str, &'a Indicator)>,
    risk: &'a [secops_alert::EntityRisk],
}

impl<'a> AlertOut<'a> {
    pub fn of(alert: &'a Alert) -> Self {
        AlertOut {
            id: &alert.id,
            timestamp: alert.timestamp,
            first: alert.first,
            group: &alert.group,
            count: alert.count,
            events: alert.events.iter().map(Packed).collect(),
            provenance: &alert.provenance,
            suppressed: alert.suppressed,
            suppressed_count: alert.suppressed_count,
            entity: &alert.entity,
            window: alert.window,
            last_seen: alert.last_seen,
            enrichments: alert
                .enrichments
                .iter()
                .map(|e| (e.field.as_str(), e.atomic.as_str(), &*e.indicator))
                .collect(),
            risk: &alert.risk,
        }
    }
}

/// An alert as read back, the same fields in the same order as [`AlertOut`].
#[derive(Deserialize)]
pub(crate) struct AlertIn {
    id: String,
    timestamp: Timestamp,
    first: Timestamp,
    group: Vec<(String, String)>,
    count: u64,
    #[serde(with = "secops_event::codec::events")]
    events: Vec<Event>,
    provenance: Vec<Provenance>,
    suppressed: u64,
    suppressed_count: u64,
    entity: Vec<(String, String)>,
    window: Option<i64>,
    last_seen: Timestamp,
    enrichments: Vec<(String, String, Indicator)>,
    risk: Vec<secops_alert::EntityRisk>,
}

impl AlertIn {
    pub fn into_alert(self, rule: Arc<RuleInfo>) -> Alert {
        Alert {
            id: self.id,
            rule,
            timestamp: self.timestamp,
            first: self.first,
            group: self.group,
            count: self.count,
            events: self.events,
            provenance: self.provenance,
            suppressed: self.suppressed,
            suppressed_count: self.suppressed_count,
            entity: self.entity,
            window: self.window,
            last_seen: self.last_seen,
            enrichments: self
                .enrichments
                .into_iter()
                .map(|(field, atomic, indicator)| Enrichment {
                    field,
                    atomic,
                    indicator: Arc::new(indicator),
                })
                .collect(),
            risk: self.risk,
        }
    }
}

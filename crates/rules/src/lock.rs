//! The version lock (`etc/rules.lock.json`, detection-as-code.md section 6.3): per rule id, its name,
//! type, maturity, `updated_date`, the hash of its `[rule]` table and a version that grows by one each
//! time the hash changes. `secops rules lock` updates it; `rules validate` checks rules against it.
//!
//! The hash is SHA-256 over the canonical JSON of `[rule]` (keys sorted, no whitespace), with the
//! whitespace of `note` and `setup` collapsed: metadata, tests and prose layout do not change it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One locked rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub rule_type: String,
    pub maturity: String,
    pub updated_date: String,
    pub sha256: String,
    pub version: u32,
}

/// The lock: rule id -> entry, kept sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Lock {
    pub entries: BTreeMap<String, LockEntry>,
}

/// What a rule is now, as the lock records it.
#[derive(Debug, Clone)]
pub struct LockInput {
    pub id: String,
    pub name: String,
    pub rule_type: String,
    pub maturity: String,
    pub updated_date: String,
    pub sha256: String,
}

/// Why a lock or a rule's hash could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// The lock file is not a lock (JSON of the lock's shape).
    #[error("{0}")]
    Lock(String),
    /// The rule file is not TOML.
    #[error("{0}")]
    Toml(String),
    #[error("the file has no [rule] table")]
    NoRuleTable,
}

impl Lock {
    /// Parses a lock file's text.
    pub fn parse(text: &str) -> Result<Lock, LockError> {
        serde_json::from_str(text).map_err(|e| LockError::Lock(e.to_string()))
    }

    /// The file's text: pretty JSON, ids sorted, ending with a newline.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Records the rules: new ones at version 1, changed ones one version up. Returns a line per change.
    pub fn update(&mut self, rules: &[LockInput]) -> Vec<String> {
        let mut changes = Vec::new();
        for rule in rules {
            let entry = LockEntry {
                name: rule.name.clone(),
                rule_type: rule.rule_type.clone(),
                maturity: rule.maturity.clone(),
                updated_date: rule.updated_date.clone(),
                sha256: rule.sha256.clone(),
                version: 1,
            };
            match self.entries.get_mut(&rule.id) {
                None => {
                    changes.push(format!("{} ({}): new, version 1", rule.name, rule.id));
                    self.entries.insert(rule.id.clone(), entry);
                }
                Some(old) if old.sha256 != rule.sha256 => {
                    let version = old.version + 1;
                    changes.push(format!(
                        "{} ({}): changed, version {} -> {version}",
                        rule.name, rule.id, old.version
                    ));
                    *old = LockEntry { version, ..entry };
                }
                Some(old) => {
                    // Same logic: the version stays; names, maturity and dates follow the file.
                    *old = LockEntry {
                        version: old.version,
                        ..entry
                    };
                }
            }
        }
        changes
    }
}

/// The hash of a rule file's `[rule]` table (the text must parse as TOML).
pub fn rule_hash(text: &str) -> Result<String, LockError> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| LockError::Toml(e.message().to_string()))?;
    let rule = table.get("rule").ok_or(LockError::NoRuleTable)?;
    let mut canonical = String::new();
    write_canonical(rule, None, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// Canonical JSON: objects with sorted keys, no whitespace; `note` and `setup` with whitespace runs
/// collapsed.
fn write_canonical(value: &toml::Value, key: Option<&str>, out: &mut String) {
    match value {
        toml::Value::Table(table) => {
            out.push('{');
            let mut keys: Vec<&String> = table.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = table.get(k) {
                    write_canonical(v, Some(k), out);
                }
            }
            out.push('}');
        }
        toml::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, None, out);
            }
            out.push(']');
        }
        toml::Value::String(s) => {
            let text = if matches!(key, Some("note" | "setup")) {
                s.split_whitespace().collect::<Vec<_>>().join(" ")
            } else {
                s.clone()
            };
            out.push_str(&serde_json::Value::String(text).to_string());
        }
        toml::Value::Integer(n) => out.push_str(&n.to_string()),
        toml::Value::Float(f) => out.push_str(&serde_json::json!(f).to_string()),
        toml::Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        toml::Value::Datetime(d) => {
            out.push_str(&serde_json::Value::String(d.to_string()).to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "[metadata]\nupdated_date = \"2026-01-01\"\n[rule]\nname = \"x\"\nnote = \"a  b\\nc\"\ntags = [\"t\"]\n";

    #[test]
    fn the_hash_covers_rule_logic_only() {
        let base = rule_hash(RULE).unwrap();
        assert_eq!(base.len(), 64);
        // Metadata and note layout do not count; key order does not either.
        let relaid = "[metadata]\nupdated_date = \"2026-02-02\"\n[rule]\ntags = [\"t\"]\nnote = \"a b c\"\nname = \"x\"\n";
        assert_eq!(rule_hash(relaid).unwrap(), base);
        let changed = RULE.replace("name = \"x\"", "name = \"y\"");
        assert_ne!(rule_hash(&changed).unwrap(), base);
        assert!(rule_hash("[metadata]\n").is_err());
    }

    #[test]
    fn updates_bump_versions_of_changed_rules_only() {
        let input = |hash: &str| LockInput {
            id: "id1".into(),
            name: "x".into(),
            rule_type: "query".into(),
            maturity: "production".into(),
            updated_date: "2026-01-01".into(),
            sha256: hash.into(),
        };
        let mut lock = Lock::default();
        assert_eq!(lock.update(&[input("h1")]), ["x (id1): new, version 1"]);
        assert!(lock.update(&[input("h1")]).is_empty());
        assert_eq!(
            lock.update(&[input("h2")]),
            ["x (id1): changed, version 1 -> 2"]
        );
        let text = lock.to_text();
        assert_eq!(Lock::parse(&text).unwrap(), lock);
        assert!(text.contains("\"version\": 2"));
    }
}

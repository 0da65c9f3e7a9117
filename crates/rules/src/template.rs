//! The file a new rule starts as (`rules new`): a fresh id, the day's dates, the tables its type
//! needs, and test cases that fail until written.

use std::path::PathBuf;

use crate::naming::snake_case;
use crate::sigma::tags::tactic_id;

/// What the new rule is.
#[derive(Debug, Clone)]
pub struct NewRule<'a> {
    pub name: &'a str,
    /// query, eql, threshold, new_terms, anomaly or threat_match.
    pub rule_type: &'a str,
    /// The primary ATT&CK tactic by shortname (`credential-access`): the rule's folder and file prefix.
    pub tactic: Option<&'a str>,
    pub product: &'a str,
    pub category: Option<&'a str>,
    pub service: Option<&'a str>,
    /// A fresh lowercase UUID.
    pub id: &'a str,
    /// `YYYY-MM-DD`.
    pub today: &'a str,
}

/// Why no scaffold could be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "unknown rule type {0:?}: use query, eql, threshold, new_terms, anomaly or threat_match"
    )]
    RuleType(String),
    #[error("unknown ATT&CK tactic {0:?} (use a shortname such as credential-access)")]
    Tactic(String),
    #[error("the name {0:?} gives an empty file name")]
    EmptyName(String),
}

/// The new rule's text and where it goes, relative to the rules folder (`<tactic>/<tactic>_<name>.toml`).
#[derive(Debug, Clone)]
pub struct Scaffold {
    pub path: PathBuf,
    pub text: String,
}

/// Writes the scaffold of a new rule.
pub fn scaffold(spec: &NewRule<'_>) -> Result<Scaffold, TemplateError> {
    const TODO: &str = "event.action:\"TODO\"";
    let (language, query, table) = match spec.rule_type {
        "query" => ("kql", TODO, ""),
        "eql" => ("eql", "process where process.name == \"TODO\"", ""),
        "threshold" => (
            "kql",
            TODO,
            "\n[rule.threshold]\nfield = [\"source.ip\"]\nvalue = 10\nwindow = \"5m\"\n",
        ),
        "new_terms" => (
            "kql",
            TODO,
            "\n[rule.new_terms]\nfields = [\"user.name\"]\nhistory_window_start = \"now-14d\"\n",
        ),
        "anomaly" => (
            "kql",
            TODO,
            "\n[rule.anomaly]\nby = [\"host.name\"]\nbucket = \"1h\"\nmin_history = 24\nthreshold = 3.5\n",
        ),
        "threat_match" => (
            "kql",
            "destination.ip:*",
            "\n[[rule.threat_mapping]]\n[[rule.threat_mapping.entries]]\nfield = \"destination.ip\"\n\
             type = \"mapping\"\nvalue = \"threat.indicator.ip\"\n",
        ),
        other => return Err(TemplateError::RuleType(other.to_string())),
    };
    let (folder, threat, tag) = match spec.tactic {
        Some(shortname) => {
            let id = tactic_id(shortname)
                .filter(|id| id.starts_with("TA"))
                .ok_or_else(|| TemplateError::Tactic(shortname.to_string()))?;
            let name = tactic_name(shortname);
            (
                shortname.replace('-', "_"),
                format!(
                    "\n[[rule.threat]]\nframework = \"MITRE ATT&CK\"\n[rule.threat.tactic]\nid = \"{id}\"\n\
                     name = \"{name}\"\nreference = \"https://attack.mitre.org/tactics/{id}/\"\n"
                ),
                format!("\"Tactic: {name}\", "),
            )
        }
        None => (String::new(), String::new(), String::new()),
    };
    let stem = snake_case(spec.name);
    if stem.is_empty() {
        return Err(TemplateError::EmptyName(spec.name.to_string()));
    }
    let file_name = if folder.is_empty() {
        format!("{stem}.toml")
    } else {
        format!("{folder}_{stem}.toml")
    };
    let mut log_source = format!("product = {}\n", toml_string(spec.product));
    for (key, value) in [("category", spec.category), ("service", spec.service)] {
        if let Some(v) = value {
            log_source.push_str(&format!("{key} = {}\n", toml_string(v)));
        }
    }
    let (today, id, rule_type) = (spec.today, spec.id, spec.rule_type);
    let name = toml_string(spec.name);
    let text = format!(
        r#"[metadata]
creation_date = "{today}"
updated_date = "{today}"
maturity = "development"

[rule]
id = "{id}"
name = {name}
description = "TODO: what the rule detects and why it matters."
author = ["TODO"]
license = "Apache-2.0"
type = "{rule_type}"
language = "{language}"
query = '''
{query}
'''
severity = "medium"
risk_score = 47
tags = [{tag}"Use Case: Threat Detection"]

[rule.log_source]
{log_source}{table}{threat}
[[test]]
name = "TODO: events that must alert"
expect = "alert"

[[test]]
name = "TODO: similar events that must not alert"
expect = "no_alert"
"#
    );
    Ok(Scaffold {
        path: PathBuf::from(folder).join(file_name),
        text,
    })
}

/// `command-and-control` -> `Command and Control`.
pub fn tactic_name(shortname: &str) -> String {
    shortname
        .split('-')
        .enumerate()
        .map(|(i, word)| match word {
            "and" if i > 0 => "and".to_string(),
            _ => {
                let mut chars = word.chars();
                chars
                    .next()
                    .map(|c| c.to_uppercase().chain(chars).collect())
                    .unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_scaffolds_a_rule_that_loads() {
        for rule_type in [
            "query",
            "eql",
            "threshold",
            "new_terms",
            "anomaly",
            "threat_match",
        ] {
            let spec = NewRule {
                name: "Odd Thing",
                rule_type,
                tactic: Some("command-and-control"),
                product: "linux",
                category: None,
                service: Some("sshd"),
                id: "5b8f3c1e-2d4a-4f6b-9c7e-1a2b3c4d5e6f",
                today: "2026-12-01",
            };
            let s = scaffold(&spec).unwrap_or_else(|e| panic!("{rule_type}: {e}"));
            assert_eq!(
                s.path,
                PathBuf::from("command_and_control/command_and_control_odd_thing.toml")
            );
            if let Err(e) = crate::load::load_text(&s.path, &s.text) {
                panic!("{rule_type}: {e}");
            }
        }
        assert_eq!(tactic_name("command-and-control"), "Command and Control");
    }

    #[test]
    fn unknown_types_tactics_and_empty_names_are_refused() {
        let spec = NewRule {
            name: "x",
            rule_type: "query",
            tactic: None,
            product: "linux",
            category: None,
            service: None,
            id: "5b8f3c1e-2d4a-4f6b-9c7e-1a2b3c4d5e6f",
            today: "2026-12-01",
        };
        let with = |f: &dyn Fn(&mut NewRule)| {
            let mut s = spec.clone();
            f(&mut s);
            scaffold(&s).err()
        };
        assert_eq!(
            with(&|s| s.rule_type = "sigma"),
            Some(TemplateError::RuleType("sigma".into()))
        );
        assert_eq!(
            with(&|s| s.tactic = Some("hacking")),
            Some(TemplateError::Tactic("hacking".into()))
        );
        assert_eq!(
            with(&|s| s.name = "!!"),
            Some(TemplateError::EmptyName("!!".into()))
        );
    }
}

//! Playbooks: case templates in TOML (`playbooks/*.toml`): default severity, TLP, PAP and tags, the
//! tasks a case of that kind needs (grouped by lifecycle phase, in order), and which alerts call for it
//! (by rule id or name, or ATT&CK technique). Five are bundled; a folder of more can be given.

use std::path::Path;

use serde::Deserialize;

use crate::vocabulary::{Pap, Severity};
use crate::CaseError;
use crate::Tlp;

const BUNDLED: &[(&str, &str)] = &[
    (
        "brute_force.toml",
        include_str!("../playbooks/brute_force.toml"),
    ),
    (
        "malware_on_host.toml",
        include_str!("../playbooks/malware_on_host.toml"),
    ),
    ("phishing.toml", include_str!("../playbooks/phishing.toml")),
    (
        "compromised_cloud_credentials.toml",
        include_str!("../playbooks/compromised_cloud_credentials.toml"),
    ),
    (
        "web_shell.toml",
        include_str!("../playbooks/web_shell.toml"),
    ),
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaybookFile {
    playbook: Header,
    #[serde(default, rename = "task")]
    tasks: Vec<TaskTemplate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: String,
    title: String,
    description: String,
    severity: String,
    tlp: String,
    pap: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(rename = "match", default)]
    matches: Match,
}

/// Which alerts call for a playbook.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Rule ids or names.
    #[serde(default)]
    pub rules: Vec<String>,
    /// ATT&CK technique ids (`T1110`, `T1110.001`).
    #[serde(default)]
    pub techniques: Vec<String>,
}

/// One task a playbook creates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskTemplate {
    pub group: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
}

/// A checked playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    pub name: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub tlp: Tlp,
    pub pap: Pap,
    pub tags: Vec<String>,
    pub matches: Match,
    pub tasks: Vec<TaskTemplate>,
}

impl Playbook {
    /// Reads one playbook file's text; errors name the file and the key.
    pub fn parse(file: &str, text: &str) -> Result<Playbook, CaseError> {
        let invalid = |message: String| CaseError::Playbook {
            file: file.to_string(),
            message,
        };
        let parsed: PlaybookFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let h = parsed.playbook;
        let severity = Severity::parse(&h.severity).ok_or_else(|| {
            invalid(format!(
                "severity {:?}: use {}",
                h.severity,
                Severity::choices()
            ))
        })?;
        let tlp = Tlp::parse(&h.tlp)
            .ok_or_else(|| invalid(format!("tlp {:?}: use {}", h.tlp, Tlp::choices())))?;
        let pap = Pap::parse(&h.pap)
            .ok_or_else(|| invalid(format!("pap {:?}: use {}", h.pap, Pap::choices())))?;
        if parsed.tasks.is_empty() {
            return Err(invalid("a playbook needs at least one [[task]]".into()));
        }
        if let Some(t) = parsed.tasks.iter().find(|t| t.title.trim().is_empty()) {
            return Err(invalid(format!(
                "a task in group {:?} has no title",
                t.group
            )));
        }
        Ok(Playbook {
            name: h.name,
            title: h.title,
            // Lines wrapped in the file are one paragraph; blank lines separate paragraphs.
            description: h
                .description
                .trim()
                .split("\n\n")
                .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join("\n\n"),
            severity,
            tlp,
            pap,
            tags: h.tags,
            matches: h.matches,
            tasks: parsed.tasks,
        })
    }

    /// How well the playbook fits alerts of these rules and techniques: 2 for a named rule, 1 for a
    /// technique (a sub-technique's parent counts), 0 for none.
    pub fn fit(&self, rules: &[(&str, &str)], techniques: &[&str]) -> u8 {
        let rule_hit = rules.iter().any(|(id, name)| {
            self.matches
                .rules
                .iter()
                .any(|r| r == id || r.eq_ignore_ascii_case(name))
        });
        let technique_hit = techniques.iter().any(|t| {
            let parent = t.split('.').next().unwrap_or(t);
            self.matches
                .techniques
                .iter()
                .any(|m| m.eq_ignore_ascii_case(t) || m.eq_ignore_ascii_case(parent))
        });
        if rule_hit {
            2
        } else {
            u8::from(technique_hit)
        }
    }
}

/// The playbooks available: the bundled ones, then those of a folder (a folder's playbook replaces a
/// bundled one of the same name).
#[derive(Debug, Clone)]
pub struct Playbooks {
    pub list: Vec<Playbook>,
}

impl Playbooks {
    pub fn bundled() -> Result<Playbooks, CaseError> {
        let list = BUNDLED
            .iter()
            .map(|(file, text)| Playbook::parse(file, text))
            .collect::<Result<_, _>>()?;
        Ok(Playbooks { list })
    }

    /// The bundled playbooks and the `*.toml` files of `dir`.
    pub fn with_folder(dir: &Path) -> Result<Playbooks, CaseError> {
        let mut playbooks = Playbooks::bundled()?;
        let entries = std::fs::read_dir(dir).map_err(|e| CaseError::Playbook {
            file: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let mut files: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        for file in files {
            let name = file.display().to_string();
            let text = std::fs::read_to_string(&file).map_err(|e| CaseError::Playbook {
                file: name.clone(),
                message: e.to_string(),
            })?;
            let playbook = Playbook::parse(&name, &text)?;
            playbooks.list.retain(|p| p.name != playbook.name);
            playbooks.list.push(playbook);
        }
        Ok(playbooks)
    }

    pub fn get(&self, name: &str) -> Option<&Playbook> {
        self.list.iter().find(|p| p.name == name)
    }

    /// The best-fitting playbook for alerts of these rules and techniques (the first among equals).
    pub fn select(&self, rules: &[(&str, &str)], techniques: &[&str]) -> Option<&Playbook> {
        let mut best: Option<(&Playbook, u8)> = None;
        for p in &self.list {
            let fit = p.fit(rules, techniques);
            if fit > 0 && best.is_none_or(|(_, f)| fit > f) {
                best = Some((p, fit));
            }
        }
        best.map(|(p, _)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_playbooks_load_and_are_selected_by_technique() {
        let playbooks = Playbooks::bundled().unwrap();
        assert_eq!(playbooks.list.len(), 5);
        for p in &playbooks.list {
            assert!(
                p.tasks.iter().any(|t| t.group == "post_incident"),
                "{}",
                p.name
            );
        }
        let pick = |techniques: &[&str]| playbooks.select(&[], techniques).map(|p| p.name.clone());
        assert_eq!(pick(&["T1110.001"]).as_deref(), Some("brute_force"));
        assert_eq!(pick(&["T1505.003"]).as_deref(), Some("web_shell"));
        assert_eq!(
            pick(&["T1098.001"]).as_deref(),
            Some("compromised_cloud_credentials")
        );
        assert_eq!(pick(&["T1566.001"]).as_deref(), Some("phishing"));
        assert_eq!(pick(&["T1059.001"]).as_deref(), Some("malware_on_host"));
        assert_eq!(pick(&["T9999"]), None);
    }

    #[test]
    fn a_rule_named_outranks_a_technique() {
        let mut playbooks = Playbooks::bundled().unwrap();
        let mut special = playbooks.get("web_shell").unwrap().clone();
        special.name = "special".into();
        special.matches = Match {
            rules: vec!["rule-1".into()],
            techniques: vec![],
        };
        playbooks.list.push(special);
        let chosen = playbooks
            .select(&[("rule-1", "R")], &["T1505.003"])
            .unwrap();
        assert_eq!(chosen.name, "special");
    }

    #[test]
    fn broken_playbooks_name_file_and_problem() {
        let e = Playbook::parse(
            "x.toml",
            "[playbook]\nname='x'\ntitle='t'\ndescription='d'\nseverity='severe'\ntlp='red'\npap='red'\n[[task]]\ngroup='g'\ntitle='t'\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("x.toml") && e.to_string().contains("severity \"severe\""),
            "{e}"
        );
        let e = Playbook::parse("y.toml", "[playbook]\nname='y'\n").unwrap_err();
        assert!(e.to_string().starts_with("playbook y.toml:"), "{e}");
        let e = Playbook::parse(
            "z.toml",
            "[playbook]\nname='z'\ntitle='t'\ndescription='d'\nseverity='low'\ntlp='red'\npap='red'\ncolour='blue'\n[[task]]\ngroup='g'\ntitle='t'\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
    }
}

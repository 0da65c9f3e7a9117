//! ATT&CK in Sigma tags: `attack.t1059.001` names a technique, `attack.execution` a tactic by its
//! shortname. Rule syntax, so it lives here; the ATT&CK data itself is `secops-attack`'s.

use crate::{AttackRef, Technique, Threat};

/// ATT&CK tactics (by their shortnames, v18 ids) and techniques from `attack.*` tags. Techniques go
/// under each tactic the rule names (or under an unnamed tactic when it names none).
pub fn attack_from_tags(tags: &[String]) -> Vec<Threat> {
    let mut tactics: Vec<AttackRef> = Vec::new();
    let mut techniques: Vec<Technique> = Vec::new();
    for tag in tags {
        let Some(name) = tag
            .to_ascii_lowercase()
            .strip_prefix("attack.")
            .map(str::to_string)
        else {
            continue;
        };
        if let Some(id) = name
            .strip_prefix('t')
            .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        {
            let id = format!("T{}", id.to_ascii_uppercase());
            let (parent, sub) = match id.split_once('.') {
                Some((p, _)) => (p.to_string(), Some(id.clone())),
                None => (id.clone(), None),
            };
            let technique = match techniques.iter_mut().find(|t| t.id == parent) {
                Some(t) => t,
                None => {
                    techniques.push(Technique {
                        id: parent.clone(),
                        name: parent.clone(),
                        reference: Some(attack_url(&parent)),
                        subtechnique: Vec::new(),
                    });
                    let last = techniques.len() - 1;
                    &mut techniques[last]
                }
            };
            if let Some(sub) = sub {
                if !technique.subtechnique.iter().any(|s| s.id == sub) {
                    technique.subtechnique.push(AttackRef {
                        reference: Some(attack_url(&sub)),
                        name: sub.clone(),
                        id: sub,
                    });
                }
            }
        } else if let Some(tactic) = tactic_id(&name) {
            tactics.push(AttackRef {
                id: tactic.to_string(),
                name: name.clone(),
                reference: None,
            });
        }
    }
    if tactics.is_empty() && !techniques.is_empty() {
        tactics.push(AttackRef {
            id: String::new(),
            name: String::new(),
            reference: None,
        });
    }
    tactics
        .into_iter()
        .map(|tactic| Threat {
            framework: "MITRE ATT&CK".into(),
            tactic,
            technique: techniques.clone(),
        })
        .collect()
}

fn attack_url(id: &str) -> String {
    format!(
        "https://attack.mitre.org/techniques/{}/",
        id.replace('.', "/")
    )
}

/// Tactic ids by shortname (ATT&CK enterprise v18); the v19 tactics SigmaHQ already uses keep their
/// shortname as id until the ATT&CK data says otherwise.
pub fn tactic_id(shortname: &str) -> Option<&str> {
    Some(match shortname {
        "reconnaissance" => "TA0043",
        "resource-development" => "TA0042",
        "initial-access" => "TA0001",
        "execution" => "TA0002",
        "persistence" => "TA0003",
        "privilege-escalation" => "TA0004",
        "defense-evasion" => "TA0005",
        "credential-access" => "TA0006",
        "discovery" => "TA0007",
        "lateral-movement" => "TA0008",
        "collection" => "TA0009",
        "exfiltration" => "TA0010",
        "command-and-control" => "TA0011",
        "impact" => "TA0040",
        "stealth" | "defense-impairment" => shortname,
        _ => return None,
    })
}

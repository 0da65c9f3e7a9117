//! SSVC: CISA's BOD 26-04 remediation timelines (In KEV × Publicly Exposed × Automatable ×
//! Technical Impact), built in as the sixteen rows CERT/CC publishes (`cisa_bod_26_04_1_0_0`), and
//! any SSVC decision table read from CERT/CC's CSV form (`vuln refresh` loads them; `decide` then
//! checks the built-in rows against a loaded copy).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::VulnError;

/// BOD 26-04's outcomes, from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timeline {
    /// Fix on the next scheduled upgrade or rebuild of the system.
    FixOnUpgrade,
    Days60,
    Days14,
    Days3,
    /// Three days, and a forensic triage of the asset: open an incident case.
    Days3Forensic,
}

impl Timeline {
    pub const ALL: [Timeline; 5] = [
        Timeline::FixOnUpgrade,
        Timeline::Days60,
        Timeline::Days14,
        Timeline::Days3,
        Timeline::Days3Forensic,
    ];

    /// CERT/CC's wording of the outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            Timeline::FixOnUpgrade => "fix on system upgrade",
            Timeline::Days60 => "60 days",
            Timeline::Days14 => "14 days",
            Timeline::Days3 => "3 days",
            Timeline::Days3Forensic => "3 days & forensic investigation",
        }
    }

    /// The short key (`FSU`, `60D`, `14D`, `3D`, `3DF`).
    pub fn key(self) -> &'static str {
        match self {
            Timeline::FixOnUpgrade => "FSU",
            Timeline::Days60 => "60D",
            Timeline::Days14 => "14D",
            Timeline::Days3 => "3D",
            Timeline::Days3Forensic => "3DF",
        }
    }

    pub fn parse(text: &str) -> Option<Timeline> {
        let text = text.trim();
        Timeline::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(text) || t.key().eq_ignore_ascii_case(text))
    }

    /// Days to remediate; none for "fix on system upgrade".
    pub fn days(self) -> Option<i64> {
        match self {
            Timeline::FixOnUpgrade => None,
            Timeline::Days60 => Some(60),
            Timeline::Days14 => Some(14),
            Timeline::Days3 | Timeline::Days3Forensic => Some(3),
        }
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The four inputs of the BOD 26-04 table, kept with the decision so it can be shown and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Inputs {
    pub in_kev: bool,
    pub publicly_exposed: bool,
    pub automatable: bool,
    /// Technical impact total (else partial).
    pub total_impact: bool,
}

/// BOD 26-04's remediation timeline for the inputs (CERT/CC SSVC `cisa_bod_26_04_1_0_0`).
pub fn bod_26_04(inputs: Inputs) -> Timeline {
    use Timeline::*;
    let Inputs {
        in_kev,
        publicly_exposed,
        automatable,
        total_impact,
    } = inputs;
    match (in_kev, publicly_exposed, automatable, total_impact) {
        (false, false, false, _) => FixOnUpgrade,
        (false, false, true, _) => Days60,
        (false, true, false, false) => Days60,
        (false, true, false, true) => Days14,
        (false, true, true, false) => Days14,
        (false, true, true, true) => Days3,
        (true, false, false, _) => Days14,
        (true, false, true, false) => Days14,
        (true, true, false, false) => Days14,
        (true, true, true, false) => Days3,
        (true, _, _, true) => Days3Forensic,
    }
}

/// An SSVC decision table as CERT/CC publishes it in CSV: a `row` column, one column per decision
/// point (`In KEV v1.0.0 (cisa)`), the outcome last; values as words (`yes`, `partial`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionTable {
    pub name: String,
    /// The decision points' names, without their versions (`In KEV`, `Technical Impact`).
    pub points: Vec<String>,
    pub outcome: String,
    pub rows: Vec<(Vec<String>, String)>,
}

impl DecisionTable {
    pub fn from_csv(name: &str, text: &str) -> Result<DecisionTable, VulnError> {
        let bad = |reason: String| VulnError::Format {
            file: name.to_string(),
            reason,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(text.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| bad(format!("no header: {e}")))?
            .clone();
        let names: Vec<String> = headers.iter().map(point_name).collect();
        if names.len() < 3 || names[0] != "row" {
            return Err(bad(
                "not an SSVC decision table (a `row` column, decision points, an outcome)".into(),
            ));
        }
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(|e| bad(format!("line {}: {e}", i + 2)))?;
            let values: Vec<String> = record.iter().map(|v| v.trim().to_string()).collect();
            if values.len() != names.len() {
                return Err(bad(format!(
                    "line {}: {} values for {} columns",
                    i + 2,
                    values.len(),
                    names.len()
                )));
            }
            let outcome = values[values.len() - 1].clone();
            rows.push((values[1..values.len() - 1].to_vec(), outcome));
        }
        Ok(DecisionTable {
            name: name.to_string(),
            points: names[1..names.len() - 1].to_vec(),
            outcome: names[names.len() - 1].clone(),
            rows,
        })
    }

    /// The outcome for the points' values, given by name (`("In KEV", "yes")`).
    pub fn lookup(&self, values: &[(&str, &str)]) -> Option<&str> {
        let wanted: Option<Vec<&str>> = self
            .points
            .iter()
            .map(|p| values.iter().find(|(n, _)| n == p).map(|(_, v)| *v))
            .collect();
        let wanted = wanted?;
        self.rows
            .iter()
            .find(|(row, _)| {
                row.iter()
                    .zip(&wanted)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b))
            })
            .map(|(_, outcome)| outcome.as_str())
    }

    /// Whether this is the BOD 26-04 table, and if so the rows where it disagrees with the
    /// built-in one (none for CERT/CC's table).
    pub fn bod_26_04_differences(&self) -> Option<Vec<String>> {
        let expected = [
            "In KEV",
            "Publicly Exposed",
            "Automatable",
            "Technical Impact",
        ];
        if self.points != expected || !self.outcome.starts_with("CISA BOD 26-04") {
            return None;
        }
        let mut differences = Vec::new();
        for (values, outcome) in &self.rows {
            let yes = |v: &String| v.eq_ignore_ascii_case("yes");
            let inputs = Inputs {
                in_kev: yes(&values[0]),
                publicly_exposed: yes(&values[1]),
                automatable: yes(&values[2]),
                total_impact: values[3].eq_ignore_ascii_case("total"),
            };
            let built_in = bod_26_04(inputs);
            if Timeline::parse(outcome) != Some(built_in) {
                differences.push(format!(
                    "{}: table says {outcome:?}, built in {:?}",
                    values.join(","),
                    built_in.as_str()
                ));
            }
        }
        Some(differences)
    }
}

/// `In KEV v1.0.0 (cisa)` → `In KEV`.
fn point_name(header: &str) -> String {
    let header = header.trim();
    let cut = header
        .find(" v")
        .filter(|&i| header[i + 2..].starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(header.len());
    header[..cut].trim().to_string()
}

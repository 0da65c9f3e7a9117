//! VEX statements: a vendor's or the team's word that a product is (or is not) affected by a
//! vulnerability. Read from CycloneDX (`vulnerabilities[].analysis.state`, `affects[].ref`) and
//! OpenVEX (`statements[]` with `vulnerability`, `products`, `status`). A `not_affected` statement
//! marks the findings it names not affected; the others are kept for the record.

use serde_json::Value;

use super::json::{list, string, text, text_at};
use crate::VulnError;

/// What a statement says of its products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VexStatus {
    NotAffected,
    Affected,
    Fixed,
    UnderInvestigation,
}

impl VexStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VexStatus::NotAffected => "not_affected",
            VexStatus::Affected => "affected",
            VexStatus::Fixed => "fixed",
            VexStatus::UnderInvestigation => "under_investigation",
        }
    }
}

/// One vulnerability's status in some products.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub vulnerability: String,
    /// Package URLs, image references or BOM refs; empty means every product of the document.
    pub products: Vec<String>,
    pub status: VexStatus,
    pub justification: Option<String>,
    /// Where it was in the file.
    pub record: String,
}

/// Reads a CycloneDX or OpenVEX document's statements; entries that say nothing usable are
/// returned as rejections (record, reason).
pub fn read(
    name: &str,
    text_in: &str,
) -> Result<(Vec<Statement>, Vec<super::Rejected>), VulnError> {
    let value: Value = serde_json::from_str(text_in).map_err(|e| VulnError::Format {
        file: name.to_string(),
        reason: format!("not JSON: {e}"),
    })?;
    let mut statements = Vec::new();
    let mut rejected = Vec::new();
    let mut reject = |record: String, reason: &str| {
        rejected.push(super::Rejected {
            record,
            reason: reason.to_string(),
        })
    };
    if text(&value, "bomFormat") == Some("CycloneDX") {
        for (i, v) in list(&value, "vulnerabilities").iter().enumerate() {
            let record = format!("vulnerabilities[{i}]");
            let Some(id) = string(v, "id") else {
                reject(record, "no id");
                continue;
            };
            let status = match text_at(v, "analysis.state") {
                Some("not_affected") | Some("false_positive") => VexStatus::NotAffected,
                Some("exploitable") => VexStatus::Affected,
                Some("resolved") | Some("resolved_with_pedigree") => VexStatus::Fixed,
                Some("in_triage") => VexStatus::UnderInvestigation,
                _ => {
                    reject(record, "no analysis.state");
                    continue;
                }
            };
            statements.push(Statement {
                vulnerability: id,
                products: list(v, "affects")
                    .iter()
                    .filter_map(|a| string(a, "ref"))
                    .collect(),
                status,
                justification: text_at(v, "analysis.justification").map(str::to_string),
                record,
            });
        }
    } else if value.get("statements").is_some() {
        for (i, s) in list(&value, "statements").iter().enumerate() {
            let record = format!("statements[{i}]");
            let vulnerability = s
                .get("vulnerability")
                .and_then(|v| v.as_str().map(str::to_string).or_else(|| string(v, "name")));
            let Some(vulnerability) = vulnerability else {
                reject(record, "no vulnerability");
                continue;
            };
            let status = match text(s, "status") {
                Some("not_affected") => VexStatus::NotAffected,
                Some("affected") => VexStatus::Affected,
                Some("fixed") => VexStatus::Fixed,
                Some("under_investigation") => VexStatus::UnderInvestigation,
                _ => {
                    reject(record, "no status");
                    continue;
                }
            };
            let products = list(s, "products")
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string).or_else(|| string(p, "@id")))
                .collect();
            statements.push(Statement {
                vulnerability,
                products,
                status,
                justification: string(s, "justification"),
                record,
            });
        }
    } else {
        return Err(VulnError::Format {
            file: name.to_string(),
            reason: "neither CycloneDX (bomFormat) nor OpenVEX (statements)".into(),
        });
    }
    Ok((statements, rejected))
}

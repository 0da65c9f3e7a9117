//! The one error type of the service layer: what went wrong and with what (file, rule, value).

use std::path::PathBuf;

/// Why an operation failed outright. What fails for one record, rule or input is not an error: it is
/// reported in the operation's result and the rest is done.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] secops_store::StoreError),
    #[error(transparent)]
    Case(#[from] secops_case::CaseError),
    #[error(transparent)]
    Intel(#[from] secops_intel::IntelError),
    #[error(transparent)]
    Ingest(#[from] secops_ingest::IngestError),
    #[error(transparent)]
    Lake(#[from] secops_lake::LakeError),
    #[error(transparent)]
    Hunt(#[from] secops_hunt::HuntError),
    #[error(transparent)]
    Vuln(#[from] secops_vuln::VulnError),
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An option's value cannot be used.
    #[error("{option}: {reason}")]
    Invalid { option: String, reason: String },
    /// Rules failed to load or compile and the caller asked for all or nothing.
    #[error("{count} rule(s) {what} (strict)")]
    Strict { count: usize, what: &'static str },
    /// An asset and identity inventory with problems, every one with its line.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Inventory(Vec<secops_entity::InventoryError>),
    /// The operation needs something the request does not give (no threat_match rule to retro-hunt).
    #[error("{0}")]
    Missing(String),
}

impl ServiceError {
    pub(crate) fn invalid(option: &str, reason: impl std::fmt::Display) -> Self {
        ServiceError::Invalid {
            option: option.to_string(),
            reason: reason.to_string(),
        }
    }
}

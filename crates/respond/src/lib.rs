//! Response automation whose safety is the feature. An action (`action.rs`) names what it acts on
//! (a target kind), the connector that carries it out, its parameters as templates over alert and
//! case fields (`template.rs`: values, never a command line), its inverse, its blast radius, when it
//! needs a second person's approval, its rate limits, and how long it holds (with longer holds for
//! repeat targets). Guards (`guard.rs`) stop it from touching what must never be touched: special
//! address ranges, warninglisted values, the inventory's own networks, hosts and VIP accounts.
//! Connectors (`connector/`) build the exact request an action sends (what a dry run returns) and
//! send it: signed webhooks, Slack-compatible messages, an allow-listed program with an argument
//! vector, nftables sets, e-mail. Secrets (`secret.rs`) are named in requests, never written.
//!
//! The crate decides and sends; the service layer records every evaluation and run in the store,
//! keyed so a restart never runs one twice.

pub mod action;
pub mod connector;
pub mod guard;
pub mod secret;
pub mod target;
pub mod template;

pub use action::{
    ActionDef, Approval, BlastRadius, Circuit, Config, Param, Rate, Subject, Trigger, Workflow,
    WorkflowStep,
};
pub use connector::{ConnectorDef, Delivery, Operation, Request};
pub use guard::{Guarded, NeverAct};
pub use secret::Secrets;
pub use target::{Target, TargetKind};
pub use template::Template;

/// Why a response configuration, a target or a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum RespondError {
    /// A configuration file with a problem: the file, the line when known, and why.
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Config {
        file: String,
        line: Option<usize>,
        message: String,
    },
    /// A value that cannot be the target of an action (its kind and why).
    #[error("not a usable {kind} target: {reason}")]
    Target { kind: &'static str, reason: String },
    /// A template that cannot be rendered for this alert or case.
    #[error("{0}")]
    Template(String),
    /// A request the connector refuses to send (an option-like value for a program).
    #[error("refused: {0}")]
    Refused(String),
}

/// Nanoseconds in a second, for durations written in the configuration.
pub const SECOND: i64 = 1_000_000_000;

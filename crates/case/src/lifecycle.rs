//! The case lifecycle (NIST SP 800-61 phases as states) and the moves allowed between them.
//!
//! ```text
//! New -> Triage -> InProgress -> Containment -> Eradication -> Recovery -> PostIncident -> Closed
//!                      |              ^  ^            |            |            ^
//!                      |              |  +------------+            |            |
//!                      |              +----------------------------+            |
//!                      +--------------------------------------------------------+
//! ```
//!
//! Triage, InProgress and PostIncident may close (with resolution, root cause and lessons learned; see
//! `crate::Cases::close`); a closed case reopens into InProgress. Eradication and Recovery go back to
//! Containment when the adversary turns out to be still there. Every other move is refused.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CaseState {
    New,
    Triage,
    InProgress,
    Containment,
    Eradication,
    Recovery,
    PostIncident,
    Closed,
}

impl CaseState {
    pub const ALL: [CaseState; 8] = [
        CaseState::New,
        CaseState::Triage,
        CaseState::InProgress,
        CaseState::Containment,
        CaseState::Eradication,
        CaseState::Recovery,
        CaseState::PostIncident,
        CaseState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::New => "new",
            CaseState::Triage => "triage",
            CaseState::InProgress => "in_progress",
            CaseState::Containment => "containment",
            CaseState::Eradication => "eradication",
            CaseState::Recovery => "recovery",
            CaseState::PostIncident => "post_incident",
            CaseState::Closed => "closed",
        }
    }

    /// Reads a state as stored or typed (`in_progress`, `in-progress`, `InProgress`).
    pub fn parse(text: &str) -> Option<CaseState> {
        let key: String = text
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        CaseState::ALL
            .into_iter()
            .find(|s| s.as_str().replace('_', "") == key)
    }

    /// The states a case may move to from this one with `move` (closing and reopening have their own
    /// operations).
    pub fn next(self) -> &'static [CaseState] {
        use CaseState::*;
        match self {
            New => &[Triage],
            Triage => &[InProgress],
            InProgress => &[Containment, PostIncident],
            Containment => &[Eradication],
            Eradication => &[Recovery, Containment],
            Recovery => &[PostIncident, Containment],
            PostIncident => &[],
            Closed => &[],
        }
    }

    /// Whether a case in this state may be closed.
    pub fn may_close(self) -> bool {
        matches!(
            self,
            CaseState::Triage | CaseState::InProgress | CaseState::PostIncident
        )
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::CaseState::*;
    use super::*;

    #[test]
    fn states_read_as_typed_and_stored() {
        for state in CaseState::ALL {
            assert_eq!(CaseState::parse(state.as_str()), Some(state));
        }
        assert_eq!(CaseState::parse("In-Progress"), Some(InProgress));
        assert_eq!(CaseState::parse("PostIncident"), Some(PostIncident));
        assert_eq!(CaseState::parse("done"), None);
    }

    #[test]
    fn the_lifecycle_moves_forward_and_loops_back_only_to_containment() {
        assert_eq!(New.next(), &[Triage]);
        assert!(!New.next().contains(&Containment));
        assert!(Recovery.next().contains(&Containment));
        assert!(Closed.next().is_empty());
        assert!(Triage.may_close() && PostIncident.may_close());
        assert!(!Containment.may_close() && !New.may_close() && !Closed.may_close());
    }
}

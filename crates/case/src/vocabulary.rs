//! The closed vocabularies of a case: severity, PAP, resolution, task status (TLP 2.0 is the intel
//! crate's, shared with indicators). Each reads the forms people type and is stored in one spelling.

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Reads the stored spelling, case and `-`/`_`/`+` aside.
            pub fn parse(text: &str) -> Option<$name> {
                let key = normalize(text);
                $name::ALL.iter().copied().find(|v| normalize(v.as_str()) == key)
            }

            /// The accepted values, for messages.
            pub fn choices() -> String {
                $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

fn normalize(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

vocabulary!(
    /// How bad the incident is.
    Severity { Low => "low", Medium => "medium", High => "high", Critical => "critical" }
);

vocabulary!(
    /// Permissible Actions Protocol: what may be done with the information (active steps against it).
    Pap { Clear => "clear", Green => "green", Amber => "amber", Red => "red" }
);

vocabulary!(
    /// How a case ended.
    Resolution {
        TruePositiveWithImpact => "true_positive_with_impact",
        TruePositiveWithoutImpact => "true_positive_without_impact",
        FalsePositive => "false_positive",
        Benign => "benign",
        Duplicate => "duplicate",
        Indeterminate => "indeterminate",
    }
);

vocabulary!(
    /// Where a task stands.
    TaskStatus { Todo => "todo", InProgress => "in_progress", Blocked => "blocked", Done => "done", Cancelled => "cancelled" }
);

impl TaskStatus {
    /// Done and cancelled tasks are finished.
    pub fn finished(self) -> bool {
        matches!(self, TaskStatus::Done | TaskStatus::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_read_what_people_type() {
        assert_eq!(Severity::parse("High"), Some(Severity::High));
        assert_eq!(
            Resolution::parse("false-positive"),
            Some(Resolution::FalsePositive)
        );
        assert_eq!(
            TaskStatus::parse("in progress"),
            Some(TaskStatus::InProgress)
        );
        assert_eq!(Pap::parse("white"), None);
        assert!(Resolution::choices().contains("benign"));
    }
}

//! The Traffic Light Protocol 2.0: who may see a piece of information. Indicators, cases and
//! observables carry it; feeds write it as MISP tags (`tlp:amber`), STIX marking definitions or words.

use std::fmt;

/// A TLP 2.0 level, stored and shown in one spelling (`amber+strict`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum Tlp {
    /// Anyone (TLP 1.0's white).
    #[default]
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

impl Tlp {
    pub const ALL: &'static [Tlp] = &[
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// Reads the forms people and feeds write: `amber`, `AMBER+STRICT`, `amber-strict`, a MISP tag
    /// `tlp:amber`, TLP 1.0's `white` (clear).
    pub fn parse(text: &str) -> Option<Tlp> {
        let key: String = text
            .trim()
            .to_ascii_lowercase()
            .trim_start_matches("tlp:")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        match key.as_str() {
            "white" => Some(Tlp::Clear),
            key => Tlp::ALL
                .iter()
                .copied()
                .find(|t| t.as_str().replace('+', "") == key),
        }
    }

    /// The accepted values, for messages.
    pub fn choices() -> String {
        Tlp::ALL
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_form_reads_as_one_level() {
        for (text, tlp) in [
            ("clear", Tlp::Clear),
            ("tlp:white", Tlp::Clear),
            ("TLP:GREEN", Tlp::Green),
            ("amber", Tlp::Amber),
            ("AMBER+STRICT", Tlp::AmberStrict),
            ("amber-strict", Tlp::AmberStrict),
            ("tlp:amber+strict", Tlp::AmberStrict),
            (" red ", Tlp::Red),
        ] {
            assert_eq!(Tlp::parse(text), Some(tlp), "{text}");
        }
        assert_eq!(Tlp::parse("tlp:ex:chr"), None);
        assert_eq!(Tlp::parse("orange"), None);
        for t in Tlp::ALL {
            assert_eq!(Tlp::parse(t.as_str()), Some(*t));
        }
    }
}

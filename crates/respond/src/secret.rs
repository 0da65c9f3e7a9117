//! Connector secrets (webhook signing keys, Slack webhook URLs, SMTP passwords): read from a TOML
//! file of `name = "value"` lines that only its owner may read, named in configurations and
//! requests, never written anywhere. [`Secrets::mask`] takes every secret out of a text (a
//! connector's error may quote the URL it failed on).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::RespondError;

/// Named secrets.
#[derive(Default, Clone)]
pub struct Secrets {
    values: BTreeMap<String, String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Secrets {
    /// Reads a secrets file; one that others than its owner may read is refused.
    pub fn load(path: &Path) -> Result<Secrets, RespondError> {
        let file = path.display().to_string();
        let bad = |message: String| RespondError::Config {
            file: file.clone(),
            line: None,
            message,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| bad(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(bad(format!(
                    "readable by others (mode {:o}): chmod 600 it",
                    mode & 0o777
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Secrets::parse(&file, &text)
    }

    /// Reads `name = "value"` lines (`file` names the source in errors).
    pub fn parse(file: &str, text: &str) -> Result<Secrets, RespondError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| RespondError::Config {
            file: file.to_string(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().to_string(),
        })?;
        let mut values = BTreeMap::new();
        for (name, value) in table {
            let toml::Value::String(value) = value else {
                return Err(RespondError::Config {
                    file: file.to_string(),
                    line: None,
                    message: format!("{name}: a secret is a string"),
                });
            };
            if value.is_empty() {
                return Err(RespondError::Config {
                    file: file.to_string(),
                    line: None,
                    message: format!("{name}: empty"),
                });
            }
            values.insert(name, value);
        }
        Ok(Secrets { values })
    }

    /// No secrets (tests, and configurations that need none).
    pub fn new_for_tests() -> Secrets {
        Secrets::default()
    }

    /// Adds one (tests, and secrets kept in the store).
    pub fn insert(&mut self, name: &str, value: &str) {
        self.values.insert(name.to_string(), value.to_string());
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// `text` with every secret's value replaced by `<secret NAME>`.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        // Longest first: a secret that contains another is masked whole.
        let mut secrets: Vec<(&String, &String)> = self.values.iter().collect();
        secrets.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        for (name, value) in secrets {
            if value.len() >= 4 && out.contains(value.as_str()) {
                out = out.replace(value.as_str(), &format!("<secret {name}>"));
            }
        }
        out
    }
}

/// The 1-based line of a byte offset.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_text_and_absent_from_debug() {
        let s = Secrets::parse(
            "secrets.toml",
            "slack = \"https://hooks.slack.example/services/T0/B0/XYZ\"\nkey = \"whsec_abc\"\n",
        )
        .unwrap();
        let masked = s.mask("POST https://hooks.slack.example/services/T0/B0/XYZ failed");
        assert_eq!(masked, "POST <secret slack> failed");
        assert!(!format!("{s:?}").contains("whsec_abc"));
        assert!(Secrets::parse("s.toml", "a = 1").is_err());
    }
}

//! Which rules a command runs: the bundled pack, or the folders given with `--rules`.

use std::path::{Path, PathBuf};

use secops_rules::load::{load_dir, load_text};
use secops_rules::{CheckedRule, RuleError};

include!(concat!(env!("OUT_DIR"), "/bundled_rules.rs"));

/// Loads `dirs`, or the bundled pack when none is given. Errors are returned beside the rules that loaded.
pub fn load(dirs: &[PathBuf]) -> (Vec<CheckedRule>, Vec<RuleError>) {
    if dirs.is_empty() {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (name, text) in BUNDLED_RULES {
            match load_text(&Path::new("rules").join(name), text) {
                Ok(rule) => rules.push(rule),
                Err(e) => errors.push(e),
            }
        }
        return (rules, errors);
    }
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for dir in dirs {
        let (r, e) = load_dir(dir);
        rules.extend(r);
        errors.extend(e);
    }
    (rules, errors)
}

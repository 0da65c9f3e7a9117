//! Hunts over raw log files: a FROM source that names files or folders (a path: it has a `/`, or it
//! is a file here) is read through the ingest crate, as `ingest --lake` reads it, into a lake of its own for
//! the query. The rows are the lake's rows by construction; what could not be read is reported.

use std::path::Path;

use secops_ingest::{expand, read_input, Options};
use secops_lake::LakeWriter;

use crate::HuntError;

/// Whether a FROM source names files or folders rather than an index pattern: it has a `/` (or `\`),
/// or it is a file in the current folder (`Security.evtx`). A folder needs its slash (`./logs`): a
/// folder that happens to share a source's name (`events`) does not turn the lake's source into it.
pub fn is_path(source: &str) -> bool {
    source.contains(['/', '\\'])
        || (source != crate::EVENTS && !source.contains('*') && Path::new(source).is_file())
}

/// Reads the logs at `path` (a file, a folder walked, or a glob) into a lake at `dir`. Returns a note
/// per input that could not be read and per input with rejected records (their reasons are
/// `ingest`'s to print; the counts are here).
pub fn read_into(path: &str, dir: &Path) -> Result<Vec<String>, HuntError> {
    let (inputs, errors) = expand(&[path]);
    let mut notes: Vec<String> = errors.iter().map(ToString::to_string).collect();
    if inputs.is_empty() {
        return Err(HuntError::Run(format!(
            "{path}: no log files to read{}",
            notes.first().map(|n| format!(" ({n})")).unwrap_or_default()
        )));
    }
    let mut writer = LakeWriter::new(dir).map_err(|e| HuntError::Run(e.to_string()))?;
    let mut failed = None;
    for input in &inputs {
        let mut rejected = 0u64;
        let summary = read_input(input, &Options::default(), &mut |record| match record {
            Ok(event) => {
                if failed.is_none() {
                    if let Err(e) = writer.write(&event) {
                        failed = Some(e);
                    }
                }
            }
            Err(_) => rejected += 1,
        });
        match summary {
            Err(e) => notes.push(e.to_string()),
            Ok(_) if rejected > 0 => notes.push(format!(
                "{}: {rejected} record(s) rejected (secops ingest prints why)",
                input.name()
            )),
            Ok(_) => {}
        }
    }
    if let Some(e) = failed {
        return Err(HuntError::Run(format!(
            "writing {path} into a temporary lake: {e}"
        )));
    }
    writer
        .finish()
        .map_err(|e| HuntError::Run(format!("writing {path} into a temporary lake: {e}")))?;
    Ok(notes)
}

#[cfg(test)]
mod tests {
    use super::is_path;

    /// Tests run in the crate's folder: `src` is a folder there, `Cargo.toml` a file.
    #[test]
    fn a_path_has_a_slash_or_is_a_file_here() {
        assert!(is_path("logs/Security.evtx"));
        assert!(is_path("C:\\logs"));
        assert!(is_path("./src"));
        assert!(is_path("Cargo.toml"));
        assert!(!is_path("src"), "a folder needs its slash");
        assert!(!is_path("events"));
        assert!(!is_path("logs-system.auth-*"));
    }
}

//! Acceptance on the shared real-world corpora (run when ../shared is present, as in CI).

mod common;

use common::{read_path, shared, text, year};
use secops_ingest::parallel::{read_all, Consumer, Order};
use secops_ingest::{expand, Format, IngestError, Options, Summary};

#[derive(Default)]
struct Totals {
    parsed: u64,
    rejected: u64,
    evtx_inputs: usize,
    unreadable: Vec<String>,
}

impl Consumer<()> for Totals {
    fn record(&mut self, _index: usize, _item: ()) {}
    fn done(&mut self, _index: usize, summary: Result<Summary, IngestError>) {
        match summary {
            Ok(s) => {
                self.parsed += s.parsed;
                self.rejected += s.rejected;
                self.evtx_inputs += usize::from(s.format == Format::Evtx);
            }
            Err(e) => self.unreadable.push(e.to_string()),
        }
    }
}

#[test]
fn evtx_corpus_parses_every_record() {
    let Some(dir) = shared("evtx") else { return };
    let (inputs, errors) = expand(&[dir.display().to_string()]);
    assert!(errors.is_empty(), "{errors:?}");
    let mut totals = Totals::default();
    read_all(
        &inputs,
        &Options::default(),
        Order::Completion,
        0,
        |_| Some(()),
        &mut totals,
    );
    assert_eq!(totals.evtx_inputs, 453);
    assert_eq!((totals.parsed, totals.rejected), (16_181, 0));
    // Only the corpus's prose files are undetectable.
    assert_eq!(totals.unreadable.len(), 3, "{:?}", totals.unreadable);
    assert!(totals
        .unreadable
        .iter()
        .all(|e| e.contains("LICENSE") || e.contains("MANIFEST")));
}

#[test]
fn openssh_failed_passwords_carry_outcome_source_and_user() {
    let Some(dir) = shared("linux") else { return };
    let read = read_path(&dir.join("OpenSSH_2k.log"), &year(2016));
    assert_eq!(
        (
            read.summary.read,
            read.summary.parsed,
            read.summary.rejected
        ),
        (2000, 2000, 0)
    );
    let failed: Vec<_> = read
        .events
        .iter()
        .filter(|e| {
            e.get_str("message")
                .is_some_and(|m| m.contains("Failed password"))
        })
        .collect();
    assert_eq!(failed.len(), 520);
    for event in &failed {
        assert_eq!(
            event.get_str("event.outcome"),
            Some("failure"),
            "{}",
            event.provenance()
        );
        assert!(
            event.get("source.ip").and_then(|v| v.as_ip()).is_some(),
            "{}",
            event.provenance()
        );
        assert!(
            event.get_str("user.name").is_some(),
            "{}",
            event.provenance()
        );
    }
    // line 189: `Failed password for invalid user  0101 from 5.188.10.180`
    let odd = read
        .events
        .iter()
        .find(|e| e.provenance().to_string().ends_with(":189"))
        .unwrap();
    assert_eq!(odd.get_str("user.name"), Some(" 0101"));
    assert_eq!(text(odd, "source.ip").as_deref(), Some("5.188.10.180"));
    let repeated: Vec<_> = read
        .events
        .iter()
        .filter(|e| {
            e.get("event.count").is_some_and(|c| c.as_i64() == Some(5))
                && e.get_str("message")
                    .is_some_and(|m| m.starts_with("message repeated"))
        })
        .collect();
    assert_eq!(repeated.len(), 2);
    assert!(repeated
        .iter()
        .all(|e| e.get_str("user.name") == Some("root")));
    assert_eq!(
        text(&read.events[0], "@timestamp").as_deref(),
        Some("2016-12-10T06:55:46Z")
    );
}

#[test]
fn linux_and_apache_corpora_parse_fully() {
    let Some(dir) = shared("linux") else { return };
    let linux = read_path(&dir.join("Linux_2k.log"), &year(2005));
    assert_eq!((linux.summary.parsed, linux.summary.rejected), (2000, 0));
    let pam_failures = linux
        .events
        .iter()
        .filter(|e| e.get_str("event.action") == Some("pam_authentication_failure"))
        .count();
    assert!(pam_failures > 300, "{pam_failures}");
    assert!(linux.events.iter().any(
        |e| e.get_str("event.action") == Some("ftp_connection") && e.get("source.ip").is_some()
    ));
    let apache = read_path(&dir.join("Apache_2k.log"), &Options::default());
    assert_eq!(apache.summary.format, Format::ApacheError);
    assert_eq!((apache.summary.parsed, apache.summary.rejected), (2000, 0));
}

#[test]
fn sigma_regression_json_reads_like_the_evtx_beside_it() {
    let Some(dir) = shared("sigma/regression_data/rules/windows/process_creation") else {
        return;
    };
    let mut compared = 0;
    for entry in walkdir(&dir) {
        if entry.extension().is_none_or(|e| e != "evtx") {
            continue;
        }
        let json = entry.with_extension("json");
        if !json.exists() {
            continue;
        }
        let from_evtx = read_path(&entry, &Options::default());
        let from_json = read_path(&json, &Options::default());
        assert_eq!(from_json.summary.rejected, 0, "{}", json.display());
        assert_eq!(
            from_evtx.events.len(),
            from_json.events.len(),
            "{}",
            entry.display()
        );
        for (a, b) in from_evtx.events.iter().zip(&from_json.events) {
            for path in [
                "Event.System.EventID",
                "winlog.channel",
                "process.command_line",
                "process.executable",
            ] {
                // The JSON samples dropped trailing blanks that the EVTX records keep.
                let trimmed = |e| text(e, path).map(|t| t.trim_end().to_string());
                assert_eq!(trimmed(a), trimmed(b), "{path} in {}", entry.display());
            }
            // The JSON samples were written with microseconds; EVTX keeps 100 ns ticks.
            let micros = |e: &secops_event::Event| e.timestamp().map(|t| t.unix_nanos() / 1000);
            assert_eq!(micros(a), micros(b), "@timestamp in {}", entry.display());
        }
        compared += 1;
    }
    assert!(compared > 20, "{compared}");
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn truncated_and_corrupted_evtx_are_rejected_per_record_without_panic() {
    let Some(dir) = shared("evtx/EVTX-ATTACK-SAMPLES/Credential Access") else {
        return;
    };
    let path = walkdir(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "evtx"))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let whole = common::read_text(Format::Evtx, "", &Options::default());
    assert_eq!(
        whole.summary.read, 1,
        "an empty buffer is one rejected record"
    );
    let mut events = 0;
    let full = secops_ingest::read_bytes(
        Format::Evtx,
        "full.evtx",
        &bytes,
        &Options::default(),
        &mut |r| events += u64::from(r.is_ok()),
    );
    assert!(full.parsed > 10 && full.rejected == 0, "{full}");
    // Cut inside the second chunk (the header is 4 KiB, chunks 64 KiB).
    let cut = (4096 + 65536 + 30_000).min(bytes.len() - 1);
    let truncated = secops_ingest::read_bytes(
        Format::Evtx,
        "cut.evtx",
        &bytes[..cut],
        &Options::default(),
        &mut |_| {},
    );
    assert!(
        truncated.parsed > 0 && truncated.parsed < full.parsed,
        "{truncated}"
    );
    assert_eq!(
        truncated.parsed + truncated.lost,
        full.parsed,
        "{truncated}"
    );
    // Scribble over record data in the first chunk.
    let mut corrupt = bytes.clone();
    for b in corrupt.iter_mut().skip(4096 + 512 + 100).take(2000) {
        *b = 0xA5;
    }
    let damaged = secops_ingest::read_bytes(
        Format::Evtx,
        "bad.evtx",
        &corrupt,
        &Options::default(),
        &mut |_| {},
    );
    assert_eq!(damaged.read, damaged.parsed + damaged.rejected);
    assert_eq!(
        damaged.parsed + damaged.rejected + damaged.lost,
        full.parsed,
        "{damaged}"
    );
    assert!(damaged.incomplete(), "{damaged}");
    assert!(
        damaged
            .rejections
            .iter()
            .all(|g| g.first.to_string().starts_with("bad.evtx:")),
        "{damaged}"
    );
    assert!(
        damaged
            .losses
            .iter()
            .all(|l| l.to_string().starts_with("chunk 0 (file offset 0x1000)")),
        "{damaged}"
    );
}

/// Event Viewer finds a record by its `EventRecordID`; an exported log renumbers its records from 1.
/// Every EVTX event's provenance names the EventRecordID, and its number in the file beside it
/// when they differ.
#[test]
fn evtx_provenance_names_the_event_record_id_event_viewer_shows() {
    let Some(dir) = shared("evtx") else { return };
    let dsrm =
        dir.join("EVTX-ATTACK-SAMPLES/Credential Access/4794_DSRM_password_change_t1098.evtx");
    let read = read_path(&dsrm, &Options::default());
    assert_eq!(read.events.len(), 1);
    let provenance = read.events[0].provenance();
    assert_eq!(
        provenance.location,
        secops_event::Location::EventRecord {
            id: 3_139_859,
            file_record: 1
        }
    );
    assert!(
        provenance
            .to_string()
            .ends_with("4794_DSRM_password_change_t1098.evtx:record 3139859 (file record 1)"),
        "{provenance}"
    );
    let (mut renumbered, mut same) = (0, 0);
    for file in walkdir(&dir) {
        if file.extension().is_none_or(|e| e != "evtx") {
            continue;
        }
        for event in read_path(&file, &Options::default()).events {
            let shown = match event.provenance().location {
                secops_event::Location::Record(id) => {
                    same += 1;
                    id
                }
                secops_event::Location::EventRecord { id, file_record } => {
                    assert_ne!(id, file_record);
                    renumbered += 1;
                    id
                }
                other => panic!("{}: {other:?}", file.display()),
            };
            // (a record without an EventRecordID is named by its number in the file)
            if let Some(id) = text(&event, "winlog.record_id") {
                assert_eq!(id, shown.to_string(), "{}", event.provenance());
            }
        }
    }
    assert_eq!(same + renumbered, 16_181);
    assert!(renumbered > 0 && same > 0, "{renumbered} {same}");
}

/// Security 4688 creations get entity ids: each its own (host, process id, start), and its parent's
/// that of the creation of the parent's process id on that host latest before it in the log (checked
/// here by walking the log), else one no creation of the log has (started before the log).
#[test]
fn security_4688_process_creations_are_linked_by_entity_ids() {
    let Some(path) = shared(
        "evtx/EVTX-to-MITRE-Attack/TA0002-Execution/T1059.003-Windows Command Shell/ID4688-SQL Server payload injectection for reverse shell (MSF).evtx",
    ) else {
        return;
    };
    let read = read_path(&path, &Options::default());
    let creations: Vec<&secops_event::Event> = read
        .events
        .iter()
        .filter(|e| e.get_str("event.code") == Some("4688"))
        .collect();
    assert!(creations.len() > 100);
    let own: std::collections::HashSet<&str> = creations
        .iter()
        .map(|e| e.get_str("process.entity_id").unwrap())
        .collect();
    assert_eq!(own.len(), creations.len(), "one id per creation");
    let mut linked = 0;
    for (n, child) in creations.iter().enumerate() {
        let host = child.get_str("host.name").unwrap().to_ascii_lowercase();
        let parent_pid = child
            .get("process.parent.pid")
            .and_then(|v| v.as_i64())
            .unwrap();
        let parent = child.get_str("process.parent.entity_id").unwrap();
        let earlier = creations[..n].iter().rev().find(|p| {
            p.get_str("host.name").unwrap().to_ascii_lowercase() == host
                && p.get("process.pid").and_then(|v| v.as_i64()) == Some(parent_pid)
        });
        match earlier {
            Some(p) => {
                assert_eq!(parent, p.get_str("process.entity_id").unwrap());
                linked += 1;
            }
            None => assert!(!own.contains(parent), "{parent} started before the log"),
        }
    }
    assert!(linked > 50, "{linked}");
}

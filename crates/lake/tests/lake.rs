//! The lake written from real log lines (the bundled samples: syslog, auth, Windows, CloudTrail, Zeek,
//! web, CEF) and read back with the Parquet reader: every event once, in Hive-style partitions, sorted
//! by time, typed columns filled, every other field in `_fields`, and nothing added by a second run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use std::collections::HashSet;
use std::fs::File;
use std::path::Path;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray, TimestampNanosecondArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use secops_event::{Event, Location, Provenance, Timestamp};
use secops_ingest::{read_input, Input, Options};
use secops_lake::{lake_files, LakeWriter};

fn sample_events() -> Vec<Event> {
    let root = secops_testkit::repo_root().join("samples");
    let mut events = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.extend(
        std::fs::read_dir(root.join("zeek"))
            .unwrap()
            .map(|e| e.unwrap().path()),
    );
    files.sort();
    for path in files.iter().filter(|p| p.is_file()) {
        let options = Options {
            year: Some(2024),
            ..Options::default()
        };
        read_input(&Input::File(path.clone()), &options, &mut |r| {
            events.extend(r.ok())
        })
        .unwrap();
    }
    events
}

fn batches(root: &Path) -> Vec<(std::path::PathBuf, RecordBatch)> {
    let mut out = Vec::new();
    for path in lake_files(root).unwrap() {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            out.push((path.clone(), batch.unwrap()));
        }
    }
    out
}

fn text<'a>(batch: &'a RecordBatch, column: &str) -> &'a StringArray {
    batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"))
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
}

#[test]
fn sample_logs_land_once_each_in_day_and_source_partitions() {
    let events = sample_events();
    assert!(events.len() >= 90, "{}", events.len());
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut writer = LakeWriter::new(&lake).unwrap();
    for e in &events {
        writer.write(e).unwrap();
    }
    let stats = writer.finish().unwrap();
    assert_eq!(stats.written, events.len() as u64);
    assert_eq!(stats.duplicates, 0);

    // Hive-style partitions, one per day and dataset.
    let files = lake_files(&lake).unwrap();
    assert_eq!(stats.files, files.len() as u64);
    let partitions: HashSet<String> = files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(&lake).unwrap();
            let parts: Vec<String> = rel
                .iter()
                .take(2)
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            parts.join("/")
        })
        .collect();
    for expected in [
        "dt=2025-01-01/source=system.auth",
        "dt=2024-05-14/source=windows.sysmon",
        "dt=2024-05-14/source=aws.cloudtrail",
    ] {
        assert!(
            partitions.contains(expected),
            "{expected} not in {partitions:?}"
        );
    }

    let mut rows = 0;
    let mut ids = HashSet::new();
    let mut windows_nested = false;
    let mut ssh_port = None;
    for (path, batch) in batches(&lake) {
        rows += batch.num_rows();
        // Sorted by time within each file.
        let times = batch
            .column_by_name("@timestamp")
            .unwrap()
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .unwrap();
        let values: Vec<i64> = times.iter().map(|t| t.unwrap_or(i64::MIN)).collect();
        assert!(
            values.windows(2).all(|w| w[0] <= w[1]),
            "{}",
            path.display()
        );
        let id = text(&batch, "_id");
        let fields = text(&batch, "_fields");
        let source = text(&batch, "_source");
        let module = text(&batch, "event.module");
        let action = text(&batch, "event.action");
        let port = batch
            .column_by_name("source.port")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        for row in 0..batch.num_rows() {
            assert!(ids.insert(id.value(row).to_string()), "id twice");
            assert!(source.value(row).contains(':'), "{}", source.value(row));
            let doc: serde_json::Value = serde_json::from_str(fields.value(row)).unwrap();
            // A typed column's field is not repeated in `_fields`.
            assert!(doc.get("event.module").is_none() || module.is_null(row));
            if module.value(row) == "windows" && doc.pointer("/Event/System/EventID").is_some() {
                windows_nested = true;
            }
            if !action.is_null(row) && action.value(row) == "ssh_login" && !port.is_null(row) {
                ssh_port = Some(port.value(row));
            }
        }
    }
    assert_eq!(rows, events.len());
    assert!(
        windows_nested,
        "the Windows events' own fields are kept in _fields"
    );
    assert!(ssh_port.is_some_and(|p| p > 0), "ports are integers");

    // The same logs again: nothing new.
    let mut again = LakeWriter::new(&lake).unwrap();
    for e in &events {
        again.write(e).unwrap();
    }
    let stats = again.finish().unwrap();
    assert_eq!(
        (stats.written, stats.duplicates, stats.files),
        (0, events.len() as u64, 0)
    );
    assert_eq!(lake_files(&lake).unwrap().len(), files.len());
}

#[test]
fn a_value_that_does_not_fit_its_column_is_kept_in_fields() {
    let mut event = Event::new(Provenance::new("proxy.log", Location::Line(7)));
    event.set_timestamp(Timestamp::parse_rfc3339("2026-12-01T10:00:00Z").unwrap());
    event.insert("event.dataset", "proxy.access");
    event.insert("source.port", "http");
    event.insert("destination.port", 8080i64);
    let dir = tempfile::tempdir().unwrap();
    let mut writer = LakeWriter::new(dir.path()).unwrap();
    writer.write(&event).unwrap();
    let stats = writer.finish().unwrap();
    assert_eq!((stats.written, stats.fallbacks), (1, 1));
    let (_, batch) = batches(dir.path()).remove(0);
    let int = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .clone()
    };
    assert!(int("source.port").is_null(0));
    assert_eq!(int("destination.port").value(0), 8080);
    let doc: serde_json::Value = serde_json::from_str(text(&batch, "_fields").value(0)).unwrap();
    assert_eq!(doc["source.port"], "http");
    assert!(doc.get("destination.port").is_none());
    assert_eq!(text(&batch, "_source").value(0), "proxy.log:7");
}

#[test]
fn small_files_merge_into_one_per_partition_and_old_days_go() {
    let events = sample_events();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    // Three runs, each over a third of the events: partitions get a file per run.
    for part in events.chunks(events.len() / 3 + 1) {
        let mut writer = LakeWriter::new(lake).unwrap();
        for e in part {
            writer.write(e).unwrap();
        }
        writer.finish().unwrap();
    }
    let before = lake_files(lake).unwrap();
    // A run stopped between writing a merged file and removing what it replaced leaves rows twice.
    let copied = before
        .iter()
        .find(|p| p.to_string_lossy().contains("source=system.auth"))
        .unwrap()
        .clone();
    let copy = copied.with_file_name("part-0-copy.parquet");
    std::fs::copy(&copied, &copy).unwrap();
    let copied_rows = batches(lake)
        .iter()
        .filter(|(p, _)| *p == copy)
        .map(|(_, b)| b.num_rows())
        .sum::<usize>() as u64;
    let stats = secops_lake::compact(&secops_lake::Lake::folder(lake)).unwrap();
    assert_eq!(stats.duplicates, copied_rows);
    assert_eq!(stats.files_before, before.len() as u64 + 1);
    let after = lake_files(lake).unwrap();
    assert_eq!(stats.files_after, after.len() as u64);
    assert!(
        after.len() < before.len(),
        "{} -> {}",
        before.len(),
        after.len()
    );
    let mut ids = HashSet::new();
    for (path, batch) in batches(lake) {
        let times = batch
            .column_by_name("@timestamp")
            .unwrap()
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .unwrap()
            .clone();
        let values: Vec<i64> = times.iter().map(|t| t.unwrap_or(i64::MIN)).collect();
        assert!(
            values.windows(2).all(|w| w[0] <= w[1]),
            "{}",
            path.display()
        );
        let id = text(&batch, "_id");
        for row in 0..batch.num_rows() {
            assert!(
                ids.insert(id.value(row).to_string()),
                "an id twice after compaction"
            );
        }
    }
    assert_eq!(ids.len(), events.len());

    // Retention: days before 2024-05-14 go, that day and later stay.
    let pruned = secops_lake::prune(&secops_lake::Lake::folder(lake), "2024-05-14").unwrap();
    assert_eq!(pruned.days, ["2005-12-04"]);
    assert!(pruned.rows >= 1);
    let left: usize = batches(lake).iter().map(|(_, b)| b.num_rows()).sum();
    assert_eq!(left as u64 + pruned.rows, events.len() as u64);
    assert!(lake_files(lake)
        .unwrap()
        .iter()
        .all(|p| !p.to_string_lossy().contains("dt=2005-12-04")));
}

/// The sample logs read back out of the lake as events: each one as it was written (its fields with
/// their types, nested objects, its time and where it was read), so rules see stored events as they
/// see logs.
#[test]
fn events_come_back_out_of_the_lake_as_they_went_in() {
    let events = sample_events();
    let dir = tempfile::tempdir().unwrap();
    let mut writer = LakeWriter::new(dir.path()).unwrap();
    for e in &events {
        writer.write(e).unwrap();
    }
    writer.finish().unwrap();
    let lake = secops_lake::Lake::folder(dir.path());
    let mut back: Vec<Event> = Vec::new();
    let mut bad = Vec::new();
    let read =
        secops_lake::events::read_events(&lake, &mut |e| back.push(e), &mut |why| bad.push(why))
            .unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(read as usize, events.len());
    let key = |e: &Event| e.provenance().to_string();
    let mut by_place: std::collections::HashMap<String, &Event> =
        back.iter().map(|e| (key(e), e)).collect();
    for original in &events {
        let again = by_place
            .remove(&key(original))
            .unwrap_or_else(|| panic!("{} not read back", key(original)));
        assert_eq!(again.timestamp(), original.timestamp(), "{}", key(original));
        for (name, value) in original.fields().iter() {
            let got = again.get(name);
            let same = match (got, value) {
                (Some(g), v) => g == v || g.to_string() == v.to_string(),
                (None, v) => v.is_null(),
            };
            assert!(
                same,
                "{}: {name}: {value:?} came back as {got:?}",
                key(original)
            );
        }
    }
    // Typed columns keep their types: addresses as addresses.
    assert!(back
        .iter()
        .any(|e| matches!(e.get("source.ip"), Some(secops_event::Value::Ip(_)))));
}

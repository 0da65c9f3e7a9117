//! No parser panics on damaged input: every format gets its samples mutated many times over (bytes
//! flipped, cut, duplicated, spliced from other formats), and every record must still be accounted for.
//! The cargo-fuzz targets under `fuzz/` drive the same entry point with coverage guidance.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

use std::collections::BTreeMap;

use secops_event::Location;
use secops_ingest::{read_bytes, Format, Options, FORMATS};

use secops_testkit::mutate::{self, Rng};

fn samples() -> Vec<Vec<u8>> {
    [
        "auth.log",
        "syslog5424.log",
        "access.log",
        "apache_error.log",
        "cloudtrail.json",
        "cloudtrail.jsonl",
        "ecs.jsonl",
        "firewall.cef",
        "windows.jsonl",
        "zeek/conn.log",
        "zeek/dns.log",
        "zeek/dns.json",
    ]
    .iter()
    .map(|name| std::fs::read(common::sample(name)).unwrap())
    .collect()
}

#[test]
fn mutated_inputs_never_panic_and_every_record_is_accounted_for() {
    let donors = samples();
    let mut rng = Rng::new(0x5EC0_95EC_0951_7E57);
    let options = Options {
        year: Some(2024),
        ..Options::default()
    };
    for info in FORMATS.iter().filter(|i| i.format != Format::Evtx) {
        for round in 0..300 {
            let base = &donors[rng.below(donors.len())];
            let input = mutate::bytes(&mut rng, base, &donors);
            let (mut events, mut rejections) = (0u64, 0u64);
            let summary = read_bytes(info.format, "mutant", &input, &options, &mut |r| match r {
                Ok(_) => events += 1,
                Err(_) => rejections += 1,
            });
            assert_eq!(
                summary.read,
                summary.parsed + summary.rejected,
                "{} round {round}",
                info.name
            );
            assert_eq!(
                (summary.parsed, summary.rejected),
                (events, rejections),
                "{} round {round}",
                info.name
            );
        }
    }
}

/// The intact file's records by id (their normalized JSON) and each chunk's record ids, by chunk number
/// (read from the chunk headers, which the EVTX format puts every 64 KiB after a 4 KiB file header).
struct Original {
    records: BTreeMap<u64, serde_json::Value>,
    chunks: BTreeMap<u64, (u64, u64)>,
}

fn original(bytes: &[u8]) -> Original {
    let read = evtx_read(bytes);
    assert!(read.summary.losses.is_empty() && read.rejections.is_empty());
    let records = by_id(&read.events);
    let mut chunks = BTreeMap::new();
    for (slot, chunk) in bytes[4096..].chunks(65536).enumerate() {
        if chunk.starts_with(b"ElfChnk\0") {
            let first = u64::from_le_bytes(chunk[24..32].try_into().unwrap());
            let last = u64::from_le_bytes(chunk[32..40].try_into().unwrap());
            chunks.insert(slot as u64, (first, last));
        }
    }
    let promised: u64 = chunks.values().map(|(f, l)| l - f + 1).sum();
    assert_eq!(promised, records.len() as u64, "chunk headers vs records");
    Original { records, chunks }
}

fn evtx_read(bytes: &[u8]) -> common::Read {
    evtx_read_with(bytes, false)
}

fn evtx_read_with(bytes: &[u8], recover: bool) -> common::Read {
    let mut events = Vec::new();
    let mut rejections = Vec::new();
    let options = Options {
        evtx_recover: recover,
        counters: None,
        ..Options::default()
    };
    let summary = read_bytes(
        Format::Evtx,
        "damaged.evtx",
        bytes,
        &options,
        &mut |r| match r {
            Ok(e) => events.push(e),
            Err(r) => rejections.push(r),
        },
    );
    common::Read {
        summary,
        events,
        rejections,
    }
}

/// A record's number in its file (its provenance also names its EventRecordID when that differs).
fn record_id(location: Location) -> Option<u64> {
    location.file_record()
}

fn by_id(events: &[secops_event::Event]) -> BTreeMap<u64, serde_json::Value> {
    let mut records = BTreeMap::new();
    for event in events {
        let id = record_id(event.provenance().location).unwrap();
        assert!(
            records.insert(id, event.to_json()).is_none(),
            "record {id} twice"
        );
    }
    records
}

/// Checks a damaged copy against the intact file: every record read equals the original's record of the
/// same id; every original record is read, rejected or lost exactly once; a loss names chunks that held
/// its records, and one that is not inside a readable chunk names exactly those chunks' records.
fn check_against(original: &Original, read: &common::Read, what: &str) {
    let summary = &read.summary;
    assert_eq!(summary.read, summary.parsed + summary.rejected, "{what}");
    let mut accounted: BTreeMap<u64, &str> = BTreeMap::new();
    for (id, json) in by_id(&read.events) {
        // a recovered record's content is not vouched for: it only has to be accounted for once
        let recovered = json["tags"] == serde_json::json!(["recovered"]);
        if !recovered {
            assert_eq!(
                original.records.get(&id),
                Some(&json),
                "{what}: record {id} differs"
            );
        }
        accounted.insert(id, if recovered { "recovered" } else { "read" });
    }
    for rejection in &read.rejections {
        if let Some(id) = record_id(rejection.provenance.location) {
            assert!(original.records.contains_key(&id), "{what}: {rejection}");
            let before = accounted.insert(id, "rejected");
            assert!(
                before.is_none(),
                "{what}: record {id} {before:?} and rejected"
            );
        } else {
            assert!(
                matches!(rejection.provenance.location, Location::Offset(_)),
                "{what}: {rejection}"
            );
        }
    }
    let mut lost_total = 0;
    for loss in &summary.losses {
        lost_total += loss.count();
        let Some((first, last)) = loss.records else {
            continue;
        };
        assert!(!loss.chunks.is_empty(), "{what}: {loss}");
        let held: Vec<u64> = loss
            .chunks
            .iter()
            .filter_map(|slot| original.chunks.get(slot))
            .flat_map(|&(f, l)| f..=l)
            .collect();
        for id in first..=last {
            assert!(
                held.contains(&id),
                "{what}: {loss}: record {id} was not in those chunks"
            );
            let before = accounted.insert(id, "lost");
            assert!(
                before.is_none(),
                "{what}: record {id} {before:?} and lost ({loss})"
            );
        }
        // (recovered records, carved from anywhere, can take ids out of a lost stretch)
        let recovering = summary
            .notes
            .iter()
            .any(|n| n.contains("records recovered"));
        if !loss.cause.starts_with("not found in the chunk") && !recovering {
            let whole: Vec<u64> = (first..=last).collect();
            assert_eq!(held, whole, "{what}: {loss}: not its chunks' records");
        }
    }
    assert_eq!(lost_total, summary.lost, "{what}");
    let missing: Vec<&u64> = original
        .records
        .keys()
        .filter(|id| !accounted.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: unaccounted records {missing:?}\n{summary}"
    );
}

/// Makes chunk `slot`'s stored records CRC32 wrong and its header CRC32 right again: the records
/// fail their checksum, the header is intact.
fn stale_records_checksum(file: &mut [u8], slot: usize) {
    let at = 4096 + slot * 65536;
    file[at + 52] ^= 0xFF;
    let mut header = crc32fast::Hasher::new();
    header.update(&file[at..at + 120]);
    header.update(&file[at + 128..at + 512]);
    let crc = header.finalize();
    file[at + 124..at + 128].copy_from_slice(&crc.to_le_bytes());
}

fn multi_chunk_samples() -> Vec<(String, Vec<u8>)> {
    let Some(dir) = common::shared("evtx") else {
        return Vec::new();
    };
    [
        "EVTX-ATTACK-SAMPLES/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
        "EVTX-ATTACK-SAMPLES/Command and Control/bits_openvpn.evtx",
    ]
    .iter()
    .map(|name| (name.to_string(), std::fs::read(dir.join(name)).unwrap()))
    .collect()
}

#[test]
fn damaged_evtx_copies_agree_with_the_intact_file_record_by_record() {
    let mut rng = Rng::new(0xE77C_0FF5_E7ED_0002);
    for (name, bytes) in multi_chunk_samples() {
        let original = original(&bytes);
        let slots = (bytes.len() - 4096) / 65536;
        assert!(
            original.chunks.len() > 8,
            "{name}: wants a file of many chunks"
        );
        let chunk = |slot: usize| 4096 + slot * 65536;
        let used: Vec<usize> = original.chunks.keys().map(|&s| s as usize).collect();
        for round in 0..16 {
            let mut damaged = bytes.clone();
            let slot = used[rng.below(used.len())];
            let kind = round % 8;
            match kind {
                // cut anywhere past the first chunk header
                0 => damaged.truncate(4096 + 512 + rng.below(bytes.len() - 4096 - 512)),
                // a few bytes of one chunk header
                1 => {
                    for _ in 0..1 + rng.below(4) {
                        damaged[chunk(slot) + rng.below(512)] ^= 1 << rng.below(8);
                    }
                }
                // a few bytes among one chunk's records
                2 => {
                    for _ in 0..1 + rng.below(4) {
                        damaged[chunk(slot) + 512 + rng.below(4096)] ^= 1 << rng.below(8);
                    }
                }
                // a whole chunk zeroed, or its signature overwritten
                3 => damaged[chunk(slot)..chunk(slot) + 65536].fill(0),
                4 => damaged[chunk(slot)..chunk(slot) + 8].copy_from_slice(b"garbage!"),
                // flips anywhere past the file header, then maybe a cut
                5 | 6 => {
                    for _ in 0..1 + rng.below(40) {
                        let at = 4096 + rng.below(slots * 65536);
                        damaged[at] = rng.next_u64() as u8;
                    }
                    if kind == 6 {
                        damaged.truncate(4096 + rng.below(bytes.len() - 4096));
                    }
                }
                // two neighbouring chunks gone at once
                _ => {
                    let slot = slot.min(slots - 2);
                    damaged[chunk(slot)..chunk(slot) + 2 * 65536].fill(0xAA);
                }
            }
            let read = evtx_read(&damaged);
            check_against(
                &original,
                &read,
                &format!("{name} round {round} (kind {kind})"),
            );
            // with recovery, what the checksums cannot vouch for is read too, tagged, once
            let recovered = evtx_read_with(&damaged, true);
            check_against(
                &original,
                &recovered,
                &format!("{name} round {round} (kind {kind}, recovering)"),
            );
            assert!(recovered.summary.lost <= read.summary.lost);
            // Damage to the chunks in use is never silent (exit 3 follows from this): a cut before the
            // end of the last of them, a chunk zeroed or without its signature, two chunks overwritten.
            // (A flipped byte can land in a chunk's unused slack, which nothing covers.)
            let used_end = chunk(*used.last().unwrap() + 1);
            let must_show = match kind {
                0 => damaged.len() < used_end,
                3 | 4 | 7 => true,
                _ => false,
            };
            assert!(
                !must_show || read.summary.incomplete(),
                "{name} round {round} (kind {kind}): damage went unreported\n{}",
                read.summary
            );
        }
    }
}

#[test]
fn a_cut_evtx_file_names_the_lost_chunks_and_records() {
    let Some((name, bytes)) = multi_chunk_samples().into_iter().next() else {
        return;
    };
    let original = original(&bytes);
    // cut 6080 bytes into chunk 9: its header survives, and names its records
    let read = evtx_read(&bytes[..4096 + 9 * 65536 + 6080]);
    check_against(&original, &read, &name);
    let losses: Vec<String> = read.summary.losses.iter().map(|l| l.to_string()).collect();
    let (first9, last9) = original.chunks[&9];
    let last = *original.records.keys().last().unwrap();
    assert_eq!(
        losses,
        [
            format!(
                "chunk 9 (file offset 0x91000): records {first9}-{last9} lost ({}): the file ends inside this chunk (6080 of 65536 bytes present)",
                last9 - first9 + 1
            ),
            format!(
                "chunks 10-14 (file offset 0xa1000): records {}-{last} lost ({}): not in the file, which ends early",
                last9 + 1,
                last - last9
            ),
        ]
    );
    assert_eq!(read.summary.lost, last - first9 + 1);
}

#[test]
fn a_records_checksum_mismatch_rejects_the_chunks_records_unless_the_log_is_dirty_and_it_is_the_newest(
) {
    let Some((name, bytes)) = multi_chunk_samples().into_iter().next() else {
        return;
    };
    let original = original(&bytes);
    let newest = *original.chunks.keys().last().unwrap() as usize;
    let (first, last) = original.chunks[&(newest as u64)];
    // the newest chunk's stored records CRC32 made stale, its header CRC32 made right again
    let mut stale = bytes.clone();
    stale_records_checksum(&mut stale, newest);

    let read = evtx_read(&stale);
    check_against(&original, &read, &name);
    assert_eq!(read.summary.rejected, last - first + 1);
    assert_eq!(read.summary.rejections[0].kind, "EVTX checksum");
    assert!(read.summary.losses.is_empty());

    // the same chunk in a log marked dirty (flag 0x1 at byte 120, outside the header's CRC32)
    stale[120] |= 1;
    let read = evtx_read(&stale);
    check_against(&original, &read, &name);
    assert_eq!(read.summary.rejected, 0);
    assert_eq!(read.events.len(), original.records.len());
    let notes = read.summary.notes.join("\n");
    assert!(notes.contains("not closed cleanly"), "{notes}");
    assert!(
        notes.contains(&format!("chunk {newest} (the newest")),
        "{notes}"
    );
}

#[test]
fn a_wrapped_evtx_log_is_read_oldest_first_and_said_so() {
    let Some((name, bytes)) = multi_chunk_samples().into_iter().next() else {
        return;
    };
    let original = original(&bytes);
    let used = original.chunks.len();
    // A log that has wrapped: the oldest four chunks overwritten by the newest, which now sit first.
    let body = &bytes[4096..4096 + used * 65536];
    let mut wrapped = bytes[..4096].to_vec();
    wrapped.extend_from_slice(&body[(used - 4) * 65536..]);
    wrapped.extend_from_slice(&body[..(used - 4) * 65536]);
    let read = evtx_read(&wrapped);
    check_against(&original, &read, &name);
    let ids: Vec<u64> = read
        .events
        .iter()
        .filter_map(|e| record_id(e.provenance().location))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "not in record order");
    assert_eq!(ids.len(), original.records.len());
    let notes = read.summary.notes.join("\n");
    assert!(
        notes.contains("wrapped around (circular): its oldest records are in chunk 4"),
        "{notes}"
    );
}

#[test]
fn every_evtx_sample_is_read_whole() {
    let Some(dir) = common::shared("evtx") else {
        return;
    };
    let mut files = 0;
    for entry in walkdir::WalkDir::new(dir) {
        let path = entry.unwrap().into_path();
        if path.extension().is_none_or(|e| e != "evtx") {
            continue;
        }
        let read = common::read_path(&path, &Options::default());
        let s = &read.summary;
        assert!(
            s.losses.is_empty() && s.rejected == 0 && s.notes.is_empty(),
            "{s}"
        );
        files += 1;
    }
    assert_eq!(files, 453);
}

/// Nesting is bounded without recursion: a line nested beyond the JSON parser's limit, and a document
/// nested 5,000 deep over as many lines, are rejected with the reason; the record before them arrives.
#[test]
fn deep_nesting_is_rejected_not_followed() {
    let line = format!("{{\"a\": {}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let deep = "[\n".repeat(5_000);
    let text = format!("{{\"user\": \"before\"}}\n{line}\n{deep}");
    let read = common::read_text(Format::Json, &text, &Options::default());
    let s = &read.summary;
    assert_eq!(s.parsed, 1, "{s}");
    let reasons: Vec<String> = read.rejections.iter().map(|r| r.to_string()).collect();
    assert!(
        reasons[0].contains("test.log:2: invalid JSON: recursion limit"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].starts_with("test.log:3: invalid JSON: document starting here is not valid JSON at line 4099: nested deeper than 4096 levels"),
        "{reasons:?}"
    );
    assert!(
        reasons.last().unwrap().contains("never closes"),
        "{reasons:?}"
    );
}

/// A broken document does not swallow the records after it: a JSON-lines record whose string never
/// ends, or whose braces do not balance, is rejected on its own line and the next lines are read.
#[test]
fn a_broken_record_does_not_swallow_the_lines_after_it() {
    let text = "{\"user\": \"a\"}\n{\"user\": \"never closed\n{\"user\": \"b\"}\n{\"user\": {\"name\": \"c\"}\n{\"user\": \"d\"}\n";
    let read = common::read_text(Format::Json, text, &Options::default());
    let users: Vec<String> = read
        .events
        .iter()
        .filter_map(|e| common::text(e, "user"))
        .collect();
    assert_eq!(users, ["a", "b", "d"]);
    let lines: Vec<String> = read
        .rejections
        .iter()
        .map(|r| r.provenance.location.to_string())
        .collect();
    assert_eq!(lines, ["2", "4"]);
}

/// With recovery asked for, a chunk whose header fails its checksum (here only the stored CRC32 is
/// damaged) and a chunk whose records fail theirs are read, tagged `recovered`, and nothing is lost;
/// without it, the first is lost and the second rejected.
#[test]
fn evtx_recovery_reads_what_the_checksums_cannot_vouch_for() {
    let Some((name, bytes)) = multi_chunk_samples().into_iter().next() else {
        return;
    };
    let original = original(&bytes);
    let mut damaged = bytes.clone();
    let (header_bad, records_bad) = (3usize, 5usize);
    damaged[4096 + header_bad * 65536 + 124] ^= 0xFF;
    stale_records_checksum(&mut damaged, records_bad);
    let size = |slot: usize| {
        let (first, last) = original.chunks[&(slot as u64)];
        last - first + 1
    };

    let strict = evtx_read(&damaged);
    check_against(&original, &strict, &name);
    assert_eq!(strict.summary.lost, size(header_bad));
    assert_eq!(strict.summary.rejected, size(records_bad));

    let recovered = evtx_read_with(&damaged, true);
    check_against(&original, &recovered, &name);
    assert_eq!(
        (recovered.summary.lost, recovered.summary.rejected),
        (0, 0),
        "{}",
        recovered.summary
    );
    let tagged = recovered
        .events
        .iter()
        .filter(|e| e.to_json()["tags"] == serde_json::json!(["recovered"]))
        .count() as u64;
    assert_eq!(tagged, size(header_bad) + size(records_bad));
    // the bytes were intact: apart from the tag, each recovered record is the original
    for event in &recovered.events {
        let mut json = event.to_json();
        json.as_object_mut().unwrap().remove("tags");
        let id = record_id(event.provenance().location).unwrap();
        assert_eq!(original.records[&id], json);
    }
    let notes = recovered.summary.notes.join("\n");
    assert!(
        notes.contains(&format!("{tagged} records recovered")),
        "{notes}"
    );
}

//! No parser panics on damaged input: every format gets its samples mutated many times over (bytes
//! flipped, cut, duplicated, spliced from other formats), and every record must still be accounted for.
//! The cargo-fuzz targets under `fuzz/` drive the same entry point with coverage guidance.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

mod common;

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

#[test]
fn mutated_evtx_never_panics() {
    let Some(dir) = common::shared("evtx/EVTX-ATTACK-SAMPLES/Execution") else {
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "evtx"))
        .collect();
    files.sort();
    let mut rng = Rng::new(0xE77C_0FF5_E7ED_0001);
    for path in files.iter().take(6) {
        let bytes = std::fs::read(path).unwrap();
        for round in 0..12 {
            let mut damaged = bytes.clone();
            // Damage inside chunks, past the file header, so the parser gets to records.
            for _ in 0..1 + rng.below(40) {
                let at = 4096 + rng.below(damaged.len().saturating_sub(4096));
                if at < damaged.len() {
                    damaged[at] = rng.next_u64() as u8;
                }
            }
            if rng.below(3) == 0 {
                damaged.truncate(4096 + rng.below(bytes.len() - 4096));
            }
            let summary = read_bytes(
                Format::Evtx,
                "damaged.evtx",
                &damaged,
                &Options::default(),
                &mut |_| {},
            );
            assert_eq!(
                summary.read,
                summary.parsed + summary.rejected,
                "{} round {round}",
                path.display()
            );
        }
    }
}

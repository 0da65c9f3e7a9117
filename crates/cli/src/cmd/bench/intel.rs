//! `bench intel`: what matching millions of indicators costs detection.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use secops_ingest::{Input, Options};

use crate::memory::peak_rss_bytes;
use crate::Outcome;

use super::detect::detect_pass_with;
use super::*;

/// A deterministic stream of 32-bit numbers (xorshift), for generated addresses.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }

    /// A public-looking IPv4 address with the first octet in `from..from + span`.
    fn address(&mut self, from: u32, span: u32) -> std::net::Ipv4Addr {
        let n = self.next();
        let first = from + (n >> 24) % span;
        std::net::Ipv4Addr::from((first << 24) | (n & 0x00ff_ffff))
    }
}

pub fn run(args: IntelArgs) -> anyhow::Result<Outcome> {
    use secops_intel::{Indicator, IndicatorIndex, Kind};
    let dir = tempfile::tempdir().context("creating a scratch folder")?;
    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
    // Indicators: addresses, networks, domains.
    reset_peak();
    let before = peak_rss_bytes().unwrap_or(0);
    let start = Instant::now();
    let mut index = IndicatorIndex::new();
    let mut listed = Vec::new();
    // Indicators in 11-110.x.x.x; ordinary traffic goes to 111-222.x.x.x, so alerts come only from
    // the listed addresses the events are made to visit.
    for n in 0..args.indicators {
        let ip = random.address(11, 100);
        let value = if n % 10 == 0 {
            let o = ip.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        } else {
            ip.to_string()
        };
        if n % 1000 == 0 {
            listed.push(ip);
        }
        index.add(Indicator::new(Kind::Ip, value, "bench"));
        index.add(Indicator::new(
            Kind::Domain,
            format!("d{n}.bench-c2.example"),
            "bench",
        ));
    }
    let build = start.elapsed().as_secs_f64();
    let index_mb = peak_rss_bytes().unwrap_or(0).saturating_sub(before) as f64 / 1e6;
    let size = index.len();
    let indicators = secops_detect::IndicatorSet::from_index(index);
    // Events: Zeek connections, one in a thousand to a listed address.
    let path = dir.path().join("conn.json");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for n in 0..args.events {
        let destination = if n % 1000 == 0 {
            listed[(n / 1000) % listed.len().max(1)]
        } else {
            random.address(111, 112)
        };
        let seconds = 1_764_547_200 + n as u64 / 100;
        writeln!(
            out,
            "{{\"_path\":\"conn\",\"ts\":{seconds}.{:03},\"uid\":\"C{n}\",\"id.orig_h\":\"10.{}.{}.{}\",\"id.orig_p\":{},\"id.resp_h\":\"{destination}\",\"id.resp_p\":443,\"proto\":\"tcp\",\"conn_state\":\"SF\",\"orig_bytes\":512,\"resp_bytes\":4096}}",
            n % 1000,
            (n >> 16) % 256,
            (n >> 8) % 256,
            n % 256,
            1024 + n % 60000
        )?;
    }
    std::io::Write::flush(&mut out)?;
    drop(out);
    let inputs = vec![Input::File(path)];
    let loaded = crate::args::RuleArgs::default().load()?;
    let rules = loaded.native;
    // The two configurations take turns, so drift on a shared machine falls on both alike.
    let empty = secops_detect::IndicatorSet::default();
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..args.runs.max(1) {
        for (set, runs) in [(&empty, &mut without), (&indicators, &mut with)] {
            let (seconds, events, _, alerts) =
                detect_pass_with(&inputs, &Options::default(), &rules, set)?;
            runs.push((seconds, events, alerts));
        }
    }
    let median = |runs: &mut Vec<(f64, u64, u64)>| {
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        runs[runs.len() / 2]
    };
    let (plain, events, plain_alerts) = median(&mut without);
    let (loaded_run, _, alerts) = median(&mut with);
    println!("indicators: {size} in the index, built in {build:.2} s, about {index_mb:.0} MB");
    println!(
        "{:<40} {:>10} {:>9} {:>12} {:>7}",
        "DETECTION (all bundled rules)", "EVENTS", "SECONDS", "EVENTS/S", "ALERTS"
    );
    println!(
        "{:<40} {events:>10} {plain:>9.3} {:>12.0} {plain_alerts:>7}",
        "no indicators",
        events as f64 / plain
    );
    println!(
        "{:<40} {events:>10} {loaded_run:>9.3} {:>12.0} {alerts:>7}",
        format!("{size} indicators"),
        events as f64 / loaded_run
    );
    println!(
        "cost of the indicators: {:+.1}% wall time; median of {} runs",
        (loaded_run / plain - 1.0) * 100.0,
        args.runs.max(1)
    );
    Ok(Outcome::Clean)
}

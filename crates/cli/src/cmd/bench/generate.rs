//! `bench generate DIR`: the large inputs detection is measured on, built from the shared corpora (so
//! they need not be stored): OpenSSH_2k repeated with each copy a day later, a distributed SSH brute
//! force from many sources, the EVTX corpus copied several times, and Windows events as one JSON-lines
//! file. `secops detect` and `bench rules` then read them like any logs.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context};
use secops_ingest::{Input, Options};

use super::ingest::{collect_lines, write_cycled};
use super::*;

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Where to write the inputs (created if missing).
    dir: PathBuf,
    /// The shared corpora folder.
    #[arg(long, default_value = "../shared/corpus")]
    corpus: PathBuf,
    /// Size of `openssh-days.log`: OpenSSH_2k repeated, each copy a day later.
    #[arg(long, default_value_t = 2_000_000_000)]
    openssh_bytes: u64,
    /// Sources in `bruteforce.log`, each failing ten logins with ten user names inside a minute.
    #[arg(long, default_value_t = 30_000)]
    sources: usize,
    /// Copies of the EVTX corpus under `evtx-copies/`.
    #[arg(long, default_value_t = 10)]
    evtx_copies: usize,
    /// Events in `windows.jsonl` (the EVTX corpus's records as evtx_dump JSON lines, cycled; at least
    /// all of them once).
    #[arg(long, default_value_t = 2_000_000)]
    windows_events: usize,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(&args.dir).with_context(|| args.dir.display().to_string())?;
    let Some(linux) = linux_logs(&args.corpus)? else {
        bail!("{}: the shared corpora are needed", args.corpus.display());
    };
    let path = args.dir.join("openssh-days.log");
    let lines = openssh_days(&linux[0], &path, args.openssh_bytes)?;
    eprintln!("{}: {lines} lines", path.display());
    let path = args.dir.join("bruteforce.log");
    let lines = brute_force(&path, args.sources)?;
    eprintln!(
        "{}: {lines} lines from {} sources",
        path.display(),
        args.sources
    );
    let Some(evtx) = evtx_files(&args.corpus) else {
        bail!("{}: no EVTX corpus", args.corpus.join("evtx").display());
    };
    let copies = args.dir.join("evtx-copies");
    let files = copy_evtx(&evtx, &args.corpus.join("evtx"), &copies, args.evtx_copies)?;
    eprintln!("{}: {files} files", copies.display());
    let records = collect_lines(&evtx, &Options::default(), |e| {
        e.get("Event").map(|v| format!("{{\"Event\":{v}}}"))
    })?;
    let written = write_cycled(&records, &args.dir, "windows", args.windows_events, 1)?;
    if let [Input::File(one)] = written.as_slice() {
        let path = args.dir.join("windows.jsonl");
        std::fs::rename(one, &path).with_context(|| path.display().to_string())?;
        let events = args.windows_events.max(records.len());
        eprintln!("{}: {events} events", path.display());
    }
    Ok(Outcome::Clean)
}

/// Repeats the OpenSSH log to `bytes`, each copy a day after the one before (the dates run on; syslog's
/// missing year advances at each New Year). Returns the lines written.
fn openssh_days(source: &str, path: &Path, bytes: u64) -> anyhow::Result<u64> {
    let lines: Vec<(chrono::NaiveDateTime, &str)> =
        source.lines().filter_map(syslog_time).collect();
    if lines.is_empty() {
        bail!("no OpenSSH lines with a time");
    }
    let mut out = BufWriter::new(File::create(path).with_context(|| path.display().to_string())?);
    let (mut written, mut count) = (0u64, 0u64);
    for copy in 0.. {
        for (time, rest) in &lines {
            let moved = *time + chrono::Duration::days(copy);
            let line = format!("{}{rest}\n", syslog_stamp(moved));
            out.write_all(line.as_bytes())?;
            written += line.len() as u64;
            count += 1;
        }
        if written >= bytes {
            break;
        }
    }
    out.flush()?;
    Ok(count)
}

/// A distributed brute force: `sources` addresses (198.18.0.0/15, the benchmarking range), each failing
/// ten password logins with ten user names within 45 seconds, a hundred sources at a time. Each source
/// is one brute-force alert and one password-spraying alert. Returns the lines written.
fn brute_force(path: &Path, sources: usize) -> anyhow::Result<u64> {
    let start = chrono::NaiveDate::from_ymd_opt(2016, 3, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .context("start time")?;
    let mut out = BufWriter::new(File::create(path).with_context(|| path.display().to_string())?);
    let mut count = 0;
    for block in 0..sources.div_ceil(100) {
        let members = (block * 100..((block + 1) * 100).min(sources)).collect::<Vec<_>>();
        for attempt in 0..10 {
            let time = start + chrono::Duration::seconds(block as i64 * 60 + attempt as i64 * 5);
            let stamp = syslog_stamp(time).to_string();
            for &source in &members {
                let ip = format!(
                    "198.{}.{}.{}",
                    18 + source / 65536,
                    source / 256 % 256,
                    source % 256
                );
                writeln!(
                    out,
                    "{stamp} bastion sshd[{}]: Failed password for user{attempt} from {ip} port {} ssh2",
                    10_000 + source % 50_000,
                    40_000 + (source * 10 + attempt) % 20_000,
                )?;
                count += 1;
            }
        }
    }
    out.flush()?;
    Ok(count)
}

/// The EVTX files `copies` times under `dir/copy-N/` (hard links where the file system allows).
fn copy_evtx(files: &[Input], root: &Path, dir: &Path, copies: usize) -> anyhow::Result<usize> {
    let mut made = 0;
    for copy in 0..copies {
        for input in files {
            let Input::File(file) = input else { continue };
            let relative = file.strip_prefix(root).unwrap_or(file);
            let target = dir.join(format!("copy-{copy}")).join(relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            if !target.exists() && std::fs::hard_link(file, &target).is_err() {
                std::fs::copy(file, &target).with_context(|| target.display().to_string())?;
            }
            made += 1;
        }
    }
    Ok(made)
}

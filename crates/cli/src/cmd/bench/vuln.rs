//! `bench vuln`: a Trivy report of 100,000 findings built from the real reports in
//! `../shared/corpus/vuln` imported into a fresh store, then imported again (every finding merged),
//! timed with peak memory; on SQLite, and on PostgreSQL with --database-url. With `--nessus-mb`, a
//! `.nessus` file of that size (the real scan's hosts repeated under new names) is imported too, to
//! show memory stays flat however large the file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use secops_service::vulns::{self, ImportOptions};
use secops_service::{Actor, NoProgress, SystemClock};
use serde_json::Value;

use super::reset_peak;
use crate::memory::peak_rss_bytes;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct VulnBenchArgs {
    /// Findings in the generated Trivy report.
    #[arg(long, default_value_t = 100_000)]
    findings: usize,
    /// Also write and import a `.nessus` file of about this many MB (0: none).
    #[arg(long = "nessus-mb", default_value_t = 0)]
    nessus_mb: u64,
    /// Also measure PostgreSQL at this URL (a scratch schema is created and dropped).
    #[arg(long = "database-url")]
    database_url: Option<String>,
    /// The shared corpus folder.
    #[arg(long, default_value = "../shared/corpus/vuln")]
    corpus: PathBuf,
}

pub fn run(args: VulnBenchArgs) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir().context("creating a scratch folder")?;
    let report = trivy_report(&args.corpus, dir.path(), args.findings)?;
    let mut targets = vec![(
        "SQLite (WAL, full sync)".to_string(),
        dir.path().join("bench.db").display().to_string(),
    )];
    let schema = format!("bench_vuln_{}", std::process::id());
    if let Some(url) = &args.database_url {
        let sep = if url.contains('?') { "&" } else { "?" };
        targets.push((
            "PostgreSQL".to_string(),
            format!("{url}{sep}schema={schema}"),
        ));
    }
    println!(
        "{:<26} {:<8} {:>9} {:>10} {:>12} {:>10}",
        "STORE", "STEP", "FINDINGS", "SECONDS", "FINDINGS/S", "PEAK MB"
    );
    let mut nessus = None;
    if args.nessus_mb > 0 {
        nessus = Some(nessus_file(&args.corpus, dir.path(), args.nessus_mb)?);
    }
    for (name, target) in &targets {
        let mut store = secops_store::Store::open(target)?;
        for step in ["import", "again"] {
            let (seconds, read, peak) = timed(&mut store, &report)?;
            println!(
                "{name:<26} {step:<8} {read:>9} {seconds:>10.2} {:>12.0} {:>10.0}",
                read as f64 / seconds,
                peak
            );
        }
        if let Some(path) = &nessus {
            let (seconds, read, peak) = timed(&mut store, path)?;
            let mb = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) / 1_000_000;
            println!(
                "{name:<26} {:<8} {read:>9} {seconds:>10.2} {:>12.0} {peak:>10.0}   ({mb} MB .nessus)",
                "nessus",
                read as f64 / seconds,
            );
        }
    }
    if let Some(url) = &args.database_url {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))?;
    }
    println!(
        "import: a fresh store (every finding new); again: the same report (every finding merged, \
         none closed); peak: this process's resident memory during the step"
    );
    Ok(Outcome::Clean)
}

/// Seconds, findings read and peak resident MB of one import.
fn timed(store: &mut secops_store::Store, file: &Path) -> anyhow::Result<(f64, u64, f64)> {
    reset_peak();
    let start = Instant::now();
    let report = vulns::import(
        store,
        &ImportOptions {
            files: vec![file.to_path_buf()],
            ..ImportOptions::default()
        },
        &Actor::service("bench"),
        &SystemClock,
        &NoProgress,
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let totals = report.totals();
    if let Some(error) = report.files.iter().find_map(|f| f.error.clone()) {
        anyhow::bail!("{error}");
    }
    Ok((
        seconds,
        totals.read,
        peak_rss_bytes().unwrap_or(0) as f64 / 1e6,
    ))
}

/// A Trivy image report of `count` vulnerabilities: the real reports' vulnerabilities cycled, each
/// copy in a package of its own (name and version numbered) so every one is a distinct finding.
fn trivy_report(corpus: &Path, dir: &Path, count: usize) -> anyhow::Result<PathBuf> {
    let mut pool: Vec<Value> = Vec::new();
    for name in [
        "alpine-310.json",
        "dd-all_statuses.json",
        "npm.json",
        "dd-misconfigurations_and_secrets.json",
    ] {
        let path = corpus.join("trivy").join(name);
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let report: Value = serde_json::from_slice(&text)?;
        for result in report["Results"].as_array().into_iter().flatten() {
            pool.extend(
                result["Vulnerabilities"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
        }
    }
    anyhow::ensure!(
        !pool.is_empty(),
        "no Trivy vulnerabilities under {}",
        corpus.display()
    );
    // Written as it is made (one entry at a time): the import's peak memory is then its own, not
    // what building the report left with the allocator.
    let path = dir.join("trivy-bench.json");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    out.write_all(
        br#"{"SchemaVersion":2,"ArtifactName":"registry.example/bench:1","ArtifactType":"container_image","Metadata":{"RepoTags":["registry.example/bench:1"]},"Results":[{"Target":"registry.example/bench:1 (debian 12)","Class":"os-pkgs","Type":"debian","Vulnerabilities":["#,
    )?;
    for i in 0..count {
        let mut v = pool[i % pool.len()].clone();
        let package = format!(
            "{}-{}",
            v["PkgName"].as_str().unwrap_or("pkg"),
            i / pool.len()
        );
        v["PkgName"] = Value::from(package.clone());
        v["PkgID"] = Value::from(format!("{package}@1.0.{i}"));
        v["InstalledVersion"] = Value::from(format!("1.0.{i}"));
        if let Some(object) = v.as_object_mut() {
            object.remove("Fingerprint");
        }
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut out, &v)?;
    }
    out.write_all(b"]}]}")?;
    out.flush()?;
    Ok(path)
}

/// A `.nessus` file of about `mb` MB: the real scan's report host repeated under new names.
fn nessus_file(corpus: &Path, dir: &Path, mb: u64) -> anyhow::Result<PathBuf> {
    let source = corpus.join("nessus/dd-nessus_with_cvssv3.nessus");
    let text = std::fs::read_to_string(&source)
        .with_context(|| format!("reading {}", source.display()))?;
    let start = text.find("<ReportHost").context("no ReportHost")?;
    let end = text.rfind("</ReportHost>").context("no ReportHost end")? + "</ReportHost>".len();
    let (head, host, tail) = (&text[..start], &text[start..end], &text[end..]);
    let name = "testphp.vulnweb.com";
    let path = dir.join("bench.nessus");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    out.write_all(head.as_bytes())?;
    let mut written = head.len() as u64;
    let mut n = 0;
    while written < mb * 1_000_000 {
        let copy = host.replace(name, &format!("host{n}.bench.example"));
        out.write_all(copy.as_bytes())?;
        written += copy.len() as u64;
        n += 1;
    }
    out.write_all(tail.as_bytes())?;
    out.flush()?;
    Ok(path)
}

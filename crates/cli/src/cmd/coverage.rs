//! `secops coverage`: which ATT&CK techniques the rules cover. Prints the tactic-by-technique matrix,
//! writes an ATT&CK Navigator layer (format 4.5) and an HTML heatmap, and lists the techniques no rule
//! covers; with `--logs`, the rules whose log sources those logs lack.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use secops_attack::coverage::Coverage;
use secops_attack::Catalogue;
use secops_lab::coverage::{mappings, Visibility};

use crate::output::safe;
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rule folders or files (added to --rules; default: the bundled pack).
    paths: Vec<PathBuf>,
    #[command(flatten)]
    rules: crate::args::RuleArgs,
    #[command(flatten)]
    attack: AttackArgs,
    /// Folder for `layer.json` (Navigator layer 4.5), `coverage.html` (heatmap) and `coverage.md` (table).
    #[arg(long, default_value = "coverage")]
    out: PathBuf,
    /// Only techniques on these platforms (Windows, Linux, macOS, ...; repeatable).
    #[arg(long = "platform")]
    platforms: Vec<String>,
    /// Also list every technique no rule covers, per tactic.
    #[arg(long)]
    gaps: bool,
    /// Logs you ingest (files, folders, globs): list the log sources that rules need and these logs
    /// lack, the visibility gap.
    #[arg(long = "logs")]
    logs: Vec<String>,
    /// Year of the first line of syslog files without years (with --logs).
    #[arg(long)]
    year: Option<i32>,
    /// Hunt files or folders counted as "hunted" (repeatable; default: the bundled library).
    #[arg(long = "hunts")]
    hunts: Vec<PathBuf>,
}

/// Where ATT&CK data comes from.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AttackArgs {
    /// The ATT&CK Enterprise STIX bundle, or a folder holding `enterprise-attack*.json` (default:
    /// $SECOPS_ATTACK).
    #[arg(long = "attack")]
    pub attack: Option<PathBuf>,
}

impl AttackArgs {
    /// The path given or set in the environment, if any.
    pub fn path(&self) -> Option<PathBuf> {
        self.attack
            .clone()
            .or_else(|| std::env::var_os("SECOPS_ATTACK").map(PathBuf::from))
    }

    /// Loads the catalogue; an error when no path is known.
    pub fn load(&self) -> anyhow::Result<Catalogue> {
        let path = self.path().context(
            "ATT&CK data is needed: pass --attack PATH (the enterprise-attack STIX bundle, or a folder \
             holding it; MITRE publishes it at github.com/mitre-attack/attack-stix-data) or set SECOPS_ATTACK",
        )?;
        Ok(Catalogue::load(&path)?)
    }
}

pub fn run(mut args: Args) -> anyhow::Result<Outcome> {
    args.rules.rules.append(&mut args.paths);
    let catalogue = args.attack.load()?;
    let loaded = args.rules.load()?;
    for rejection in &loaded.rejected {
        eprintln!("rejected: {rejection}");
    }
    let coverage = Coverage::new(&catalogue, mappings(&loaded.native, &loaded.sigma));
    // Colour only on a terminal, and never when NO_COLOR is set (no-color.org).
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    print!("{}", coverage.matrix_text(&args.platforms, width, color));
    // Techniques, not cells: a technique serving two tactics counts once.
    let mut total = BTreeSet::new();
    let mut covered = BTreeSet::new();
    for (_, cells) in coverage.matrix(&args.platforms) {
        for (technique, n) in cells {
            total.insert(&technique.id);
            if n > 0 {
                covered.insert(&technique.id);
            }
        }
    }
    let (total, covered) = (total.len(), covered.len());
    let mapped = coverage
        .rules()
        .iter()
        .filter(|r| !r.techniques.is_empty())
        .count();
    println!(
        "\n{covered} of {total} techniques covered by {mapped} of {} rules (ATT&CK {})",
        coverage.rules().len(),
        catalogue.version.as_deref().unwrap_or("?")
    );
    // What "covered" rests on: rules whose fields the mapping vouches for, and those it cannot.
    println!(
        "Field check: {} (`rules list --unverified` says where)",
        loaded.check_counts()
    );
    if !coverage.unknown.is_empty() {
        println!(
            "Mapped techniques not live in ATT&CK {} (unknown, revoked or deprecated; not counted):",
            catalogue.version.as_deref().unwrap_or("?")
        );
    }
    for (id, rules) in &coverage.unknown {
        let mut names: Vec<&str> = rules
            .iter()
            .take(3)
            .map(|&r| coverage.rules()[r].name.as_str())
            .collect();
        let more = format!("and {} more", rules.len().saturating_sub(3));
        if rules.len() > 3 {
            names.push(&more);
        }
        println!("  {id}: {} rules ({})", rules.len(), names.join("; "));
    }
    if args.gaps {
        println!("\nTechniques no rule covers:");
        for (tactic, missing) in coverage.gaps(&args.platforms) {
            if missing.is_empty() {
                continue;
            }
            println!("{} ({}): {}", tactic.name, tactic.id, missing.len());
            for technique in missing {
                println!("  {} {}", technique.id, technique.name);
            }
        }
    }
    let library = secops_service::hunt_library::Library::load(&args.hunts)?;
    for e in &library.unreadable {
        eprintln!("{}", safe(e));
    }
    // A technique is detected when a rule maps it, or one of its sub-techniques.
    let detected: BTreeSet<String> = coverage
        .rules()
        .iter()
        .flat_map(|r| r.techniques.iter())
        .flat_map(|(_, id)| [id.clone(), id.split('.').next().unwrap_or(id).to_string()])
        .collect();
    let hunted = hunted(&library, &catalogue, &args.platforms);
    print_hunted(&hunted, &detected, &library);
    if !args.logs.is_empty() {
        visibility(&loaded, &library, &args.logs, args.year)?;
    }
    write_reports(
        &coverage,
        &hunted,
        &detected,
        &catalogue,
        &args.out,
        &args.platforms,
    )?;
    Ok(if loaded.rejected.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Rejections
    })
}

/// Techniques the hunts look for (live in the catalogue, on the platforms asked for), each with the
/// hunts' names.
fn hunted(
    library: &secops_service::hunt_library::Library,
    catalogue: &Catalogue,
    platforms: &[String],
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for entry in &library.hunts {
        for id in &entry.file.hunt.mitre {
            let Some(technique) = catalogue.technique(id).filter(|t| t.is_live()) else {
                continue;
            };
            let on_platform = platforms.is_empty()
                || technique
                    .platforms
                    .iter()
                    .any(|p| platforms.iter().any(|q| q.eq_ignore_ascii_case(p)));
            if on_platform {
                out.entry(technique.id.clone())
                    .or_default()
                    .push(entry.file.hunt.name.clone());
            }
        }
    }
    out
}

/// Hunted techniques apart from detected ones: how many, and those no rule detects.
fn print_hunted(
    hunted: &std::collections::BTreeMap<String, Vec<String>>,
    detected: &BTreeSet<String>,
    library: &secops_service::hunt_library::Library,
) {
    let only: Vec<(&String, &Vec<String>)> = hunted
        .iter()
        .filter(|(id, _)| !detected.contains(*id))
        .collect();
    println!(
        "Hunted: {} techniques by {} hunts; {} of them also detected, {} hunted only",
        hunted.len(),
        library.hunts.len(),
        hunted.len() - only.len(),
        only.len()
    );
    for (id, hunts) in only {
        println!("  {id}: {}", safe(&hunts.join("; ")));
    }
}

/// Reads the logs and lists, by log source, the rules no event of them could reach, and the hunts
/// whose sources the logs hold no events of.
fn visibility(
    loaded: &secops_service::ruleset::Loaded,
    library: &secops_service::hunt_library::Library,
    logs: &[String],
    year: Option<i32>,
) -> anyhow::Result<()> {
    let mut check = Visibility::new(&loaded.native, &loaded.sigma);
    let mut datasets: BTreeSet<String> = BTreeSet::new();
    let counts = crate::cmd::each_event(logs, year, &mut |event| {
        if let Some(dataset) = event.get_str("event.dataset") {
            if !datasets.contains(dataset) {
                datasets.insert(dataset.to_string());
            }
        }
        check.see(&event);
    })?;
    let blind = check.blind();
    let total: usize = blind.iter().map(|(_, rules)| rules.len()).sum();
    println!(
        "\nVisibility: {} events from {} inputs; {total} of {} rules see none of them",
        counts.events,
        counts.inputs,
        check.rules()
    );
    for (source, rules) in &blind {
        let mut names: Vec<&str> = rules.iter().take(3).copied().collect();
        let more = format!("and {} more", rules.len().saturating_sub(3));
        if rules.len() > 3 {
            names.push(&more);
        }
        println!("  {source}: {} rules ({})", rules.len(), names.join("; "));
    }
    let partial = check.partial();
    if !partial.is_empty() {
        println!("Rules across sources missing one of their sources in these logs:");
        for (rule, missing) in &partial {
            println!(
                "  {}: no events for {}",
                safe(rule),
                safe(&missing.join(", "))
            );
        }
    }
    let mut blind_hunts = Vec::new();
    for entry in &library.hunts {
        let mut missing: Vec<String> = Vec::new();
        for query in &entry.file.hunt.query {
            for needed in secops_service::hunt::sources_needed(query).unwrap_or_default() {
                let named = format!("{} ({})", needed.pattern, needed.sources.join(", "));
                if !needed.seen_in(&datasets) && !missing.contains(&named) {
                    missing.push(named);
                }
            }
        }
        if !missing.is_empty() {
            blind_hunts.push((entry.file.hunt.name.clone(), missing));
        }
    }
    println!(
        "{} of {} hunts need sources these logs lack:",
        blind_hunts.len(),
        library.hunts.len()
    );
    for (hunt, missing) in &blind_hunts {
        println!(
            "  {}: no events for {}",
            safe(hunt),
            safe(&missing.join(", "))
        );
    }
    Ok(())
}

fn write_reports(
    coverage: &Coverage<'_>,
    hunted: &std::collections::BTreeMap<String, Vec<String>>,
    detected: &BTreeSet<String>,
    catalogue: &Catalogue,
    out: &Path,
    platforms: &[String],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let description = if platforms.is_empty() {
        "Rules per technique, from secops coverage".to_string()
    } else {
        format!(
            "Rules per technique on {}, from secops coverage",
            platforms.join(", ")
        )
    };
    let mut layer = coverage.layer("secops rule coverage", &description);
    mark_hunted(&mut layer, hunted, catalogue);
    let layer_path = out.join("layer.json");
    std::fs::write(&layer_path, serde_json::to_string_pretty(&layer)?)
        .with_context(|| format!("writing {}", layer_path.display()))?;
    let markdown_path = out.join("coverage.md");
    let mut markdown = coverage.markdown(platforms);
    markdown.push_str(&hunted_markdown(hunted, detected, catalogue));
    std::fs::write(&markdown_path, markdown)
        .with_context(|| format!("writing {}", markdown_path.display()))?;
    let html_path = out.join("coverage.html");
    std::fs::write(
        &html_path,
        coverage.html("secops ATT&CK coverage", platforms),
    )
    .with_context(|| format!("writing {}", html_path.display()))?;
    eprintln!(
        "wrote {} (open it in the ATT&CK Navigator), {} and {}",
        layer_path.display(),
        html_path.display(),
        markdown_path.display()
    );
    Ok(())
}

/// The layer's techniques the hunts look for carry the hunts in their metadata; a technique hunted
/// but detected by no rule gets an entry of its own (score 0) under each of its tactics.
fn mark_hunted(
    layer: &mut secops_attack::coverage::Layer,
    hunted: &std::collections::BTreeMap<String, Vec<String>>,
    catalogue: &Catalogue,
) {
    use secops_attack::coverage::{LayerTechnique, NameValue};
    let hunt_values = |hunts: &Vec<String>| -> Vec<NameValue> {
        hunts
            .iter()
            .map(|h| NameValue {
                name: "hunt".into(),
                value: h.clone(),
            })
            .collect()
    };
    for (id, hunts) in hunted {
        let mut found = false;
        for t in layer
            .techniques
            .iter_mut()
            .filter(|t| t.technique_id == *id)
        {
            found = true;
            t.comment = format!("{}; hunted by {} hunt(s)", t.comment, hunts.len());
            t.metadata.extend(hunt_values(hunts));
        }
        if found {
            continue;
        }
        let Some(technique) = catalogue.technique(id) else {
            continue;
        };
        for tactic in &technique.tactics {
            layer.techniques.push(LayerTechnique {
                technique_id: id.clone(),
                tactic: tactic.clone(),
                score: 0,
                comment: format!("no rule; hunted by {} hunt(s)", hunts.len()),
                enabled: true,
                metadata: hunt_values(hunts),
                show_subtechniques: false,
            });
        }
    }
}

/// The hunted techniques as a Markdown section of `coverage.md`.
fn hunted_markdown(
    hunted: &std::collections::BTreeMap<String, Vec<String>>,
    detected: &BTreeSet<String>,
    catalogue: &Catalogue,
) -> String {
    let cell = |t: &str| t.replace('|', "\\|");
    let mut out = String::from(
        "\n## Hunted\n\nTechniques the hunt library looks for, apart from those rules detect.\n\n| technique | name | hunts | detected by a rule |\n| --- | --- | --- | --- |\n",
    );
    for (id, hunts) in hunted {
        let name = catalogue.technique(id).map_or("", |t| t.name.as_str());
        out.push_str(&format!(
            "| {id} | {} | {} | {} |\n",
            cell(name),
            cell(&hunts.join("; ")),
            if detected.contains(id) { "yes" } else { "no" }
        ));
    }
    out
}

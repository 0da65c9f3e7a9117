//! `hunt list`, `hunt show` and `hunt test` (and the hunts `rules test` runs): the hunt library as an
//! analyst and a detection engineer read it.

use crate::output::safe;
use crate::Outcome;

/// `hunt list`: one line per hunt, sorted by file.
pub fn list(library: &secops_service::hunt_library::Library) -> anyhow::Result<Outcome> {
    let mut hunts: Vec<_> = library.hunts.iter().collect();
    hunts.sort_by(|a, b| a.path.cmp(&b.path));
    let rows: Vec<[String; 4]> = hunts
        .iter()
        .map(|entry| {
            let hunt = &entry.file.hunt;
            [
                safe(&hunt.uuid).into_owned(),
                safe(&entry.stem()).into_owned(),
                if hunt.mitre.is_empty() {
                    "-".to_string()
                } else {
                    safe(&hunt.mitre.join(",")).into_owned()
                },
                safe(&hunt.name).into_owned(),
            ]
        })
        .collect();
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (file_width, technique_width) = (width(1), width(2));
    for (row, entry) in rows.iter().zip(&hunts) {
        println!(
            "{}  {:<file_width$}  {:<technique_width$}  {:>2} test(s)  {}",
            row[0],
            row[1],
            row[2],
            entry.file.tests.len(),
            row[3]
        );
    }
    println!(
        "{} hunt(s), {} test case(s){}",
        hunts.len(),
        hunts.iter().map(|h| h.file.tests.len()).sum::<usize>(),
        if library.unreadable.is_empty() {
            String::new()
        } else {
            format!(", {} unreadable file(s)", library.unreadable.len())
        }
    );
    Ok(if library.unreadable.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Failures
    })
}

/// `hunt show`: the hunt as an analyst reads it before running it.
pub fn show(entry: &secops_service::hunt_library::HuntEntry) -> anyhow::Result<Outcome> {
    let hunt = &entry.file.hunt;
    let list = |items: &[String]| {
        items
            .iter()
            .map(|i| safe(i).into_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let block = |text: &str| {
        for line in text.trim().lines() {
            println!("  {}", safe(line));
        }
    };
    println!("{}", safe(&hunt.name));
    println!("id:           {}", safe(&hunt.uuid));
    println!("file:         {}", safe(&entry.path.display().to_string()));
    if !hunt.author.is_empty() {
        println!("author:       {}", list(&hunt.author));
    }
    if !hunt.mitre.is_empty() {
        println!("techniques:   {}", list(&hunt.mitre));
    }
    if !hunt.integration.is_empty() {
        println!("data sources: {}", list(&hunt.integration));
    }
    println!("tests:        {}", entry.file.tests.len());
    if let Some(hypothesis) = &hunt.hypothesis {
        println!("\nhypothesis:");
        block(hypothesis);
    }
    println!("\ndescription:");
    block(&hunt.description);
    for (i, query) in hunt.query.iter().enumerate() {
        println!("\nquery {} (hunt language):", i + 1);
        block(query);
    }
    for (i, query) in hunt.sql.iter().enumerate() {
        println!("\nquery {} (SQL):", i + 1);
        block(query);
    }
    if !hunt.notes.is_empty() {
        println!("\nnotes:");
        for note in &hunt.notes {
            println!("  - {}", safe(note));
        }
    }
    if !hunt.references.is_empty() {
        println!("\nreferences:");
        for reference in &hunt.references {
            println!("  - {}", safe(reference));
        }
    }
    Ok(Outcome::Clean)
}

/// Cases passed and failed, and files that did not read.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub unreadable: usize,
}

impl Tally {
    pub fn outcome(&self) -> Outcome {
        if self.failed > 0 || self.unreadable > 0 {
            Outcome::Failures
        } else {
            Outcome::Clean
        }
    }
}

/// Runs the library's cases, one line each (`ok`, or `FAIL` with what differs and the rows the
/// query gave), as `rules test` prints rule cases.
pub fn test_hunts(
    library: &secops_service::hunt_library::Library,
    filter: Option<&str>,
    data_root: &std::path::Path,
) -> Tally {
    let filter = filter.map(str::to_lowercase);
    let mut tally = Tally {
        unreadable: library.unreadable.len(),
        ..Tally::default()
    };
    for e in &library.unreadable {
        println!("ERROR {}", safe(e));
    }
    for entry in &library.hunts {
        let name = entry.file.hunt.name.to_lowercase();
        if let Some(f) = &filter {
            if !name.contains(f)
                && !entry
                    .file
                    .tests
                    .iter()
                    .any(|t| t.name.to_lowercase().contains(f))
            {
                continue;
            }
        }
        for outcome in secops_service::hunt_library::run_tests(entry, data_root) {
            if let Some(f) = &filter {
                if !name.contains(f) && !outcome.test.to_lowercase().contains(f) {
                    continue;
                }
            }
            let label = format!("hunt: {} / {}", outcome.hunt, outcome.test);
            if outcome.passed() {
                tally.passed += 1;
                println!("ok    {}", safe(&label));
                continue;
            }
            tally.failed += 1;
            println!("FAIL  {}", safe(&label));
            for line in &outcome.failures {
                println!("      {}", safe(line));
            }
            if outcome.rows == 0 {
                println!("      actual: no rows");
            } else {
                let shown = if outcome.rows > outcome.actual.len() {
                    format!(", the first {}", outcome.actual.len())
                } else {
                    String::new()
                };
                println!("      actual: {} row(s){shown}", outcome.rows);
                for row in &outcome.actual {
                    println!("        {}", safe(row));
                }
            }
        }
    }
    tally
}

//! Embeds the bundled rule pack (`rules/` at the repository root) and the bundled hunt library
//! (`hunts/`) into the binary.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    // The manifest folder as cargo gives it to this run, not as it was when the script was compiled: a
    // build script reused from another checkout must not read that checkout's (or no) rules.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    embed(
        &Path::new(&manifest).join("../../rules"),
        "BUNDLED_RULES",
        "The bundled rules: (path below `rules/`, file text).",
        &out.join("bundled_rules.rs"),
    );
    embed(
        &Path::new(&manifest).join("../../hunts"),
        "BUNDLED_HUNTS",
        "The bundled hunts: (path below `hunts/`, file text).",
        &out.join("bundled_hunts.rs"),
    );
}

/// Writes `name`, a constant of every TOML file below `root` as (relative path, text), to `out`.
fn embed(root: &Path, name: &str, doc: &str, out: &Path) {
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(root, &mut files);
    files.sort();
    if files.is_empty() {
        eprintln!(
            "error: no TOML files under {}: the bundled {name} would be empty",
            root.display()
        );
        std::process::exit(1);
    }
    let mut code = format!("/// {doc}\npub const {name}: &[(&str, &str)] = &[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let relative = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        let _ = writeln!(
            code,
            "    ({relative:?}, include_str!({:?})),",
            file.display().to_string()
        );
    }
    code.push_str("];\n");
    if let Err(e) = std::fs::write(out, code) {
        println!("cargo:warning=cannot write {}: {e}", out.display());
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

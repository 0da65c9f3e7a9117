//! Test support for the workspace's crates (a dev-dependency only).
//!
//! - [`shared`] finds `../shared/corpus/...`, [`postgres_url`] the test PostgreSQL, [`require`] anything
//!   else a test needs from outside the project. When it is missing, a test says `SKIPPED` on a developer's
//!   machine but fails under CI (`CI` set), so a CI run never passes without running what it claims to.
//! - [`mutate`]: a deterministic generator and the damage the robustness tests do to inputs.
//! - [`events`]: events built in a line, for tests of what reads them.

#![allow(clippy::panic)] // failing a test is this crate's job

pub mod events;
pub mod mutate;

use std::path::{Path, PathBuf};

/// The repository's root (the folder with the workspace's `Cargo.toml`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The bundled SSH brute-force rule broken three ways, for tests of `rules validate`: a technique of
/// another tactic (T1566 under Credential Access), an expired exception, and a threshold its own test
/// cases no longer meet.
pub fn broken_brute_force_rule() -> String {
    let path =
        repo_root().join("rules/credential_access/credential_access_ssh_password_brute_force.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let broken = text
        .replacen(
            "id = \"T1110\"\nname = \"Brute Force\"",
            "id = \"T1566\"\nname = \"Phishing\"",
            1,
        )
        .replacen(
            "description = \"Internal vulnerability scanner\"",
            "description = \"Internal vulnerability scanner\"\nexpire_time = \"2026-01-01T00:00:00Z\"",
            1,
        )
        .replacen("value = 10\n", "value = 9\n", 1);
    assert_ne!(
        broken, text,
        "the bundled rule changed: the fixture no longer breaks it"
    );
    broken
}

/// `samples/<name>` in the repository.
pub fn sample(name: &str) -> PathBuf {
    repo_root().join("samples").join(name)
}

/// Whether this is a CI run: `CI` set to anything but empty, `0` or `false`.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Something a test needs from outside the project is missing: under CI the test fails with `why`;
/// elsewhere it prints `SKIPPED: why` and the caller returns.
pub fn require<T>(found: Option<T>, why: impl FnOnce() -> String) -> Option<T> {
    if found.is_some() {
        return found;
    }
    let why = why();
    if under_ci() {
        panic!("CI provides this, but it is missing: {why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// `../shared/<sub>` beside the repository (`corpus/sigma`, `corpus/linux/OpenSSH_2k.log`), when present.
pub fn shared(sub: &str) -> Option<PathBuf> {
    let path = repo_root().join("../shared").join(sub);
    require(path.exists().then(|| path.clone()), || {
        format!("{} is not present (CI provides ../shared)", path.display())
    })
}

/// The test PostgreSQL's URL (`SECOPS_TEST_DATABASE_URL`, else the machine's on 127.0.0.1:5432), once a
/// connection to it succeeds.
pub fn postgres_url(test: &str) -> Option<String> {
    let url = std::env::var("SECOPS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let reached = postgres::Client::connect(&url, postgres::NoTls);
    let why = match &reached {
        Ok(_) => String::new(),
        Err(e) => format!("{test} on PostgreSQL: {url} is unreachable: {e}"),
    };
    require(reached.ok().map(|_| url), || why)
}

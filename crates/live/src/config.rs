//! `secops run --config FILE`: the TOML file (documented in `docs/run.md`, example in
//! `etc/secops.example.toml`). Unknown keys are errors, each naming the file, line and key.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The checkpoint's name in the store: one running process per name.
    #[serde(default = "default_name")]
    pub name: String,
    /// Where journals and the status file live (default: `secops-state` beside the config file).
    pub state_dir: Option<PathBuf>,
    pub store: StoreConfig,
    #[serde(default)]
    pub rules: RulesConfig,
    #[serde(default)]
    pub engine: EngineConfig,
    #[serde(default)]
    pub listen: Vec<Listen>,
    pub metrics: Option<MetricsConfig>,
    /// The HTTP API and the web console in the same process (as `secops serve`).
    pub server: Option<ServerConfig>,
    /// Every event read, into the event lake.
    pub lake: Option<LakeConfig>,
    /// Hunts of the library run on a schedule over the lake, each row an alert.
    #[serde(default)]
    pub hunt: Vec<HuntConfig>,
    /// Detection spread over workers on NATS JetStream: `secops run` publishes what it reads,
    /// `secops worker` processes run the rules.
    pub bus: Option<BusConfig>,
    /// Vulnerability findings' deadlines watched: breaches raise alerts.
    pub vuln: Option<VulnConfig>,
    /// Response automation: alerts evaluated against the response workflows, runs carried out,
    /// holds rolled back when they end.
    pub respond: Option<RespondConfig>,
}

/// `[respond]`. Paths are relative to the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespondConfig {
    /// The response configuration: a TOML file or a folder of them.
    pub config: PathBuf,
    /// The connectors' secrets (only its owner may read it).
    pub secrets: Option<PathBuf>,
    /// MISP warninglists: values they cover are never acted on.
    pub warninglists: Option<PathBuf>,
    /// The asset and identity inventory: its networks, hosts and VIP accounts are never acted on.
    #[serde(default)]
    pub inventory: Vec<PathBuf>,
    /// How often new alerts are evaluated and due runs carried out, seconds.
    #[serde(default = "default_respond_every")]
    pub every_seconds: u64,
}

fn default_respond_every() -> u64 {
    5
}

/// `[vuln]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VulnConfig {
    /// How often open findings past their deadline raise alerts (rule `secops-vuln-sla-breach`,
    /// once per finding and deadline), minutes; the first time at the start.
    #[serde(default = "default_sla_every")]
    pub sla_every_minutes: u64,
}

fn default_sla_every() -> u64 {
    60
}

/// `[bus]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusConfig {
    /// NATS server addresses (a cluster's several).
    #[serde(default = "default_servers")]
    pub servers: Vec<String>,
    /// The streams' and bucket's name prefix (`SECOPS`: `SECOPS_EVENTS`, `SECOPS_REKEY`,
    /// `SECOPS_MEMBERS`); the workers' checkpoints are named after it too.
    #[serde(default = "default_bus_name")]
    pub name: String,
    /// The subjects' prefix.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// Partitions of the events (and of re-keyed events): units of work spread over workers.
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// The field events are partitioned by.
    #[serde(default = "default_key")]
    pub key: String,
    /// Copies of each stream in a cluster (1 or 3).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// Each stream's size limit.
    #[serde(default = "default_bus_bytes")]
    pub max_mb: u64,
    /// Events per frame at most.
    #[serde(default = "default_frame_events")]
    pub frame_events: usize,
    /// How often frames not yet full go out (milliseconds).
    #[serde(default = "default_flush")]
    pub flush_ms: u64,
    /// How long a delivered frame waits for its ack before it is delivered again (milliseconds).
    #[serde(default = "default_ack_wait")]
    pub ack_wait_ms: u64,
    /// A worker silent for this long has left and its partitions move (milliseconds).
    #[serde(default = "default_member_ttl")]
    pub member_ttl_ms: u64,
}

fn default_servers() -> Vec<String> {
    vec!["nats://127.0.0.1:4222".into()]
}
fn default_bus_name() -> String {
    "SECOPS".into()
}
fn default_prefix() -> String {
    "secops".into()
}
fn default_partitions() -> u32 {
    4
}
fn default_key() -> String {
    "host.name".into()
}
fn default_replicas() -> usize {
    1
}
fn default_bus_bytes() -> u64 {
    8192
}
fn default_frame_events() -> usize {
    1000
}
fn default_flush() -> u64 {
    100
}
fn default_ack_wait() -> u64 {
    30_000
}
fn default_member_ttl() -> u64 {
    10_000
}

impl BusConfig {
    /// The settings the bus crate takes.
    pub fn settings(&self) -> secops_bus::BusSettings {
        secops_bus::BusSettings {
            servers: self.servers.clone(),
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            partitions: self.partitions,
            replicas: self.replicas,
            max_bytes: i64::try_from(self.max_mb.saturating_mul(1 << 20)).unwrap_or(i64::MAX),
            ack_wait: std::time::Duration::from_millis(self.ack_wait_ms.max(100)),
            member_ttl: std::time::Duration::from_millis(self.member_ttl_ms.max(500)),
            ..secops_bus::BusSettings::default()
        }
    }
}

/// A NATS subject token or stream name: letters, digits, `-` and `_` only.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `[lake]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeConfig {
    /// A folder or `s3://bucket/prefix` (settings from the `AWS_*` variables).
    pub path: String,
    /// How often what waits is written out (and the checkpoint says the lake holds it), seconds.
    #[serde(default = "default_lake_flush")]
    pub flush_seconds: u64,
}

fn default_lake_flush() -> u64 {
    60
}

/// One `[[hunt]]`: a hunt of the library run over the lake every so often (as `hunt schedule`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HuntConfig {
    /// The hunt's id, file name or name.
    pub name: String,
    /// How often it runs, minutes.
    #[serde(default = "default_every")]
    pub every_minutes: u64,
    /// How far back its first run looks (`1d`, `12h`).
    #[serde(default = "default_look_back")]
    pub look_back: String,
    /// Which of its queries (from 1).
    #[serde(default = "default_number")]
    pub number: usize,
    /// Rows raised as alerts at most per run.
    #[serde(default = "default_max_rows")]
    pub max_rows: u64,
}

fn default_every() -> u64 {
    60
}
fn default_look_back() -> String {
    "1d".into()
}
fn default_number() -> usize {
    1
}
fn default_max_rows() -> u64 {
    10_000
}

/// `[server]`: what `secops serve` takes, for the API and console beside the listeners.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub address: SocketAddr,
    /// PEM certificate chain and key: HTTPS (needed beyond loopback unless `behind_proxy`).
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
    #[serde(default)]
    pub behind_proxy: bool,
    /// Where hunt results attached to cases are written.
    pub evidence_dir: Option<PathBuf>,
    /// The event lake hunts read.
    pub lake: Option<String>,
}

fn default_name() -> String {
    "secops".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub db: Option<PathBuf>,
    pub database_url: Option<String>,
    /// The audit log's key (else `SECOPS_AUDIT_KEY` or the key file beside the database).
    pub audit_key: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// Rule folders or files (none: the bundled pack).
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// Intelligence files for threat_match rules, besides the store's indicators.
    #[serde(default)]
    pub intel: Vec<PathBuf>,
    /// MISP warninglists folder.
    pub warninglists: Option<PathBuf>,
    /// The asset and identity inventory (entities are resolved when given or when a rule reads them).
    pub inventory: Option<PathBuf>,
    /// Only alerts of this severity or higher are recorded.
    pub min_severity: Option<String>,
    /// `default` (rules' own aggregation, else by entity over an hour), `declared`, `per-event`.
    #[serde(default)]
    pub aggregate: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// How often what was raised is recorded with a checkpoint (milliseconds).
    #[serde(default = "default_commit_ms")]
    pub commit_ms: u64,
    /// Events older than the newest by more than this (seconds) are counted as late.
    #[serde(default = "default_lateness")]
    pub lateness_seconds: u64,
    /// Rules (by id or name) allowed another lateness (seconds): the events each selects later than
    /// that are counted against it (`[engine.rule_lateness_seconds]`, `"rule id" = 30`).
    #[serde(default)]
    pub rule_lateness_seconds: std::collections::BTreeMap<String, u64>,
    /// Journal bytes waiting for the engine past which listeners push back (TCP, HTTP) or drop (UDP).
    #[serde(default = "default_spool")]
    pub max_spool_mb: u64,
    /// Ask the disk to keep each journal write (survives power loss, not only a crash).
    #[serde(default)]
    pub fsync: bool,
    /// Records the engine takes from one input before turning to the next.
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_batch() -> usize {
    4096
}

fn default_commit_ms() -> u64 {
    250
}
fn default_lateness() -> u64 {
    300
}
fn default_spool() -> u64 {
    1024
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            commit_ms: default_commit_ms(),
            lateness_seconds: default_lateness(),
            rule_lateness_seconds: std::collections::BTreeMap::new(),
            max_spool_mb: default_spool(),
            fsync: false,
            batch: default_batch(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where the Prometheus endpoint listens (`/metrics`).
    pub address: SocketAddr,
}

/// The kinds of listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    SyslogUdp,
    SyslogTcp,
    SyslogTls,
    Http,
    Tail,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SyslogUdp => "syslog-udp",
            Kind::SyslogTcp => "syslog-tcp",
            Kind::SyslogTls => "syslog-tls",
            Kind::Http => "http",
            Kind::Tail => "tail",
        }
    }
}

/// One `[[listen]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    pub kind: Kind,
    /// A name for status and provenance (default: kind and address or path).
    pub name: Option<String>,
    pub address: Option<SocketAddr>,
    pub path: Option<PathBuf>,
    /// The format of the messages (default: syslog for syslog listeners, JSON for HTTP; for a tailed
    /// file, detected from its name and first lines).
    pub format: Option<String>,
    /// The year of RFC 3164 lines (which carry none); default: the year they arrive in.
    pub year: Option<i32>,
    /// The time zone of RFC 3164 lines (which carry none): `+02:00` or an IANA name such as
    /// `Europe/Berlin`; default UTC.
    pub timezone: Option<String>,
    /// The character encoding of the messages (a WHATWG label: `utf-8`, `latin1`, `windows-1252`,
    /// `shift_jis`, ...); default UTF-8 (invalid bytes replaced).
    pub encoding: Option<String>,
    /// Bytes of one message past which it is refused and counted.
    #[serde(default = "default_max_message")]
    pub max_message: usize,
    /// Senders allowed (addresses or CIDR blocks); empty: anyone.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Messages per second accepted from this listener; beyond, refused and counted.
    pub eps: Option<u64>,
    /// Connections open at once (TCP, TLS, HTTP).
    #[serde(default = "default_connections")]
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed (seconds).
    #[serde(default = "default_idle")]
    pub idle_seconds: u64,
    /// TLS: the certificate chain and key (PEM); with `client_ca`, clients must present a
    /// certificate it signed (mutual TLS).
    pub certificate: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
}

fn default_max_message() -> usize {
    64 * 1024
}
fn default_connections() -> usize {
    1024
}
fn default_idle() -> u64 {
    300
}

/// A config that cannot be used: the file and, where known, the line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: file.clone(),
            source,
        })?;
        Config::parse(&file, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            file: file.to_string(),
            message,
        };
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().to_string();
            invalid(match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            })
        })?;
        if config.store.db.is_some() == config.store.database_url.is_some() {
            return Err(invalid(
                "[store]: give exactly one of db (a SQLite file) and database_url".into(),
            ));
        }
        if let Some(server) = &config.server {
            if server.certificate.is_some() != server.key.is_some() {
                return Err(invalid(
                    "[server]: give both certificate and key, or neither".into(),
                ));
            }
            if server.certificate.is_none()
                && !server.address.ip().is_loopback()
                && !server.behind_proxy
            {
                return Err(invalid(format!(
                    "[server]: {} is beyond loopback: give a certificate and key, or behind_proxy = true \
                     when a TLS-terminating proxy is in front",
                    server.address
                )));
            }
        }
        if !config.hunt.is_empty() && config.lake.is_none() {
            return Err(invalid(
                "[[hunt]]: scheduled hunts read the lake: add a [lake]".into(),
            ));
        }
        for hunt in &config.hunt {
            if hunt.number == 0 {
                return Err(invalid(format!(
                    "[[hunt]] {}: number counts from 1",
                    hunt.name
                )));
            }
            if let Err(e) = hunt.look_back.parse::<secops_rules::Duration>() {
                return Err(invalid(format!("[[hunt]] {}: look_back: {e}", hunt.name)));
            }
        }
        if let Some(bus) = &config.bus {
            if !is_token(&config.name) {
                return Err(invalid(format!(
                    "[bus]: name {:?} (the process's name, a subject token on the bus) may hold \
                     only letters, digits, - and _",
                    config.name
                )));
            }
            for (what, value) in [("name", &bus.name), ("prefix", &bus.prefix)] {
                if !is_token(value) {
                    return Err(invalid(format!(
                        "[bus]: {what} {value:?} may hold only letters, digits, - and _"
                    )));
                }
            }
            if !(1..=1024).contains(&bus.partitions) {
                return Err(invalid("[bus]: partitions from 1 to 1024".into()));
            }
            if bus.servers.is_empty() {
                return Err(invalid("[bus]: servers names no server".into()));
            }
            if bus.frame_events == 0 {
                return Err(invalid("[bus]: frame_events must be at least 1".into()));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, listen) in config.listen.iter().enumerate() {
            let which = format!("[[listen]] {} ({})", i + 1, listen.kind.as_str());
            let needs_address = listen.kind != Kind::Tail;
            if needs_address && listen.address.is_none() {
                return Err(invalid(format!("{which}: needs an address")));
            }
            if !needs_address && listen.path.is_none() {
                return Err(invalid(format!("{which}: needs a path")));
            }
            if listen.kind == Kind::SyslogTls
                && (listen.certificate.is_none() || listen.key.is_none())
            {
                return Err(invalid(format!("{which}: needs a certificate and a key")));
            }
            if let Some(format) = &listen.format {
                if secops_ingest::FORMATS
                    .iter()
                    .all(|f| f.format.name() != format)
                {
                    return Err(invalid(format!("{which}: format {format:?} unknown")));
                }
            }
            if let Some(zone) = &listen.timezone {
                secops_ingest::Zone::parse(zone)
                    .map_err(|e| invalid(format!("{which}: timezone: {e}")))?;
            }
            if let Some(label) = &listen.encoding {
                if encoding_rs::Encoding::for_label(label.as_bytes()).is_none() {
                    return Err(invalid(format!("{which}: encoding {label:?} unknown")));
                }
            }
            for allowed in &listen.allow {
                parse_allowed(allowed).map_err(|e| invalid(format!("{which}: allow: {e}")))?;
            }
            if !names.insert(listen.display_name()) {
                return Err(invalid(format!(
                    "{which}: the name {:?} is taken by another listener",
                    listen.display_name()
                )));
            }
        }
        Ok(config)
    }

    /// Where journals and the status live.
    pub fn state_dir(&self, config_file: &Path) -> PathBuf {
        match &self.state_dir {
            Some(dir) if dir.is_absolute() => dir.clone(),
            Some(dir) => config_file.parent().unwrap_or(Path::new(".")).join(dir),
            None => config_file
                .parent()
                .unwrap_or(Path::new("."))
                .join("secops-state"),
        }
    }
}

impl Listen {
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        match (&self.address, &self.path) {
            (Some(address), _) => format!("{}://{address}", self.kind.as_str()),
            (None, Some(path)) => format!("tail:{}", path.display()),
            (None, None) => self.kind.as_str().to_string(),
        }
    }

    /// The folder name of its journal: the name with anything but letters, digits, `-` and `_`
    /// replaced.
    pub fn journal_name(&self) -> String {
        self.display_name()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// The zone of RFC 3164 times (checked when the file was read).
    pub fn zone(&self) -> Option<secops_ingest::Zone> {
        self.timezone
            .as_deref()
            .and_then(|z| secops_ingest::Zone::parse(z).ok())
    }

    /// The messages' encoding when not UTF-8 (checked when the file was read).
    pub fn decoder(&self) -> Option<&'static encoding_rs::Encoding> {
        self.encoding
            .as_deref()
            .and_then(|l| encoding_rs::Encoding::for_label(l.as_bytes()))
            .filter(|e| *e != encoding_rs::UTF_8)
    }

    /// The senders allowed, parsed (checked when the file was read).
    pub fn allowed(&self) -> Vec<(IpAddr, u8)> {
        self.allow
            .iter()
            .filter_map(|a| parse_allowed(a).ok())
            .collect()
    }
}

/// An address or CIDR block.
pub fn parse_allowed(text: &str) -> Result<(IpAddr, u8), String> {
    let (address, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    };
    let ip: IpAddr = address
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not an address or CIDR block"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        Some(b) => b
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|b| *b <= max)
            .ok_or_else(|| format!("{text:?}: prefix length"))?,
        None => max,
    };
    Ok((ip, bits))
}

/// Whether `ip` is in one of the blocks (an IPv4-mapped IPv6 address counts as its IPv4 address).
pub fn allowed(blocks: &[(IpAddr, u8)], ip: IpAddr) -> bool {
    if blocks.is_empty() {
        return true;
    }
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    blocks.iter().any(|&(block, bits)| match (block, ip) {
        (IpAddr::V4(b), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(b) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(b), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(b) & mask == u128::from(a) & mask
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_key_names_its_line() {
        let text = "[store]\ndb = \"x.db\"\n\n[[listen]]\nkind = \"syslog-udp\"\naddres = \"127.0.0.1:1\"\n";
        let e = Config::parse("secops.toml", text).unwrap_err().to_string();
        assert!(
            e.starts_with("secops.toml: line 6: unknown field `addres`"),
            "{e}"
        );
        let e = Config::parse(
            "s.toml",
            "[store]\n[[listen]]\nkind = \"tail\"\npath = \"a\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("exactly one of db"), "{e}");
    }

    #[test]
    fn the_shipped_example_is_a_valid_config() {
        let text = include_str!("../../../etc/secops.example.toml");
        let config = Config::parse("etc/secops.example.toml", text).unwrap();
        assert_eq!(config.listen.len(), 5);
        assert!(config.metrics.is_some() && config.lake.is_some() && config.server.is_some());
        assert_eq!(config.hunt.len(), 1);
    }

    #[test]
    fn allowed_blocks() {
        let blocks = vec![
            parse_allowed("10.0.0.0/8").unwrap(),
            parse_allowed("::1").unwrap(),
        ];
        assert!(allowed(&blocks, "10.2.3.4".parse().unwrap()));
        assert!(allowed(&blocks, "::ffff:10.2.3.4".parse().unwrap()));
        assert!(allowed(&blocks, "::1".parse().unwrap()));
        assert!(!allowed(&blocks, "11.0.0.1".parse().unwrap()));
        assert!(allowed(&[], "11.0.0.1".parse().unwrap()));
        assert!(parse_allowed("10.0.0.0/33").is_err());
    }
}

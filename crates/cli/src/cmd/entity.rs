//! `secops entity ...`: the asset and identity inventory checked, and what a host, user or address
//! resolves to, with the evidence for each mapping and when it held.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use secops_entity::{Claim, Resolver, UserForm, UserName};
use secops_service::entities::{learn, load_inventories, Learned};

use crate::output::safe;
use crate::Outcome;

#[derive(Debug, clap::Subcommand)]
pub enum Entity {
    /// Check an inventory (TOML or CSV files of hosts, users, networks; a folder of them), checked
    /// as one: every problem with its file and line.
    Check {
        /// Inventory files or folders.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// What a host name, user spelling or address resolves to, from the inventory and the logs, with
    /// the evidence of each mapping and when it held.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Host names, user spellings (`CORP\alice`, `alice@corp.example`) or addresses.
    #[arg(required = true)]
    names: Vec<String>,
    /// The asset and identity inventory: a TOML or CSV file, or a folder of them (default:
    /// $SECOPS_INVENTORY, else none).
    #[arg(long)]
    inventory: Option<PathBuf>,
    /// Logs to learn from (DHCP leases, Windows logons, Kerberos and NTLM authentications).
    #[arg(long = "logs")]
    logs: Vec<String>,
    /// Year of the first line of syslog files without years.
    #[arg(long)]
    year: Option<i32>,
    /// Also say which host held each address at this time (RFC 3339), and take risk scores then.
    #[arg(long)]
    at: Option<String>,
    /// A store to read hosts' and users' risk from (what `detect --risk` recorded).
    #[command(flatten)]
    store: crate::store::StoreArgs,
}

pub fn run(command: Entity) -> anyhow::Result<Outcome> {
    match command {
        Entity::Check { files } => match load_inventories(&files) {
            Ok(inventory) => {
                let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                println!(
                    "{}: {} host(s), {} user(s), {} network(s)",
                    safe(&names.join(", ")),
                    inventory.hosts.len(),
                    inventory.users.len(),
                    inventory.networks.len()
                );
                Ok(Outcome::Clean)
            }
            Err(secops_service::ServiceError::Inventory(errors)) => {
                for e in &errors {
                    println!("{}", safe(&e.to_string()));
                }
                eprintln!("{} problem(s)", errors.len());
                Ok(Outcome::Failures)
            }
            Err(other) => Err(other.into()),
        },
        Entity::Show(args) => show(args),
    }
}

fn show(args: ShowArgs) -> anyhow::Result<Outcome> {
    let inventory = args
        .inventory
        .clone()
        .or_else(|| std::env::var_os("SECOPS_INVENTORY").map(PathBuf::from));
    let (inputs, errors) = secops_ingest::expand(&args.logs);
    if let Some(e) = errors.first() {
        anyhow::bail!("{e}");
    }
    let at = args
        .at
        .as_deref()
        .map(|t| {
            secops_event::Timestamp::parse_rfc3339(t)
                .map(|t| t.unix_nanos())
                .map_err(|e| anyhow::anyhow!("--at {t:?}: {e}"))
        })
        .transpose()?;
    let options = secops_ingest::Options {
        year: args.year,
        ..secops_ingest::Options::default()
    };
    let learned = learn(inventory.as_deref(), &inputs, &options)?;
    let mut store = if args.store.db.is_some() || args.store.database_url.is_some() {
        Some(args.store.open_existing()?)
    } else {
        None
    };
    let mut out = String::new();
    for name in &args.names {
        out.push_str(&describe(&learned.resolver, name, at));
        if let (Some(store), Some((kind, id))) =
            (store.as_mut(), entity_of(&learned.resolver, name))
        {
            out.push_str(&risk_line(store, kind, &id, at)?);
        }
    }
    print!("{out}");
    report(&learned);
    Ok(if learned.rejected > 0 || !learned.unreadable.is_empty() {
        Outcome::Rejections
    } else {
        Outcome::Clean
    })
}

fn report(learned: &Learned) {
    for e in &learned.unreadable {
        eprintln!("skipped: {}", safe(e));
    }
    if let Some(problem) = &learned.problem {
        eprintln!("warning: {}", safe(problem));
    }
    eprintln!(
        "learned from {} event(s) in {} input(s), {} carrying evidence; {} record(s) rejected",
        learned.events, learned.inputs, learned.evidence, learned.rejected
    );
}

/// The host or user a name shows as, for its stored risk.
fn entity_of(resolver: &Resolver, name: &str) -> Option<(&'static str, String)> {
    if name.trim().parse::<IpAddr>().is_ok() {
        return None;
    }
    let user = UserName::parse(name)?;
    if resolver.known_user(&user).is_some()
        || (user.form != UserForm::Bare && resolver.known_host(name).is_none())
    {
        return Some(("user", resolver.user(&user)));
    }
    resolver.host(name).map(|id| ("host", id))
}

/// The stored risk of an entity, as one line.
fn risk_line(
    store: &mut secops_store::Store,
    kind: &'static str,
    id: &str,
    at: Option<i64>,
) -> anyhow::Result<String> {
    let model = secops_entity::RiskModel::default();
    Ok(
        match secops_service::entities::stored_risk(store, kind, id, at, &model)? {
            None => "  risk         none recorded\n".to_string(),
            Some(r) => {
                let top: Vec<String> = r
                    .rules
                    .iter()
                    .take(3)
                    .map(|(rule, points)| format!("{} {points:.1}", safe(rule)))
                    .collect();
                // A host's open vulnerabilities stand in the score while they are open.
                let standing = r
                    .vulnerabilities
                    .as_ref()
                    .map(|v| format!("; {:.1} standing from {}", v.points, safe(&v.rule)))
                    .unwrap_or_default();
                format!(
                    "  risk         {:.1} at {} from {} alert(s) (halving every 24 h; {}){standing}\n",
                    r.score,
                    time(r.at),
                    r.alerts,
                    top.join(", ")
                )
            }
        },
    )
}

fn time(nanos: i64) -> String {
    crate::output::time(nanos)
}

fn window(claim: &Claim) -> String {
    let end = |t: Option<i64>, open: &str| t.map_or_else(|| open.to_string(), time);
    let open_end = if claim.evidence.kind == secops_entity::EvidenceKind::Inventory {
        "no end"
    } else {
        "until another claim"
    };
    format!(
        "{} .. {}",
        end(claim.from, "always"),
        end(claim.until, open_end)
    )
}

fn seen(resolver: &Resolver, id: &str, out: &mut String) {
    if let Some((first, last)) = resolver.times(id) {
        let _ = writeln!(out, "  seen         {} .. {}", time(first), time(last));
    }
}

/// One entity, whole.
fn describe(resolver: &Resolver, name: &str, at: Option<i64>) -> String {
    let mut out = String::new();
    if let Ok(ip) = name.trim().parse::<IpAddr>() {
        let _ = writeln!(out, "address {ip}");
        if let Some(net) = resolver.inventory().network_of(ip) {
            let _ = writeln!(
                out,
                "  network      {} {} (exposure {}, criticality {}; inventory {})",
                safe(&net.name),
                safe(&net.text),
                net.exposure.as_str(),
                net.criticality.as_str(),
                safe(&net.place.short())
            );
        }
        let claims = resolver.claims(ip);
        if claims.is_empty() {
            let _ = writeln!(out, "  held by      no host known");
        }
        for c in claims {
            let _ = writeln!(
                out,
                "  held by      {}  {}  {} ({})",
                safe(&c.host),
                window(c),
                c.evidence.kind.as_str(),
                safe(&c.evidence.source)
            );
        }
        if let Some(at) = at {
            let holder = resolver
                .host_of_ip(ip, at)
                .map_or_else(|| "no host".to_string(), |c| safe(&c.host).into_owned());
            let _ = writeln!(out, "  at {}  {holder}", time(at));
        }
        return out;
    }
    let user = UserName::parse(name);
    let known_user = user.as_ref().and_then(|u| resolver.known_user(u));
    let looks_like_user = user.as_ref().is_some_and(|u| u.form != UserForm::Bare);
    if known_user.is_some() || (looks_like_user && resolver.known_host(name).is_none()) {
        let Some(user) = user else {
            return out;
        };
        let id = resolver.user(&user);
        match known_user {
            Some(u) => {
                let _ = writeln!(
                    out,
                    "user {} (inventory {})",
                    safe(&u.id),
                    safe(&u.place.short())
                );
                let _ = writeln!(out, "  aliases      {}", safe(&u.aliases.join(", ")));
                let _ = writeln!(
                    out,
                    "  criticality  {}  vip {}",
                    u.criticality.as_str(),
                    if u.vip { "yes" } else { "no" }
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "user {} (not in the inventory: only this spelling)",
                    safe(&id)
                );
            }
        }
        for s in resolver.seen_of(&id) {
            let _ = writeln!(
                out,
                "  worked from  {}  {}  {} ({})",
                safe(&s.from),
                time(s.evidence.at),
                s.evidence.kind.as_str(),
                safe(&s.evidence.source)
            );
        }
        seen(resolver, &id, &mut out);
        return out;
    }
    let Some(id) = resolver.host(name) else {
        let _ = writeln!(out, "{}: not a host name, user or address", safe(name));
        return out;
    };
    if resolver.known_host(name).is_none() && resolver.claims_of(&id).is_empty() {
        // A bare name nothing vouches for: as a host, or as a user spelling of its own.
        let as_user = user.map(|u| resolver.user(&u)).unwrap_or_default();
        let _ = writeln!(
            out,
            "name {}: in neither the inventory's hosts nor its users (as a host: {}; as a user: {}, \
             only this spelling)",
            safe(name),
            safe(&id),
            safe(&as_user)
        );
        seen(resolver, &id, &mut out);
        if as_user != id {
            seen(resolver, &as_user, &mut out);
        }
        return out;
    }
    match resolver.known_host(name) {
        Some(h) => {
            let _ = writeln!(
                out,
                "host {} (inventory {})",
                safe(&h.id),
                safe(&h.place.short())
            );
            if !h.names.is_empty() {
                let _ = writeln!(out, "  names        {}", safe(&h.names.join(", ")));
            }
            let _ = writeln!(
                out,
                "  criticality  {}  exposure {}  vip {}",
                h.criticality.as_str(),
                h.exposure.as_str(),
                if h.vip { "yes" } else { "no" }
            );
            if let Some(owner) = &h.owner {
                let _ = writeln!(out, "  owner        {}", safe(owner));
            }
            if !h.tags.is_empty() {
                let _ = writeln!(out, "  tags         {}", safe(&h.tags.join(", ")));
            }
        }
        None => {
            let _ = writeln!(
                out,
                "host {} (not in the inventory; named by its first label)",
                safe(&id)
            );
        }
    }
    for (ip, c) in resolver.claims_of(&id) {
        let _ = writeln!(
            out,
            "  address      {ip}  {}  {} ({})",
            window(c),
            c.evidence.kind.as_str(),
            safe(&c.evidence.source)
        );
    }
    seen(resolver, &id, &mut out);
    out
}

//! `secops user ...`, `secops key ...` and `secops role list`: who may use the server, with which
//! role, and the API keys programs use. Passwords come from a prompt (not echoed) or, with
//! `--password-stdin`, the first line of standard input; a key is printed once, when made.

use std::io::BufRead;
use std::path::PathBuf;

use secops_auth::Roles;
use secops_event::Timestamp;

use crate::output::safe;
use crate::Outcome;

/// Where custom roles come from.
#[derive(Debug, Clone, clap::Args)]
pub struct RolesArgs {
    /// A roles file (TOML, custom roles by inheritance; default: $SECOPS_ROLES, else the built-in
    /// roles alone).
    #[arg(long, global = true)]
    roles: Option<PathBuf>,
}

impl RolesArgs {
    pub fn load(&self) -> anyhow::Result<Roles> {
        let path = self
            .roles
            .clone()
            .or_else(|| std::env::var_os("SECOPS_ROLES").map(PathBuf::from));
        match path {
            None => Ok(Roles::built_in()),
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                Roles::with_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct UserArgs {
    #[command(flatten)]
    store: crate::store::StoreArgs,
    #[command(flatten)]
    roles: RolesArgs,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, clap::Subcommand)]
enum UserCommand {
    /// Add a user (the first admin: `secops user add NAME --role admin`).
    Add {
        name: String,
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Read the password from the first line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Every user: role, state, last login.
    List,
    /// Set a user's password (and lift a lockout).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Give a user another role.
    Role { name: String, role: String },
    /// Stop a user signing in.
    Disable { name: String },
    /// Let a disabled user sign in again.
    Enable { name: String },
    /// Set up a one-time password (TOTP) for a user: the secret and its otpauth:// URI are printed,
    /// then a code from the authenticator is read (a prompt, or the first line of standard input)
    /// to turn it on; from then on signing in also needs a code. `--reset` turns it off.
    Totp {
        name: String,
        #[arg(long)]
        reset: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    #[command(flatten)]
    store: crate::store::StoreArgs,
    #[command(flatten)]
    roles: RolesArgs,
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum KeyCommand {
    /// Make an API key acting with a role; the key is printed once.
    Create {
        /// What the key is for (`soar`, `shipper-web1`).
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "viewer")]
        role: String,
        /// The user responsible for it (default: $SECOPS_USER, else $USER).
        #[arg(long)]
        owner: Option<String>,
        /// Expires after this long (`90d`; default: never).
        #[arg(long)]
        expires: Option<String>,
    },
    /// Every key: id, name, role, owner, expiry, revocation, last use.
    List,
    /// Revoke a key by its id (the 8 hex digits after `secops_`): it stops working at once.
    Revoke { id: String },
}

/// The roles and what they may do.
#[derive(Debug, clap::Args)]
pub struct RoleArgs {
    #[command(flatten)]
    roles: RolesArgs,
}

fn now() -> i64 {
    Timestamp::now().unix_nanos()
}

fn time(nanos: Option<i64>) -> String {
    nanos.map_or("-".into(), |n| Timestamp::from_unix_nanos(n).to_seconds())
}

/// A new password: the first line of standard input, or typed twice at a prompt that does not echo.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    let first = rpassword::prompt_password("password: ")?;
    let again = rpassword::prompt_password("again: ")?;
    if first != again {
        anyhow::bail!("the two passwords differ");
    }
    Ok(first)
}

/// The store, its audit key (made on first use) and who acts: every change these commands make is
/// audited.
fn open(
    args: &crate::store::StoreArgs,
) -> anyhow::Result<(secops_store::Store, secops_store::AuditKey, String)> {
    let store = args.open()?;
    Ok((store, args.audit_key()?, crate::store::actor(None).name))
}

pub fn user(args: UserArgs) -> anyhow::Result<Outcome> {
    let roles = args.roles.load()?;
    let (mut store, key, actor) = open(&args.store)?;
    let audit = secops_service::users::AuditContext {
        key: &key,
        actor: &actor,
        source: "cli",
    };
    let audit = Some(&audit);
    let state = |u: &secops_store::UserRecord| {
        if u.disabled {
            "disabled".to_string()
        } else if u.locked_until.is_some_and(|l| l > now()) {
            format!("locked until {}", time(u.locked_until))
        } else {
            "active".to_string()
        }
    };
    match args.command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let user = secops_service::users::add_user(
                &mut store,
                &roles,
                &name,
                &role,
                &password,
                now(),
                audit,
            )?;
            println!("user {} added, role {}", safe(&user.name), safe(&user.role));
        }
        UserCommand::List => {
            let users = store.users()?;
            println!(
                "{:<24}  {:<10}  {:<30}  LAST LOGIN",
                "USER", "ROLE", "STATE"
            );
            for u in &users {
                println!(
                    "{:<24}  {:<10}  {:<30}  {}",
                    safe(&u.name),
                    safe(&u.role),
                    state(u),
                    time(u.last_login)
                );
            }
            println!("{} user(s)", users.len());
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            secops_service::users::set_password(&mut store, &name, &password, now(), audit)?;
            println!("password of {} set", safe(&name));
        }
        UserCommand::Role { name, role } => {
            let user =
                secops_service::users::set_role(&mut store, &roles, &name, &role, now(), audit)?;
            println!("{} now has the role {}", safe(&user.name), safe(&user.role));
        }
        UserCommand::Disable { name } => {
            secops_service::users::set_disabled(&mut store, &name, true, now(), audit)?;
            println!("{} disabled", safe(&name));
        }
        UserCommand::Enable { name } => {
            secops_service::users::set_disabled(&mut store, &name, false, now(), audit)?;
            println!("{} enabled", safe(&name));
        }
        UserCommand::Totp { name, reset: true } => {
            secops_service::users::reset_totp(&mut store, &name, now(), audit)?;
            println!("one-time password of {} turned off", safe(&name));
        }
        UserCommand::Totp { name, reset: false } => {
            let secret = secops_service::users::begin_totp(&mut store, &name, now(), audit)?;
            println!("secret: {}", secret.base32());
            println!("uri: {}", secret.uri("secops", &name));
            use std::io::Write as _;
            print!("code from the authenticator: ");
            std::io::stdout().flush()?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            secops_service::users::confirm_totp(&mut store, &name, line.trim(), now(), audit)?;
            println!("\none-time password of {} turned on", safe(&name));
        }
    }
    Ok(Outcome::Clean)
}

pub fn key(args: KeyArgs) -> anyhow::Result<Outcome> {
    let roles = args.roles.load()?;
    let (mut store, key, actor) = open(&args.store)?;
    let audit = secops_service::users::AuditContext {
        key: &key,
        actor: &actor,
        source: "cli",
    };
    let audit = Some(&audit);
    match args.command {
        KeyCommand::Create {
            name,
            role,
            owner,
            expires,
        } => {
            let expires_at = match expires {
                Some(text) => {
                    let d: secops_rules::Duration = text
                        .parse()
                        .map_err(|e| anyhow::anyhow!("--expires: {e}"))?;
                    Some(now().saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)))
                }
                None => None,
            };
            let owner = owner.unwrap_or_else(|| crate::store::actor(None).name);
            let new = secops_service::users::NewKey {
                name: &name,
                role: &role,
                owner: &owner,
                expires_at,
            };
            let (key, text) =
                secops_service::users::create_key(&mut store, &roles, &new, now(), audit)?;
            println!("{text}");
            eprintln!(
                "API key {} ({}, role {}, expires {}): keep it now, it is not shown again",
                key.key_id,
                safe(&key.name),
                safe(&key.role),
                time(key.expires_at)
            );
        }
        KeyCommand::List => {
            let keys = store.api_keys()?;
            println!(
                "{:<8}  {:<16}  {:<10}  {:<12}  {:<20}  {:<20}  LAST USE",
                "ID", "NAME", "ROLE", "OWNER", "EXPIRES", "REVOKED"
            );
            for k in &keys {
                println!(
                    "{:<8}  {:<16}  {:<10}  {:<12}  {:<20}  {:<20}  {}{}",
                    k.key_id,
                    safe(&k.name),
                    safe(&k.role),
                    safe(&k.owner),
                    time(k.expires_at),
                    time(k.revoked_at),
                    time(k.last_used_at),
                    k.last_used_from
                        .as_deref()
                        .map(|f| format!(" from {}", safe(f)))
                        .unwrap_or_default()
                );
            }
            println!("{} key(s)", keys.len());
        }
        KeyCommand::Revoke { id } => {
            let key = secops_service::users::revoke_key(&mut store, id.trim(), now(), audit)?;
            println!("API key {} ({}) revoked", key.key_id, safe(&key.name));
        }
    }
    Ok(Outcome::Clean)
}

pub fn role(args: RoleArgs) -> anyhow::Result<Outcome> {
    let roles = args.roles.load()?;
    for r in roles.all() {
        let permissions: Vec<&str> = r.permissions.iter().map(|p| p.as_str()).collect();
        println!(
            "{}{}: {}",
            safe(&r.name),
            if r.built_in { "" } else { " (custom)" },
            safe(&r.description)
        );
        println!("  {}", permissions.join(" "));
    }
    println!(
        "{} role(s); permissions: {}",
        roles.all().len(),
        secops_auth::PERMISSIONS
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(Outcome::Clean)
}

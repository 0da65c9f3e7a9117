//! Permissions and roles. A permission is one `resource:action`; a role is a set of them, built in or
//! written in TOML:
//!
//! ```toml
//! [role.tier1]
//! inherits = ["viewer"]
//! permissions = ["alerts:triage"]
//! ```
//!
//! A custom role may inherit from built-in and custom roles (cycles are an error) and add permissions;
//! a permission or a role that does not exist is an error naming the role.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

/// One permission: what a route, a command or a service operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission(&'static str);

impl Permission {
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The permission named `text` (`alerts:read`), if there is one.
    pub fn parse(text: &str) -> Option<Permission> {
        PERMISSIONS.iter().copied().find(|p| p.0 == text.trim())
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

pub const ALERTS_READ: Permission = Permission("alerts:read");
pub const ALERTS_TRIAGE: Permission = Permission("alerts:triage");
pub const CASES_READ: Permission = Permission("cases:read");
pub const CASES_WRITE: Permission = Permission("cases:write");
pub const CASES_CLOSE: Permission = Permission("cases:close");
pub const RULES_READ: Permission = Permission("rules:read");
pub const RULES_WRITE: Permission = Permission("rules:write");
pub const HUNTS_RUN: Permission = Permission("hunts:run");
pub const HUNTS_SAVE: Permission = Permission("hunts:save");
pub const INTEL_READ: Permission = Permission("intel:read");
pub const INTEL_WRITE: Permission = Permission("intel:write");
pub const RESPONSES_REQUEST: Permission = Permission("responses:request");
pub const RESPONSES_APPROVE: Permission = Permission("responses:approve");
pub const VULNS_READ: Permission = Permission("vulns:read");
pub const VULNS_ACCEPT: Permission = Permission("vulns:accept");
pub const USERS_ADMIN: Permission = Permission("users:admin");
pub const AUDIT_READ: Permission = Permission("audit:read");
/// Sending events to `secops run`'s HTTP ingest.
pub const EVENTS_WRITE: Permission = Permission("events:write");

/// Every permission, in the order they are listed.
pub const PERMISSIONS: &[Permission] = &[
    ALERTS_READ,
    ALERTS_TRIAGE,
    CASES_READ,
    CASES_WRITE,
    CASES_CLOSE,
    RULES_READ,
    RULES_WRITE,
    HUNTS_RUN,
    HUNTS_SAVE,
    INTEL_READ,
    INTEL_WRITE,
    RESPONSES_REQUEST,
    RESPONSES_APPROVE,
    VULNS_READ,
    VULNS_ACCEPT,
    USERS_ADMIN,
    AUDIT_READ,
    EVENTS_WRITE,
];

/// The built-in roles: each builds on the role it names (none for viewer; admin holds every
/// permission) and adds its own.
const BUILT_IN: &[(&str, &str, Option<&str>, &[Permission])] = &[
    (
        "viewer",
        "reads alerts, cases, rules, intelligence and vulnerabilities",
        None,
        &[ALERTS_READ, CASES_READ, RULES_READ, INTEL_READ, VULNS_READ],
    ),
    (
        "analyst",
        "a viewer who triages alerts, works cases and runs hunts",
        Some("viewer"),
        &[ALERTS_TRIAGE, CASES_WRITE, HUNTS_RUN],
    ),
    (
        "responder",
        "an analyst who closes cases, saves hunts, requests and approves responses (another's request, never their own) and accepts vulnerability risk",
        Some("analyst"),
        &[
            CASES_CLOSE,
            HUNTS_SAVE,
            RESPONSES_REQUEST,
            RESPONSES_APPROVE,
            VULNS_ACCEPT,
        ],
    ),
    (
        "engineer",
        "a viewer who writes rules, hunts and intelligence",
        Some("viewer"),
        &[RULES_WRITE, HUNTS_RUN, HUNTS_SAVE, INTEL_WRITE],
    ),
    (
        "auditor",
        "reads everything, the audit log included, and changes nothing",
        Some("viewer"),
        &[AUDIT_READ],
    ),
    (
        "shipper",
        "a program that sends events to HTTP ingest, and nothing else",
        None,
        &[EVENTS_WRITE],
    ),
    ("admin", "every permission", None, PERMISSIONS),
];

/// Why a roles file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("roles file: {0}")]
    Syntax(String),
    #[error("role {role}: no permission {permission:?} (`secops role list` shows them)")]
    UnknownPermission { role: String, permission: String },
    #[error("role {role}: inherits from {parent:?}, which is no role")]
    UnknownParent { role: String, parent: String },
    #[error("role {role}: inherits from itself through {through}")]
    Cycle { role: String, through: String },
    #[error("role {0}: a built-in role cannot be redefined")]
    BuiltIn(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesFile {
    #[serde(default)]
    role: BTreeMap<String, RoleEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleEntry {
    #[serde(default)]
    description: String,
    #[serde(default)]
    inherits: Vec<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

/// A role: its name, what it is for, its permissions (inherited ones included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub description: String,
    pub built_in: bool,
    pub permissions: BTreeSet<Permission>,
}

/// The roles a server knows: the built-in ones and any read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles {
    roles: Vec<Role>,
}

impl Default for Roles {
    fn default() -> Self {
        Roles::built_in()
    }
}

impl Roles {
    /// viewer, analyst, responder, engineer, auditor, admin.
    pub fn built_in() -> Roles {
        let mut roles = Roles { roles: Vec::new() };
        for (name, description, parent, own) in BUILT_IN {
            let mut permissions: BTreeSet<Permission> = own.iter().copied().collect();
            if let Some(parent) = parent.and_then(|p| roles.get(p)) {
                permissions.extend(parent.permissions.iter().copied());
            }
            roles.roles.push(Role {
                name: (*name).to_string(),
                description: (*description).to_string(),
                built_in: true,
                permissions,
            });
        }
        roles
    }

    /// The built-in roles and the custom roles of a roles file's text.
    pub fn with_file(text: &str) -> Result<Roles, RoleError> {
        let file: RolesFile = toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end().to_string();
            match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    RoleError::Syntax(format!("line {line}: {message}"))
                }
                None => RoleError::Syntax(message),
            }
        })?;
        let mut roles = Roles::built_in();
        for name in file.role.keys() {
            if roles.get(name).is_some() {
                return Err(RoleError::BuiltIn(name.clone()));
            }
        }
        // Resolved depth first; `visiting` finds cycles.
        fn resolve(
            name: &str,
            file: &RolesFile,
            roles: &mut Roles,
            visiting: &mut Vec<String>,
        ) -> Result<(), RoleError> {
            if roles.get(name).is_some() {
                return Ok(());
            }
            let Some(entry) = file.role.get(name) else {
                return Ok(());
            };
            if visiting.iter().any(|v| v == name) {
                return Err(RoleError::Cycle {
                    role: name.to_string(),
                    through: visiting.join(" -> "),
                });
            }
            visiting.push(name.to_string());
            let mut permissions = BTreeSet::new();
            for parent in &entry.inherits {
                if roles.get(parent).is_none() && !file.role.contains_key(parent) {
                    return Err(RoleError::UnknownParent {
                        role: name.to_string(),
                        parent: parent.clone(),
                    });
                }
                resolve(parent, file, roles, visiting)?;
                if let Some(p) = roles.get(parent) {
                    permissions.extend(p.permissions.iter().copied());
                }
            }
            for text in &entry.permissions {
                let permission =
                    Permission::parse(text).ok_or_else(|| RoleError::UnknownPermission {
                        role: name.to_string(),
                        permission: text.clone(),
                    })?;
                permissions.insert(permission);
            }
            visiting.pop();
            roles.roles.push(Role {
                name: name.to_string(),
                description: entry.description.clone(),
                built_in: false,
                permissions,
            });
            Ok(())
        }
        for name in file.role.keys() {
            resolve(name, &file, &mut roles, &mut Vec::new())?;
        }
        Ok(roles)
    }

    pub fn get(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.name == name)
    }

    pub fn all(&self) -> &[Role] {
        &self.roles
    }

    /// Whether `role` grants `permission` (a role that does not exist grants nothing).
    pub fn allows(&self, role: &str, permission: Permission) -> bool {
        self.get(role)
            .is_some_and(|r| r.permissions.contains(&permission))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_roles_grant_what_they_say() {
        let roles = Roles::built_in();
        assert!(roles.allows("viewer", ALERTS_READ));
        assert!(!roles.allows("viewer", ALERTS_TRIAGE));
        assert!(roles.allows("analyst", ALERTS_TRIAGE));
        assert!(!roles.allows("analyst", CASES_CLOSE));
        assert!(roles.allows("responder", CASES_CLOSE));
        assert!(roles.allows("engineer", RULES_WRITE));
        assert!(!roles.allows("engineer", ALERTS_TRIAGE));
        assert!(roles.allows("auditor", AUDIT_READ));
        assert!(!roles.allows("auditor", CASES_WRITE));
        assert!(PERMISSIONS.iter().all(|&p| roles.allows("admin", p)));
        // Only the auditor and the admin read the audit log; only the admin manages users.
        for role in ["viewer", "analyst", "responder", "engineer"] {
            assert!(!roles.allows(role, AUDIT_READ) && !roles.allows(role, USERS_ADMIN));
        }
        assert!(!roles.allows("nobody", ALERTS_READ));
    }

    #[test]
    fn custom_roles_inherit_and_add() {
        let roles = Roles::with_file(
            "[role.tier1]\ninherits = [\"viewer\"]\npermissions = [\"alerts:triage\"]\n\
             [role.lead]\ninherits = [\"tier1\", \"auditor\"]\npermissions = [\"cases:close\"]\n",
        )
        .unwrap();
        assert!(roles.allows("tier1", ALERTS_TRIAGE) && roles.allows("tier1", ALERTS_READ));
        assert!(!roles.allows("tier1", CASES_WRITE));
        assert!(roles.allows("lead", ALERTS_TRIAGE));
        assert!(roles.allows("lead", AUDIT_READ));
        assert!(roles.allows("lead", CASES_CLOSE));
    }

    #[test]
    fn a_bad_roles_file_names_the_role_and_the_reason() {
        let err = |text: &str| Roles::with_file(text).unwrap_err().to_string();
        assert_eq!(
            err("[role.x]\npermissions = [\"alerts:delete\"]\n"),
            "role x: no permission \"alerts:delete\" (`secops role list` shows them)"
        );
        assert_eq!(
            err("[role.x]\ninherits = [\"ghost\"]\n"),
            "role x: inherits from \"ghost\", which is no role"
        );
        assert!(
            err("[role.a]\ninherits = [\"b\"]\n[role.b]\ninherits = [\"a\"]\n")
                .contains("inherits from itself")
        );
        assert_eq!(
            err("[role.admin]\n"),
            "role admin: a built-in role cannot be redefined"
        );
        assert!(err("[role.x]\npermision = []\n").starts_with("roles file: line 2"));
    }
}

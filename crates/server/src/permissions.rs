//! Each route's permission, read from the OpenAPI document the routes are generated with, so what the
//! document says and what the server enforces cannot differ. An operation's `security` names the
//! permission as the requirement's scope (OpenAPI 3.1 allows scopes on any scheme: "a list of role
//! names which are required for the execution"); `[{}]` marks a public route; an empty scope list, a
//! route open to anyone signed in. An operation without `security` stops the server from starting.

use std::collections::HashMap;

use axum::http::Method;
use secops_auth::Permission;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Anyone signed in (their own profile and sessions).
    SignedIn,
    Needs(Permission),
}

#[derive(Debug, Default)]
pub struct RoutePermissions {
    routes: HashMap<(String, String), Access>,
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

impl RoutePermissions {
    /// Every operation's access; an error names an operation without one or with an unknown
    /// permission.
    pub fn from_openapi(doc: &serde_json::Value) -> Result<RoutePermissions, String> {
        let mut routes = HashMap::new();
        let paths = doc
            .get("paths")
            .and_then(|p| p.as_object())
            .ok_or("the OpenAPI document has no paths")?;
        for (path, item) in paths {
            for method in METHODS {
                let Some(operation) = item.get(*method) else {
                    continue;
                };
                let access = access_of(operation)
                    .map_err(|why| format!("{} {path}: {why}", method.to_uppercase()))?;
                routes.insert((method.to_string(), path.clone()), access);
            }
        }
        Ok(RoutePermissions { routes })
    }

    /// Adds a route the OpenAPI document does not describe (the console's pages); a route that is
    /// there already is an error.
    pub fn insert(&mut self, method: &str, path: &str, access: Access) -> Result<(), String> {
        let key = (method.to_ascii_lowercase(), path.to_string());
        if self.routes.contains_key(&key) {
            return Err(format!("{} {path}: declared twice", method.to_uppercase()));
        }
        self.routes.insert(key, access);
        Ok(())
    }

    /// The access of a route as the router matched it (`/api/v1/alerts/{id}`).
    pub fn get(&self, method: &Method, path: &str) -> Option<Access> {
        let method = method.as_str().to_ascii_lowercase();
        self.routes.get(&(method, path.to_string())).copied()
    }

    /// Every route and its access, sorted (for tests and `secops serve --routes`).
    pub fn all(&self) -> Vec<(String, String, Access)> {
        let mut all: Vec<_> = self
            .routes
            .iter()
            .map(|((m, p), a)| (m.to_uppercase(), p.clone(), *a))
            .collect();
        all.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        all
    }
}

fn access_of(operation: &serde_json::Value) -> Result<Access, String> {
    let Some(requirements) = operation.get("security").and_then(|s| s.as_array()) else {
        return Err("declares no permission (security)".into());
    };
    let mut scopes: Vec<&str> = Vec::new();
    let mut public = false;
    for requirement in requirements {
        let Some(schemes) = requirement.as_object() else {
            return Err("a security requirement that is not an object".into());
        };
        if schemes.is_empty() {
            public = true;
        }
        for scheme_scopes in schemes.values() {
            for scope in scheme_scopes.as_array().into_iter().flatten() {
                let scope = scope.as_str().ok_or("a scope that is not text")?;
                if !scopes.contains(&scope) {
                    scopes.push(scope);
                }
            }
        }
    }
    match (public, scopes.as_slice()) {
        (true, []) => Ok(Access::Public),
        (true, _) => Err("public and needing a permission at once".into()),
        (false, []) => Ok(Access::SignedIn),
        (false, [one]) => Permission::parse(one)
            .map(Access::Needs)
            .ok_or_else(|| format!("no permission {one:?}")),
        (false, many) => Err(format!("more than one permission: {many:?}")),
    }
}

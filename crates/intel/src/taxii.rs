//! A TAXII 2.1 client: discovery, API roots, collections, and a collection's objects page by page
//! (`limit` and `next` while the server says there is `more`), from `added_after` on. The last
//! `X-TAXII-Date-Added-Last` a pull saw is what the next pull passes as `added_after`.
//!
//! API roots are reached on the server the client was pointed at: discovery documents often name
//! their roots by a host name the server knows itself by, so only their paths are taken.

use std::time::Duration;

use serde_json::Value;

use crate::IntelError;

const MEDIA_TYPE: &str = "application/taxii+json;version=2.1";

/// A TAXII server.
#[derive(Debug)]
pub struct Client {
    origin: String,
    authorization: Option<String>,
    agent: ureq::Agent,
}

/// A collection as the server describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: String,
    pub title: String,
    pub can_read: bool,
}

/// What a pull brought.
#[derive(Debug, Clone, Default)]
pub struct Pulled {
    pub objects: Vec<Value>,
    pub pages: usize,
    /// The newest `date_added` the server reported, for the next `added_after`.
    pub added_last: Option<String>,
}

impl Client {
    /// A client for the server at `url` (`https://taxii.example/` or `http://127.0.0.1:5000`), with
    /// HTTP basic credentials when given.
    pub fn new(url: &str, credentials: Option<(&str, &str)>) -> Result<Client, IntelError> {
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(s, _)| matches!(*s, "http" | "https"))
            .ok_or_else(|| {
                IntelError::Invalid(format!("TAXII server {url:?}: use http:// or https://"))
            })?;
        let host = rest.split('/').next().unwrap_or("");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Client {
            origin: format!("{scheme}://{host}"),
            authorization: credentials.map(|(user, password)| {
                use base64::Engine;
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                )
            }),
            agent,
        })
    }

    /// GET a TAXII resource (a path on the server, or an absolute URL whose path is taken).
    fn get(&self, path_or_url: &str) -> Result<(Value, Option<String>), IntelError> {
        let path = match path_or_url.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]).to_string(),
            None => path_or_url.to_string(),
        };
        let url = format!("{}{path}", self.origin);
        let error = |message: String| IntelError::Source {
            origin: url.clone(),
            message,
        };
        let mut request = self.agent.get(&url).header("Accept", MEDIA_TYPE);
        if let Some(auth) = &self.authorization {
            request = request.header("Authorization", auth);
        }
        let mut response = request.call().map_err(|e| error(e.to_string()))?;
        let status = response.status();
        let added_last = response
            .headers()
            .get("X-TAXII-Date-Added-Last")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| error(e.to_string()))?;
        if !status.is_success() {
            let detail: String = body.chars().take(300).collect();
            return Err(error(format!("HTTP {status}: {detail}")));
        }
        let value = serde_json::from_str(&body).map_err(|e| error(format!("not JSON: {e}")))?;
        Ok((value, added_last))
    }

    /// The API roots the discovery document lists (as paths), default first.
    pub fn api_roots(&self) -> Result<Vec<String>, IntelError> {
        let (doc, _) = self.get("/taxii2/")?;
        let path = |u: &str| match u.split_once("://") {
            Some((_, rest)) => rest
                .find('/')
                .map_or("/".to_string(), |i| rest[i..].to_string()),
            None => u.to_string(),
        };
        let mut roots: Vec<String> = doc
            .get("api_roots")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(path)
            .collect();
        if let Some(default) = doc.get("default").and_then(Value::as_str).map(path) {
            roots.retain(|r| *r != default);
            roots.insert(0, default);
        }
        Ok(roots)
    }

    /// The collections of an API root.
    pub fn collections(&self, api_root: &str) -> Result<Vec<Collection>, IntelError> {
        let (doc, _) = self.get(&format!("{}/collections/", api_root.trim_end_matches('/')))?;
        Ok(doc
            .get("collections")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| Collection {
                id: c
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                title: c
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                can_read: c.get("can_read").and_then(Value::as_bool).unwrap_or(false),
            })
            .collect())
    }

    /// Every object of a collection added after `added_after`, `limit` per page.
    pub fn objects(
        &self,
        api_root: &str,
        collection: &str,
        added_after: Option<&str>,
        limit: u32,
    ) -> Result<Pulled, IntelError> {
        let base = format!(
            "{}/collections/{}/objects/",
            api_root.trim_end_matches('/'),
            encode(collection)
        );
        let mut pulled = Pulled::default();
        let mut next: Option<String> = None;
        loop {
            let mut query = vec![format!("limit={limit}")];
            if let Some(after) = added_after {
                query.push(format!("added_after={}", encode(after)));
            }
            if let Some(n) = &next {
                query.push(format!("next={}", encode(n)));
            }
            let (envelope, added_last) = self.get(&format!("{base}?{}", query.join("&")))?;
            pulled.pages += 1;
            if let Some(objects) = envelope.get("objects").and_then(Value::as_array) {
                pulled.objects.extend(objects.iter().cloned());
            }
            if added_last.is_some() {
                pulled.added_last = added_last;
            }
            let more = envelope
                .get("more")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            next = envelope
                .get("next")
                .and_then(Value::as_str)
                .map(str::to_string);
            if !more || next.is_none() {
                break;
            }
            if pulled.pages > 100_000 {
                return Err(IntelError::Invalid(
                    "the server keeps saying there is more: stopped after 100,000 pages".into(),
                ));
            }
        }
        Ok(pulled)
    }
}

/// Percent-encodes a query or path value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The body of an http(s) GET (a feed published at a URL), up to 512 MiB.
pub fn fetch(url: &str) -> Result<String, IntelError> {
    let bytes = fetch_bytes(url)?;
    String::from_utf8(bytes).map_err(|e| IntelError::Source {
        origin: format!("reading {url}"),
        message: format!("not UTF-8 text: {e}"),
    })
}

/// The body of an http(s) GET as bytes (a compressed file), up to 512 MiB.
pub fn fetch_bytes(url: &str) -> Result<Vec<u8>, IntelError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| IntelError::Source {
        origin: format!("{what} {url}"),
        message: e.to_string(),
    };
    let mut response = ureq::get(url).call().map_err(|e| failed("fetching", &e))?;
    response
        .body_mut()
        .with_config()
        .limit(512 * 1024 * 1024)
        .read_to_vec()
        .map_err(|e| failed("reading", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_percent_encoded_and_servers_named_by_origin() {
        assert_eq!(
            encode("2016-11-03T12:30:59.000Z"),
            "2016-11-03T12%3A30%3A59.000Z"
        );
        let c = Client::new("http://127.0.0.1:5000/taxii2/", Some(("u", "p"))).unwrap();
        assert_eq!(c.origin, "http://127.0.0.1:5000");
        assert_eq!(c.authorization.as_deref(), Some("Basic dTpw"));
        assert!(Client::new("ftp://x", None).is_err());
    }
}

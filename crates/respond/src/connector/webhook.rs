//! Outbound webhooks signed per Standard Webhooks (standardwebhooks.com): `webhook-id` (the run's
//! delivery id, the same on every retry, so a receiver dedupes), `webhook-timestamp` (Unix
//! seconds), `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`; a
//! `whsec_` secret's key is the base64 after the prefix. Slack-compatible incoming webhooks get
//! `{"text": …}` with every value defanged and escaped.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::{bounded, defang_for_chat, Failure, Prepare, Reply, Request};
use crate::secret::Secrets;
use crate::template::Template;
use crate::RespondError;

type HmacSha256 = Hmac<Sha256>;

fn key_of(secret: &str) -> Result<Vec<u8>, String> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => STANDARD
            .decode(b64)
            .map_err(|_| "a whsec_ secret whose key is not base64".to_string()),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// The `webhook-signature` value for a message.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    let mut mac = HmacSha256::new_from_slice(&key_of(secret)?).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Whether a `webhook-signature` header (several space-separated signatures during a secret's
/// rotation) holds a valid `v1` signature of the message, sent within five minutes of `now`.
pub fn verify(secret: &str, id: &str, timestamp: i64, body: &str, header: &str, now: i64) -> bool {
    if (now - timestamp).abs() > 300 {
        return false;
    }
    let Ok(key) = key_of(secret) else {
        return false;
    };
    header.split(' ').any(|sig| {
        let Some(b64) = sig.strip_prefix("v1,") else {
            return false;
        };
        let Ok(given) = STANDARD.decode(b64) else {
            return false;
        };
        let Ok(mut mac) = HmacSha256::new_from_slice(&key) else {
            return false;
        };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        mac.verify_slice(&given).is_ok()
    })
}

pub(super) fn prepare(
    p: &Prepare<'_>,
    url: Option<&str>,
    url_secret: Option<&str>,
    signing_secret: Option<&str>,
    extra: &BTreeMap<String, String>,
) -> Result<Request, RespondError> {
    let params = p.action.render_params(p.context, None)?;
    let run = p.context.get("run").cloned().unwrap_or(Value::Null);
    let body = json!({
        "type": format!("secops.response.{}", p.operation.as_str()),
        "timestamp": p.at_unix,
        "data": {
            "delivery": p.delivery_id,
            "action": p.action.id,
            "action_name": p.action.name,
            "operation": p.operation.as_str(),
            "target": {"kind": p.target.kind.as_str(), "value": p.target.value},
            "params": params,
            "run": run,
        }
    })
    .to_string();
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("webhook-id".to_string(), p.delivery_id.to_string()),
        ("webhook-timestamp".to_string(), p.at_unix.to_string()),
    ];
    if let Some(name) = signing_secret {
        let secret = p.secrets.get(name).ok_or_else(|| {
            RespondError::Refused(format!(
                "the signing secret {name:?} is not in the secrets file"
            ))
        })?;
        let signature = sign(secret, p.delivery_id, p.at_unix, &body)
            .map_err(|m| RespondError::Refused(format!("signing secret {name:?}: {m}")))?;
        headers.push(("webhook-signature".to_string(), signature));
    }
    for (k, v) in extra {
        headers.push((k.to_ascii_lowercase(), v.clone()));
    }
    Ok(http(url, url_secret, headers, body))
}

fn http(
    url: Option<&str>,
    url_secret: Option<&str>,
    headers: Vec<(String, String)>,
    body: String,
) -> Request {
    Request::Http {
        method: "POST".into(),
        url: match (url, url_secret) {
            (Some(u), _) => u.to_string(),
            (None, Some(name)) => format!("<secret {name}>"),
            (None, None) => String::new(),
        },
        url_secret: url_secret.map(str::to_string),
        headers,
        body,
    }
}

pub(super) fn prepare_slack(p: &Prepare<'_>, url_secret: &str) -> Result<Request, RespondError> {
    let filter = |v: &str| defang_for_chat(v);
    let text = match p.action.params.get("text") {
        Some(_) => {
            let params = p.action.render_params(p.context, Some(&filter))?;
            match params.get("text") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            }
        }
        None => {
            let t = Template::parse(&format!(
                "secops {}: {} on {} {{{{ target }}}}",
                p.operation.as_str(),
                p.action.name.replace("{{", "{ {"),
                p.target.kind
            ))
            .map_err(RespondError::Template)?;
            let Value::String(s) = t.render_with(p.context, Some(&filter))? else {
                return Err(RespondError::Template("a message that is not text".into()));
            };
            s
        }
    };
    let body = json!({ "text": text }).to_string();
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    Ok(http(None, Some(url_secret), headers, body))
}

pub(super) fn send(
    request: &Request,
    secrets: &Secrets,
    timeout: Duration,
) -> Result<Reply, Failure> {
    let Request::Http {
        url,
        url_secret,
        headers,
        body,
        ..
    } = request
    else {
        return Err(Failure {
            message: "not an HTTP request".into(),
            transient: false,
        });
    };
    let address = match url_secret {
        Some(name) => secrets.get(name).ok_or_else(|| Failure {
            message: format!("the secret {name:?} is not in the secrets file"),
            transient: false,
        })?,
        None => url.as_str(),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut call = agent.post(address);
    for (k, v) in headers {
        call = call.header(k.as_str(), v.as_str());
    }
    let mut response = call.send(body.as_bytes()).map_err(|e| Failure {
        message: format!("POST failed: {e}"),
        transient: true,
    })?;
    let status = response.status().as_u16();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec()
        .unwrap_or_default();
    let reply = Reply {
        status: format!("HTTP {status}"),
        body: bounded(&bytes),
    };
    if (200..300).contains(&status) {
        Ok(reply)
    } else {
        Err(Failure {
            message: format!("HTTP {status}: {}", reply.body),
            transient: status == 429 || status >= 500,
        })
    }
}

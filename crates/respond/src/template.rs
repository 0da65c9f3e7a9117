//! Templates over alert and case fields: text with `{{ alert.source.ip }}` placeholders. A template
//! is parsed once, when the configuration loads; rendering puts values in place and never reads them
//! again, so a value holding `{{`, quotes, `;` or a newline stays data. A template that is one
//! placeholder keeps the value's type (a number stays a number in a webhook's JSON).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::target::excerpt;
use crate::RespondError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// The values templates read, by their first name (`alert`, `case`, `target`): each a list of
/// documents tried in order (an alert's document, then its first event).
#[derive(Debug, Clone, Default)]
pub struct Context {
    roots: BTreeMap<String, Vec<Value>>,
}

impl Context {
    pub fn new() -> Context {
        Context::default()
    }

    /// Adds a document under `root`, tried after those added before under it.
    pub fn add(&mut self, root: &str, value: Value) -> &mut Context {
        self.roots.entry(root.to_string()).or_default().push(value);
        self
    }

    /// The value at `path` (`alert.source.ip`): the first document under its root holding it.
    pub fn get(&self, path: &str) -> Option<&Value> {
        let (root, rest) = match path.split_once('.') {
            Some((root, rest)) => (root, Some(rest)),
            None => (path, None),
        };
        let documents = self.roots.get(root)?;
        documents.iter().find_map(|doc| match rest {
            None => Some(doc),
            Some(rest) => lookup(doc, rest),
        })
    }
}

/// `path` in `value`, its segments taken as one dotted key where the document has one (alert
/// documents are flat: `source.ip` is a key) and as nested objects otherwise; array items by index.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => {
            if let Some(found) = map.get(path) {
                return Some(found);
            }
            // The longest dotted prefix that is a key, then the rest below it.
            let dots: Vec<usize> = path.match_indices('.').map(|(i, _)| i).collect();
            dots.iter()
                .rev()
                .find_map(|&i| map.get(&path[..i]).and_then(|v| lookup(v, &path[i + 1..])))
        }
        Value::Array(items) => {
            let (head, rest) = match path.split_once('.') {
                Some((head, rest)) => (head, Some(rest)),
                None => (path, None),
            };
            let item = items.get(head.parse::<usize>().ok()?)?;
            match rest {
                None => Some(item),
                Some(rest) => lookup(item, rest),
            }
        }
        _ => None,
    }
}

fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('.').all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'@'))
        })
}

impl Template {
    /// Parses `text`; a `{{` without its `}}` or a placeholder that is not a field path is an
    /// error naming it.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("{:?}: '{{{{' without '}}}}'", excerpt(text)))?;
            let path = after[..close].trim();
            if !valid_path(path) {
                return Err(format!(
                    "{:?}: {{{{ {path} }}}} is not a field (names like alert.source.ip)",
                    excerpt(text)
                ));
            }
            parts.push(Part::Field(path.to_string()));
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template {
            source: text.to_string(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// The fields it reads.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(f) => Some(f.as_str()),
            Part::Text(_) => None,
        })
    }

    /// Whether it reads any field (a constant otherwise).
    pub fn is_constant(&self) -> bool {
        self.fields().next().is_none()
    }

    /// The value: one placeholder alone gives the field's value as it is (a string, number or
    /// boolean; a list of one value gives that value); anything else gives text, each value's
    /// text put in place. A missing field, an object or a list of several values is an error
    /// naming the field.
    pub fn render(&self, context: &Context) -> Result<Value, RespondError> {
        self.render_with(context, None)
    }

    /// [`Template::render`] with every value passed through `filter` first (a Slack message's
    /// values defanged and escaped; the template's own text is not).
    pub fn render_with(
        &self,
        context: &Context,
        filter: Option<&dyn Fn(&str) -> String>,
    ) -> Result<Value, RespondError> {
        let filtered = |v: &Value| -> Value {
            match (filter, v) {
                (Some(f), Value::String(s)) => Value::String(f(s)),
                (Some(f), other) => Value::String(f(&other.to_string())),
                (None, other) => other.clone(),
            }
        };
        if let [Part::Field(path)] = self.parts.as_slice() {
            return Ok(filtered(scalar(path, context)?));
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(path) => match filtered(scalar(path, context)?) {
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                },
            }
        }
        Ok(Value::String(out))
    }

    /// [`Template::render`] as text (a number's digits, a boolean's word).
    pub fn render_text(&self, context: &Context) -> Result<String, RespondError> {
        Ok(match self.render(context)? {
            Value::String(s) => s,
            other => other.to_string(),
        })
    }
}

fn scalar<'a>(path: &str, context: &'a Context) -> Result<&'a Value, RespondError> {
    let missing = || RespondError::Template(format!("{{{{ {path} }}}}: no such field"));
    let mut value = context.get(path).ok_or_else(missing)?;
    if let Value::Array(items) = value {
        match items.as_slice() {
            [one] => value = one,
            [] => return Err(missing()),
            _ => {
                return Err(RespondError::Template(format!(
                    "{{{{ {path} }}}}: {} values, one expected",
                    items.len()
                )))
            }
        }
    }
    match value {
        Value::Null => Err(missing()),
        Value::Object(_) | Value::Array(_) => Err(RespondError::Template(format!(
            "{{{{ {path} }}}}: an object, a single value expected"
        ))),
        _ => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> Context {
        let mut c = Context::new();
        c.add(
            "alert",
            json!({"rule.name": "SSH {{ brute }}", "source.ip": "185.220.101.47",
                   "threshold.count": 12, "user": {"name": ["root"]}}),
        )
        .add("alert", json!({"host": {"name": "web-01"}}));
        c
    }

    #[test]
    fn values_are_put_in_place_once_and_keep_their_type_alone() {
        let c = context();
        let t = Template::parse("{{ alert.threshold.count }}").unwrap();
        assert_eq!(t.render(&c).unwrap(), json!(12));
        let t = Template::parse(
            "{{alert.rule.name}} on {{ alert.host.name }} as {{ alert.user.name }}",
        )
        .unwrap();
        // The value's own `{{ brute }}` is not read again.
        assert_eq!(
            t.render(&c).unwrap(),
            json!("SSH {{ brute }} on web-01 as root")
        );
        assert!(matches!(
            Template::parse("{{ alert.nope }}").unwrap().render(&c),
            Err(RespondError::Template(m)) if m.contains("alert.nope")
        ));
        assert!(Template::parse("{{ alert.x").is_err());
        assert!(Template::parse("{{ $(id) }}").is_err());
    }
}

//! DISSECT and GROK patterns, compiled once per query into parsers of one text.
//!
//! DISSECT follows Elastic's dissect processor: literal text between `%{key}` fields, anchored at
//! the start; each field runs to the next occurrence of the literal after it (the last to the end);
//! `%{?key}` and `%{}` match without keeping, `%{+key}` appends to an earlier key (joined by the
//! APPEND_SEPARATOR), `%{key->}` skips repeats of the literal after it. A text that does not fit
//! gives nulls. GROK turns `%{NAME:field[:type]}` into a regular expression from the table below
//! (our own expressions for the pattern names Logstash defines) and searches the text.

use regex::Regex;

/// One DISSECT field.
#[derive(Debug, Clone)]
struct Part {
    /// The key kept (`None`: matched and dropped).
    key: Option<usize>,
    /// The literal that ends it (empty for the last field).
    until: String,
    /// `->`: repeats of `until` are skipped.
    padded: bool,
}

/// A compiled DISSECT pattern.
#[derive(Debug, Clone)]
pub struct Dissect {
    prefix: String,
    parts: Vec<Part>,
    /// The kept keys, in order of first appearance: the columns made.
    pub keys: Vec<String>,
    separator: String,
}

impl Dissect {
    pub fn compile(pattern: &str, separator: Option<&str>) -> Result<Dissect, String> {
        let mut rest = pattern;
        let prefix_end = rest.find("%{").unwrap_or(rest.len());
        let prefix = rest[..prefix_end].to_string();
        rest = &rest[prefix_end..];
        let mut keys: Vec<String> = Vec::new();
        let mut parts = Vec::new();
        while let Some(body) = rest.strip_prefix("%{") {
            let close = body
                .find('}')
                .ok_or_else(|| format!("an unclosed %{{ in the pattern {pattern:?}"))?;
            let mut key = &body[..close];
            rest = &body[close + 1..];
            let padded = key.ends_with("->");
            if padded {
                key = &key[..key.len() - 2];
            }
            let kept = if key.is_empty() || key.starts_with('?') {
                None
            } else if key.starts_with('*') || key.starts_with('&') {
                return Err(format!(
                    "reference keys (%{{*key}}, %{{&key}}) are not supported: {key:?}"
                ));
            } else {
                let name = key.trim_start_matches('+');
                let name = name.split('/').next().unwrap_or(name);
                if name.is_empty() {
                    return Err(format!("an empty append key in {pattern:?}"));
                }
                Some(match keys.iter().position(|k| k == name) {
                    Some(i) => i,
                    None => {
                        keys.push(name.to_string());
                        keys.len() - 1
                    }
                })
            };
            let literal_end = rest.find("%{").unwrap_or(rest.len());
            parts.push(Part {
                key: kept,
                until: rest[..literal_end].to_string(),
                padded,
            });
            rest = &rest[literal_end..];
        }
        if parts.is_empty() {
            return Err(format!("the pattern {pattern:?} names no field"));
        }
        Ok(Dissect {
            prefix,
            parts,
            keys,
            separator: separator.unwrap_or("").to_string(),
        })
    }

    /// The kept keys' values, or `None` when the text does not fit.
    pub fn parse(&self, text: &str) -> Option<Vec<Option<String>>> {
        let mut rest = text.strip_prefix(self.prefix.as_str())?;
        let mut values: Vec<Option<String>> = vec![None; self.keys.len()];
        let last = self.parts.len() - 1;
        for (n, part) in self.parts.iter().enumerate() {
            let value = if part.until.is_empty() {
                if n == last {
                    std::mem::take(&mut rest)
                } else {
                    ""
                }
            } else {
                let at = rest.find(part.until.as_str())?;
                let value = &rest[..at];
                rest = &rest[at + part.until.len()..];
                if part.padded {
                    while let Some(r) = rest.strip_prefix(part.until.as_str()) {
                        rest = r;
                    }
                }
                value
            };
            if let Some(k) = part.key {
                let slot = values.get_mut(k)?;
                *slot = Some(match slot.take() {
                    Some(mut earlier) => {
                        earlier.push_str(&self.separator);
                        earlier.push_str(value);
                        earlier
                    }
                    None => value.to_string(),
                });
            }
        }
        Some(values)
    }
}

/// The grok pattern names we know, as regular expressions (without captures).
const GROK_PATTERNS: &[(&str, &str)] = &[
    ("WORD", r"\b\w+\b"),
    ("NOTSPACE", r"\S+"),
    ("SPACE", r"\s*"),
    ("DATA", r".*?"),
    ("GREEDYDATA", r".*"),
    ("INT", r"[+-]?\d+"),
    ("POSINT", r"\b[1-9]\d*\b"),
    ("NONNEGINT", r"\b\d+\b"),
    ("BASE10NUM", r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"),
    ("NUMBER", r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"),
    ("BASE16NUM", r"[+-]?(?:0x)?[0-9A-Fa-f]+"),
    (
        "BASE16FLOAT",
        r"[+-]?(?:0x)?(?:[0-9A-Fa-f]+(?:\.[0-9A-Fa-f]*)?|\.[0-9A-Fa-f]+)",
    ),
    ("USERNAME", r"[a-zA-Z0-9._-]+"),
    ("USER", r"[a-zA-Z0-9._-]+"),
    (
        "EMAILLOCALPART",
        r"[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*",
    ),
    (
        "EMAILADDRESS",
        r"[a-zA-Z0-9!#$%&'*+/=?^_`{|}~.-]+@[0-9A-Za-z][0-9A-Za-z.-]*",
    ),
    (
        "UUID",
        r"[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}",
    ),
    (
        "IPV4",
        r"(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)",
    ),
    ("IPV6", r"[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*"),
    (
        "IP",
        r"(?:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*|(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d))",
    ),
    (
        "HOSTNAME",
        r"\b[0-9A-Za-z][0-9A-Za-z-]{0,62}(?:\.[0-9A-Za-z][0-9A-Za-z-]{0,62})*\.?\b",
    ),
    (
        "IPORHOST",
        r"(?:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*|\b[0-9A-Za-z][0-9A-Za-z-]{0,62}(?:\.[0-9A-Za-z][0-9A-Za-z-]{0,62})*\.?\b)",
    ),
    ("HOSTPORT", r"[0-9A-Za-z.-]+:\d+"),
    ("URIPROTO", r"[A-Za-z](?:[A-Za-z0-9+\-.]+)+"),
    ("URIHOST", r"[0-9A-Za-z.\-\[\]:]+(?::\d+)?"),
    ("URIPATH", r"(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+"),
    ("URIPARAM", r"\?[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]<>]*"),
    (
        "URIPATHPARAM",
        r"(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+(?:\?[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]<>]*)?",
    ),
    (
        "URI",
        r"[A-Za-z][A-Za-z0-9+\-.]+://(?:[^@/\s]+@)?[0-9A-Za-z.\-\[\]:]+(?::\d+)?(?:/\S*)?",
    ),
    ("MAC", r"(?:[A-Fa-f0-9]{2}[:-]){5}[A-Fa-f0-9]{2}"),
    ("QUOTEDSTRING", r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"#),
    ("QS", r#""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'"#),
    (
        "TIMESTAMP_ISO8601",
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:?\d{2}(?::?\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?",
    ),
    (
        "LOGLEVEL",
        r"(?i:trace|debug|info|notice|warn(?:ing)?|err(?:or)?|crit(?:ical)?|fatal|severe|emerg(?:ency)?|alert)",
    ),
    ("PATH", r"(?:/[^\s]*|[A-Za-z]:\\[^\s]*|\\\\[^\s]*)"),
];

/// A compiled GROK pattern: a regular expression whose groups `g0, g1, ...` are the keys.
#[derive(Debug, Clone)]
pub struct Grok {
    regex: Regex,
    pub keys: Vec<String>,
    /// A key's type suffix (`int`, `long`, `float`, `double`, `boolean`), when given.
    pub types: Vec<Option<String>>,
}

impl Grok {
    pub fn compile(pattern: &str) -> Result<Grok, String> {
        let mut keys: Vec<String> = Vec::new();
        let mut types = Vec::new();
        let expression = expand(pattern, &mut keys, &mut types, 0)?;
        let regex = Regex::new(&expression).map_err(|e| {
            format!("the pattern {pattern:?} is not a regular expression we run: {e}")
        })?;
        Ok(Grok { regex, keys, types })
    }

    pub fn parse(&self, text: &str) -> Option<Vec<Option<String>>> {
        let captures = self.regex.captures(text)?;
        Some(
            (0..self.keys.len())
                .map(|i| {
                    captures
                        .name(&format!("g{i}"))
                        .map(|m| m.as_str().to_string())
                })
                .collect(),
        )
    }
}

fn expand(
    pattern: &str,
    keys: &mut Vec<String>,
    types: &mut Vec<Option<String>>,
    depth: usize,
) -> Result<String, String> {
    if depth > 8 {
        return Err("grok patterns nest too deeply".into());
    }
    let mut out = String::new();
    let mut rest = pattern;
    loop {
        let next_grok = rest.find("%{");
        let next_named = rest
            .find("(?<")
            .filter(|&i| !rest[i..].starts_with("(?<=") && !rest[i..].starts_with("(?<!"));
        let at = match (next_grok, next_named) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => {
                out.push_str(rest);
                return Ok(out);
            }
        };
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(body) = rest.strip_prefix("%{") {
            let close = body
                .find('}')
                .ok_or_else(|| "an unclosed %{ in a grok pattern".to_string())?;
            let mut spec = body[..close].splitn(3, ':');
            let name = spec.next().unwrap_or("");
            let key = spec.next();
            let ty = spec.next();
            let inner = GROK_PATTERNS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, e)| *e)
                .ok_or_else(|| format!("unknown grok pattern %{{{name}}}"))?;
            match key {
                Some(key) if !key.is_empty() => {
                    let index = keys.len();
                    keys.push(key.to_string());
                    types.push(ty.map(str::to_string));
                    out.push_str(&format!("(?<g{index}>{inner})"));
                }
                _ => out.push_str(&format!("(?:{inner})")),
            }
            rest = &body[close + 1..];
        } else if let Some(body) = rest.strip_prefix("(?<") {
            // A named group written as a regular expression: `(?<field.name>...)`.
            let close = body
                .find('>')
                .ok_or_else(|| "an unclosed (?< in a grok pattern".to_string())?;
            let index = keys.len();
            keys.push(body[..close].to_string());
            types.push(None);
            out.push_str(&format!("(?<g{index}>"));
            rest = &body[close + 1..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(d: &Dissect, text: &str) -> Option<Vec<Option<String>>> {
        d.parse(text)
    }

    #[test]
    fn dissect_splits_on_literals_and_skips() {
        let d = Dissect::compile("%{?}:assumed-role/%{role}/%{entity}", None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.keys, vec!["role", "entity"]);
        assert_eq!(
            parts(&d, "arn:aws:sts::1:assumed-role/Admin/alice"),
            Some(vec![Some("Admin".into()), Some("alice".into())])
        );
        assert_eq!(parts(&d, "no role here"), None);
        let padded = Dissect::compile("%{a->} %{b}", None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            parts(&padded, "x    y"),
            Some(vec![Some("x".into()), Some("y".into())])
        );
        let append = Dissect::compile("%{+a} %{+a}", Some("-")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parts(&append, "p q"), Some(vec![Some("p-q".into())]));
        assert!(Dissect::compile("%{*k}=%{&k}", None).is_err());
    }

    #[test]
    fn grok_names_its_keys_and_refuses_unknown_patterns() {
        let g = Grok::compile("%{URIPROTO:scheme}://%{URIHOST:host.name}%{GREEDYDATA:rest}")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(g.keys, vec!["scheme", "host.name", "rest"]);
        assert_eq!(
            g.parse("see https://evil.example:8443/x?y"),
            Some(vec![
                Some("https".into()),
                Some("evil.example:8443".into()),
                Some("/x?y".into())
            ])
        );
        let named = Grok::compile(r"pid=(?<process.pid>\d+)").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(named.parse("a pid=42"), Some(vec![Some("42".into())]));
        assert!(Grok::compile("%{NOPE:x}").is_err());
    }
}

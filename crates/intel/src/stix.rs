//! STIX 2.1 (and 2.0) in and out: indicators from bundles, single objects, object lists and TAXII
//! envelopes, with their patterns parsed by the STIX patterning grammar; a bundle of indicators out.
//!
//! A pattern yields indicators when it is a disjunction of equality comparisons, one value each
//! (`[ipv4-addr:value = '198.51.100.1' OR domain-name:value = 'evil.example']`, or several such
//! observations joined by `OR`): each comparison is one atomic indicator. Anything else (an `AND` of
//! certificate issuer and serial, `MATCHES`, `FOLLOWEDBY`, qualifiers) is a compound indicator that a
//! value lookup cannot decide: it is reported with the reason, not imported half.

use serde_json::{json, Value};

use crate::kind::{normalize, Kind};
use crate::{parse_time, Import, Indicator, IntelError, Tlp};

/// TLP marking-definition ids, 1.0 and 2.0.
const TLP_MARKINGS: &[(&str, Tlp)] = &[
    (
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Clear,
    ),
    (
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Green,
    ),
    (
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::Amber,
    ),
    (
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        Tlp::Red,
    ),
    (
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
        Tlp::Clear,
    ),
    (
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        Tlp::Green,
    ),
    (
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
        Tlp::Amber,
    ),
    (
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        Tlp::AmberStrict,
    ),
    (
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        Tlp::Red,
    ),
];

/// Reads STIX JSON text.
pub fn import(source: &str, text: &str) -> Result<Import, IntelError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| IntelError::Source {
        origin: source.to_string(),
        message: format!("not JSON: {e}"),
    })?;
    let objects: Vec<&Value> = match &doc {
        Value::Array(items) => items.iter().collect(),
        Value::Object(o) => match o.get("objects") {
            Some(Value::Array(items)) => items.iter().collect(),
            _ if o.contains_key("type") => vec![&doc],
            _ => {
                return Err(IntelError::Source {
                    origin: source.to_string(),
                    message: "neither a STIX bundle, an envelope, nor a STIX object".into(),
                })
            }
        },
        _ => {
            return Err(IntelError::Source {
                origin: source.to_string(),
                message: "not a STIX document".into(),
            })
        }
    };
    let mut import = Import::default();
    for (n, object) in objects.into_iter().enumerate() {
        let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
        let id = object
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| format!("object {}", n + 1), str::to_string);
        let location = format!("{source}: {id}");
        match kind {
            "indicator" => indicator(source, object, &location, &mut import),
            "" => import.reject(location, "an object without a type"),
            "ipv4-addr" | "ipv6-addr" | "domain-name" | "url" | "file" | "email-addr" => {
                import.other(&format!("{kind} observable (a sighting, not an indicator)"))
            }
            other => import.other(other),
        }
    }
    Ok(import)
}

fn indicator(source: &str, object: &Value, location: &str, import: &mut Import) {
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    if object.get("revoked").and_then(Value::as_bool) == Some(true) {
        import.reject(location, "revoked by its producer");
        return;
    }
    let pattern_type = text("pattern_type").unwrap_or("stix");
    if pattern_type != "stix" {
        import.reject(
            location,
            format!("pattern_type {pattern_type:?}: only STIX patterns are matched"),
        );
        return;
    }
    let Some(pattern) = text("pattern") else {
        import.reject(location, "an indicator without a pattern");
        return;
    };
    let atoms = match parse(pattern).and_then(|p| Ok(atoms(&p)?)) {
        Ok(atoms) => {
            if atoms.iter().any(|a| a.of_one_object) {
                import.split.push(location.to_string());
            }
            atoms
        }
        Err(reason) => {
            import.reject(location, format!("pattern {pattern:?}: {reason}"));
            return;
        }
    };
    let tlp = object
        .get("object_marking_refs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|m| {
            TLP_MARKINGS
                .iter()
                .find(|(id, _)| *id == m)
                .map(|(_, t)| *t)
        })
        .or_else(|| {
            object
                .get("labels")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find_map(Tlp::parse)
        })
        .unwrap_or(Tlp::Clear);
    let mut tags: Vec<String> = ["indicator_types", "labels"]
        .iter()
        .filter_map(|k| object.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    tags.dedup();
    let description = [text("name"), text("description")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    for Atom { path, value, .. } in atoms {
        let Some(kind) = kind_of(&path) else {
            import.reject(
                location,
                format!("{path}: not a kind of indicator we match"),
            );
            continue;
        };
        match normalize(kind, &value) {
            Ok(value) => {
                let mut i = Indicator::new(kind, value, source);
                i.native_id = text("id").map(str::to_string);
                i.confidence = object
                    .get("confidence")
                    .and_then(Value::as_u64)
                    .map(|c| c.min(100) as u8);
                i.tlp = tlp;
                i.tags = tags.clone();
                i.description = description.clone();
                i.first_seen = text("valid_from").and_then(parse_time);
                i.source_date = ["modified", "valid_from", "created"]
                    .into_iter()
                    .find_map(|key| text(key).and_then(parse_time));
                i.valid_until = text("valid_until").and_then(parse_time);
                import.indicators.push(i);
            }
            Err(e) => import.reject(location, e.to_string()),
        }
    }
}

/// The indicator kind an object path names.
fn kind_of(path: &str) -> Option<Kind> {
    let lower = path.to_ascii_lowercase().replace('\'', "");
    Some(match lower.as_str() {
        "ipv4-addr:value"
        | "ipv6-addr:value"
        | "network-traffic:dst_ref.value"
        | "network-traffic:src_ref.value" => Kind::Ip,
        "domain-name:value" => Kind::Domain,
        "url:value" => Kind::Url,
        "email-addr:value" | "email-message:from_ref.value" | "email-message:sender_ref.value" => {
            Kind::Email
        }
        "file:hashes.md5" => Kind::Md5,
        "file:hashes.sha-1" | "file:hashes.sha1" => Kind::Sha1,
        "file:hashes.sha-256" | "file:hashes.sha256" => Kind::Sha256,
        _ => return None,
    })
}

// --- The patterning grammar -------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    LBracket,
    RBracket,
    Op(String),
    Word(String),
    Path(String),
    Str(String),
    Number(String),
}

fn lex(pattern: &str) -> Result<(Vec<Token>, Vec<usize>), PatternError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut offsets = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, before) = (i, tokens.len());
        lex_one(&chars, &mut i, &mut tokens).map_err(|message| PatternError {
            message: format!("cannot read the pattern: {message}"),
            offset: Some(start),
        })?;
        if tokens.len() > before {
            offsets.push(start);
        }
    }
    Ok((tokens, offsets))
}

/// Reads the token (or white space) at `*at` and moves past it.
fn lex_one(chars: &[char], at: &mut usize, tokens: &mut Vec<Token>) -> Result<(), String> {
    let mut i = *at;
    let c = chars[i];
    match c {
        c if c.is_whitespace() => i += 1,
        '(' => {
            tokens.push(Token::Open);
            i += 1
        }
        ')' => {
            tokens.push(Token::Close);
            i += 1
        }
        '[' => {
            tokens.push(Token::LBracket);
            i += 1
        }
        // Separates the values of IN (...).
        ',' => {
            tokens.push(Token::Word(",".into()));
            i += 1
        }
        ']' => {
            tokens.push(Token::RBracket);
            i += 1
        }
        '=' | '!' | '<' | '>' => {
            let two = chars.get(i + 1) == Some(&'=');
            let op: String = chars[i..i + 1 + usize::from(two)].iter().collect();
            if op == "!" {
                return Err("'!' without '='".into());
            }
            tokens.push(Token::Op(op));
            i += 1 + usize::from(two);
        }
        '\'' => {
            let (s, next) = quoted(chars, i)?;
            tokens.push(Token::Str(s));
            i = next;
        }
        // t'...', h'...', b'...' literals.
        't' | 'h' | 'b' if chars.get(i + 1) == Some(&'\'') => {
            let (s, next) = quoted(chars, i + 1)?;
            tokens.push(Token::Str(s));
            i = next;
        }
        c if c.is_ascii_digit() || c == '-' => {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || matches!(chars[i], '.' | '-')) {
                i += 1;
            }
            tokens.push(Token::Number(chars[start..i].iter().collect()));
        }
        c if c.is_ascii_alphabetic() || c == '_' => {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | '-'))
            {
                i += 1;
            }
            if chars.get(i) == Some(&':') {
                // An object path: type:property, with .name, .'quoted name' and [index] steps.
                i += 1;
                while i < chars.len() {
                    match chars[i] {
                        '\'' => i = quoted(chars, i)?.1,
                        '[' => {
                            while i < chars.len() && chars[i] != ']' {
                                i += 1;
                            }
                            if i == chars.len() {
                                return Err("an index '[' is not closed".into());
                            }
                            i += 1;
                        }
                        c if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '*') => {
                            i += 1
                        }
                        _ => break,
                    }
                }
                tokens.push(Token::Path(chars[start..i].iter().collect()));
            } else {
                tokens.push(Token::Word(
                    chars[start..i]
                        .iter()
                        .collect::<String>()
                        .to_ascii_uppercase(),
                ));
            }
        }
        other => return Err(format!("unexpected {other:?}")),
    }
    *at = i;
    Ok(())
}

/// A single-quoted string from `start` (the quote): its value (`\'` and `\\` unescaped) and the index
/// after the closing quote.
fn quoted(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 2;
            }
            '\'' => return Ok((out, i + 1)),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err("a string is not closed".into())
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
enum Pattern {
    /// `[ ... ]`, with whether qualifiers follow it.
    Observation(Comparison, bool),
    Or(Vec<Pattern>),
    And(Vec<Pattern>),
    FollowedBy(Vec<Pattern>),
}

#[derive(Debug, Clone, PartialEq)]
enum Comparison {
    Test {
        path: String,
        op: String,
        negated: bool,
        value: Option<String>,
    },
    Or(Vec<Comparison>),
    And(Vec<Comparison>),
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(x)) if x == w)
    }

    /// Observation expressions: FOLLOWEDBY binds loosest, then OR, then AND.
    fn pattern(&mut self) -> Result<Pattern, String> {
        let mut parts = vec![self.or_pattern()?];
        while self.word("FOLLOWEDBY") {
            self.at += 1;
            parts.push(self.or_pattern()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Pattern::FollowedBy(parts)
        })
    }

    fn or_pattern(&mut self) -> Result<Pattern, String> {
        let mut parts = vec![self.and_pattern()?];
        while self.word("OR") {
            self.at += 1;
            parts.push(self.and_pattern()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Pattern::Or(parts)
        })
    }

    fn and_pattern(&mut self) -> Result<Pattern, String> {
        let mut parts = vec![self.observation()?];
        while self.word("AND") {
            self.at += 1;
            parts.push(self.observation()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Pattern::And(parts)
        })
    }

    fn observation(&mut self) -> Result<Pattern, String> {
        let inner = match self.next() {
            Some(Token::LBracket) => {
                let c = self.comparison()?;
                match self.next() {
                    Some(Token::RBracket) => Pattern::Observation(c, false),
                    other => return Err(format!("expected ']', found {other:?}")),
                }
            }
            Some(Token::Open) => {
                let p = self.pattern()?;
                match self.next() {
                    Some(Token::Close) => p,
                    other => return Err(format!("expected ')', found {other:?}")),
                }
            }
            other => return Err(format!("expected '[' or '(', found {other:?}")),
        };
        let mut qualified = false;
        while let Some(Token::Word(w)) = self.peek() {
            match w.as_str() {
                "WITHIN" | "REPEATS" => {
                    self.at += 1;
                    self.next();
                    self.next();
                    qualified = true;
                }
                "START" => {
                    self.at += 1;
                    self.next();
                    if !self.word("STOP") {
                        return Err("START without STOP".into());
                    }
                    self.at += 1;
                    self.next();
                    qualified = true;
                }
                _ => break,
            }
        }
        Ok(match inner {
            Pattern::Observation(c, q) => Pattern::Observation(c, q || qualified),
            other if qualified => Pattern::And(vec![
                other,
                Pattern::Observation(Comparison::And(vec![]), true),
            ]),
            other => other,
        })
    }

    fn comparison(&mut self) -> Result<Comparison, String> {
        let mut parts = vec![self.comparison_and()?];
        while self.word("OR") {
            self.at += 1;
            parts.push(self.comparison_and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Comparison::Or(parts)
        })
    }

    fn comparison_and(&mut self) -> Result<Comparison, String> {
        let mut parts = vec![self.test()?];
        while self.word("AND") {
            self.at += 1;
            parts.push(self.test()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Comparison::And(parts)
        })
    }

    fn test(&mut self) -> Result<Comparison, String> {
        match self.next() {
            Some(Token::Open) => {
                let c = self.comparison()?;
                match self.next() {
                    Some(Token::Close) => Ok(c),
                    other => Err(format!("expected ')', found {other:?}")),
                }
            }
            Some(Token::Word(w)) if w == "EXISTS" => match self.next() {
                Some(Token::Path(path)) => Ok(Comparison::Test {
                    path,
                    op: "EXISTS".into(),
                    negated: false,
                    value: None,
                }),
                other => Err(format!("EXISTS needs an object path, found {other:?}")),
            },
            Some(Token::Path(path)) => {
                let negated = self.word("NOT");
                if negated {
                    self.at += 1;
                }
                let op = match self.next() {
                    Some(Token::Op(op)) => op,
                    Some(Token::Word(w)) => w,
                    other => {
                        return Err(format!(
                            "expected an operator after {path}, found {other:?}"
                        ))
                    }
                };
                let value = match self.next() {
                    Some(Token::Str(s)) | Some(Token::Number(s)) => Some(s),
                    Some(Token::Word(w)) if w == "TRUE" || w == "FALSE" => Some(w.to_lowercase()),
                    Some(Token::Open) => {
                        // IN ('a', 'b'): a set of values.
                        let mut values = Vec::new();
                        loop {
                            match self.next() {
                                Some(Token::Str(s)) | Some(Token::Number(s)) => values.push(s),
                                Some(Token::Close) => break,
                                Some(Token::Word(w)) if w == "," => {}
                                other => return Err(format!("bad value list: {other:?}")),
                            }
                        }
                        Some(values.join("\u{1f}"))
                    }
                    other => {
                        return Err(format!(
                            "expected a value after {path} {op}, found {other:?}"
                        ))
                    }
                };
                Ok(Comparison::Test {
                    path,
                    op,
                    negated,
                    value,
                })
            }
            other => Err(format!("expected a comparison, found {other:?}")),
        }
    }
}

/// Why a pattern does not parse, and the character (0-based) where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PatternError {
    message: String,
    offset: Option<usize>,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        match self.offset {
            Some(at) => write!(f, " (at character {})", at + 1),
            None => Ok(()),
        }
    }
}

impl From<String> for PatternError {
    /// A pattern that parses but is not a value lookup: no position.
    fn from(message: String) -> Self {
        PatternError {
            message,
            offset: None,
        }
    }
}

fn parse(pattern: &str) -> Result<Pattern, PatternError> {
    let (tokens, offsets) = lex(pattern)?;
    let end = pattern.chars().count();
    let mut parser = Parser { tokens, at: 0 };
    // A parser error is about the last token read (or the end, when the pattern stops short).
    let stopped = |at: usize| Some(offsets.get(at.saturating_sub(1)).copied().unwrap_or(end));
    let pattern = parser.pattern().map_err(|message| PatternError {
        message,
        offset: stopped(parser.at),
    })?;
    if parser.at < parser.tokens.len() {
        return Err(PatternError {
            message: format!(
                "unexpected {:?} after the pattern",
                parser.tokens[parser.at]
            ),
            offset: offsets.get(parser.at).copied(),
        });
    }
    Ok(pattern)
}

/// One value a pattern looks up.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Atom {
    path: String,
    value: String,
    /// One of several AND-ed identifiers of one object (a file's hashes): each alone identifies it.
    of_one_object: bool,
}

impl Atom {
    fn new(path: &str, value: &str) -> Atom {
        Atom {
            path: path.to_string(),
            value: value.to_string(),
            of_one_object: false,
        }
    }
}

/// The atoms of a pattern that is a disjunction of equalities (an AND of one file's hashes counts as
/// their disjunction: each hash alone names the file), or why it is not one.
fn atoms(pattern: &Pattern) -> Result<Vec<Atom>, String> {
    match pattern {
        Pattern::Observation(_, true) => Err(
            "qualifiers (WITHIN, REPEATS, START/STOP) need event counting, not a value lookup"
                .into(),
        ),
        Pattern::Observation(c, false) => comparison_atoms(c),
        Pattern::Or(parts) => parts
            .iter()
            .map(atoms)
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.concat()),
        Pattern::And(_) => Err("observations joined by AND: a compound indicator".into()),
        Pattern::FollowedBy(_) => Err("FOLLOWEDBY: a sequence, not a value".into()),
    }
}

fn comparison_atoms(c: &Comparison) -> Result<Vec<Atom>, String> {
    match c {
        Comparison::Test {
            path,
            op,
            negated: false,
            value: Some(value),
        } if op == "=" => Ok(vec![Atom::new(path, value)]),
        Comparison::Test {
            path,
            op,
            negated: false,
            value: Some(values),
        } if op == "IN" => Ok(values.split('\u{1f}').map(|v| Atom::new(path, v)).collect()),
        Comparison::Test { op, negated, .. } => Err(format!(
            "the comparison {}{op} is not an equality",
            if *negated { "NOT " } else { "" }
        )),
        Comparison::Or(parts) => parts
            .iter()
            .map(comparison_atoms)
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.concat()),
        Comparison::And(parts) => parts
            .iter()
            .map(|part| match part {
                Comparison::Test {
                    path,
                    op,
                    negated: false,
                    value: Some(value),
                } if op == "=" && is_file_hash(path) => Some(Atom {
                    of_one_object: true,
                    ..Atom::new(path, value)
                }),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| "comparisons joined by AND: a compound indicator".into()),
    }
}

/// Whether a path is one of a file object's hashes (`file:hashes.MD5`, `file:hashes.'SHA-256'`).
fn is_file_hash(path: &str) -> bool {
    path.to_ascii_lowercase().starts_with("file:hashes.")
}

/// The indicators as a STIX 2.1 bundle (TLP 2.0 markings; ids stable per kind and value).
pub fn export(indicators: &[Indicator]) -> Value {
    let objects: Vec<Value> = indicators
        .iter()
        .map(|i| {
            let path = match i.kind {
                Kind::Ip if i.value.contains(':') => "ipv6-addr:value",
                Kind::Ip => "ipv4-addr:value",
                Kind::Domain | Kind::Hostname => "domain-name:value",
                Kind::Url => "url:value",
                Kind::Md5 => "file:hashes.MD5",
                Kind::Sha1 => "file:hashes.'SHA-1'",
                Kind::Sha256 => "file:hashes.'SHA-256'",
                Kind::Email => "email-addr:value",
            };
            let escaped = i.value.replace('\\', "\\\\").replace('\'', "\\'");
            let dated = i.source_date.unwrap_or(i.imported_at);
            let modified = secops_event::Timestamp::from_unix_nanos(dated).to_seconds();
            let created =
                secops_event::Timestamp::from_unix_nanos(dated.min(i.imported_at)).to_seconds();
            let mut o = json!({
                "type": "indicator",
                "spec_version": "2.1",
                "id": format!("indicator--{}", stable_uuid(i)),
                "created": created,
                "modified": modified,
                "pattern": format!("[{path} = '{escaped}']"),
                "pattern_type": "stix",
                "valid_from": secops_event::Timestamp::from_unix_nanos(i.first_seen.unwrap_or(i.imported_at)).to_seconds(),
                "indicator_types": ["malicious-activity"],
            });
            if let Some(c) = i.confidence {
                o["confidence"] = json!(c);
            }
            if let Some(v) = i.valid_until {
                o["valid_until"] = json!(secops_event::Timestamp::from_unix_nanos(v).to_seconds());
            }
            if !i.description.is_empty() {
                o["description"] = json!(i.description);
            }
            if !i.tags.is_empty() {
                o["labels"] = json!(i.tags);
            }
            let marking = match i.tlp {
                Tlp::Clear => 4,
                Tlp::Green => 5,
                Tlp::Amber => 6,
                Tlp::AmberStrict => 7,
                Tlp::Red => 8,
            };
            o["object_marking_refs"] = json!([TLP_MARKINGS[marking].0]);
            o
        })
        .collect();
    json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid_from(&objects.len().to_string(), &secops_event::Timestamp::now().unix_nanos().to_string())),
        "objects": objects,
    })
}

/// A UUID (version 4 layout) derived from the kind and value, so exports of the same indicator agree.
fn stable_uuid(i: &Indicator) -> String {
    uuid_from(i.kind.as_str(), &i.value)
}

fn uuid_from(a: &str, b: &str) -> String {
    // FNV-1a over the two parts, twice with different seeds, for 128 bits.
    let hash = |seed: u64| {
        let mut h = seed;
        for byte in a.bytes().chain([0]).chain(b.bytes()) {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    };
    let (x, y) = (hash(0xcbf2_9ce4_8422_2325), hash(0x8422_2325_cbf2_9ce4));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&x.to_be_bytes());
    bytes[8..].copy_from_slice(&y.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atoms_of(p: &str) -> Result<Vec<(String, String)>, String> {
        parse(p)
            .map_err(|e| e.to_string())
            .and_then(|p| atoms(&p))
            .map(|atoms| atoms.into_iter().map(|a| (a.path, a.value)).collect())
    }

    #[test]
    fn pattern_errors_say_where_reading_stopped() {
        let offset = |p: &str| parse(p).unwrap_err().offset;
        // A lexing error: at the character.
        assert_eq!(offset("[ipv4-addr:value ! '1.2.3.4']"), Some(17));
        // An unclosed string: at its opening quote.
        assert_eq!(offset("[ipv4-addr:value = '1.2.3.4]"), Some(19));
        // A token where another was expected: at that token.
        assert_eq!(offset("[ipv4-addr:value = '1.2.3.4' )"), Some(29));
        // The pattern stops short: at its end.
        assert_eq!(offset("[ipv4-addr:value = '1.2.3.4'"), Some(28));
        let e = parse("[ipv4-addr:value = '1.2.3.4' )").unwrap_err();
        assert!(e.to_string().ends_with("(at character 30)"), "{e}");
    }

    #[test]
    fn disjunctions_of_equalities_are_atoms() {
        assert_eq!(
            atoms_of("[ipv4-addr:value = '198.51.100.1']").unwrap(),
            vec![("ipv4-addr:value".into(), "198.51.100.1".into())]
        );
        let two = atoms_of("[domain-name:value = 'a.example' OR url:value = 'http://b.example/x'] OR [file:hashes.'SHA-256' = 'ab']").unwrap();
        assert_eq!(two.len(), 3);
        assert_eq!(two[2].0, "file:hashes.'SHA-256'");
        let list = atoms_of("[ipv4-addr:value IN ('198.51.100.1', '198.51.100.2')]").unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            atoms_of("[url:value = 'http://x.example/it\\'s']").unwrap()[0].1,
            "http://x.example/it's"
        );
    }

    #[test]
    fn hashes_of_one_file_anded_are_one_indicator_each() {
        // STIX 2.1 section 9 writes a file by several hashes in one observation.
        let pattern = "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f' AND file:hashes.MD5 = '3773a88f65a5e780c8dff9cdc3a056f3']";
        let atoms = atoms(&parse(pattern).unwrap()).unwrap();
        assert_eq!(atoms.len(), 2);
        assert!(atoms.iter().all(|a| a.of_one_object));
        assert_eq!(atoms[1].path, "file:hashes.MD5");
        // A hash and a name together are a compound (the name alone identifies nothing).
        let mixed = atoms_of(
            "[file:hashes.MD5 = '3773a88f65a5e780c8dff9cdc3a056f3' AND file:name = 'x.exe']",
        );
        assert!(mixed.unwrap_err().contains("compound"));
        // Hashes in two observations may be two files: still a compound.
        let two = atoms_of("[file:hashes.MD5 = '3773a88f65a5e780c8dff9cdc3a056f3'] AND [file:hashes.MD5 = '0773a88f65a5e780c8dff9cdc3a056f3']");
        assert!(two.unwrap_err().contains("compound"));
        let bundle = format!(
            r#"{{"type":"bundle","id":"bundle--1","objects":[{{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z","valid_from":"2016-01-01T00:00:00Z","pattern_type":"stix","pattern":"{}"}}]}}"#,
            pattern
        );
        let import = import("f.json", &bundle).unwrap();
        assert_eq!(import.indicators.len(), 2, "{:?}", import.rejected);
        assert_eq!(
            import.split,
            vec!["f.json: indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f".to_string()]
        );
        assert_eq!(import.indicators[0].kind, Kind::Sha256);
        assert_eq!(import.indicators[1].kind, Kind::Md5);
    }

    #[test]
    fn compound_patterns_are_refused_with_the_reason() {
        let and = atoms_of(
            "[x509-certificate:issuer = 'CN=WEBMAIL' AND x509-certificate:serial_number = '4c:0b']",
        );
        assert!(and.unwrap_err().contains("AND"));
        assert!(atoms_of("[email-message:subject MATCHES '^Re']")
            .unwrap_err()
            .contains("MATCHES"));
        assert!(atoms_of(
            "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [domain-name:value = 'x.example']"
        )
        .unwrap_err()
        .contains("FOLLOWEDBY"));
        assert!(
            atoms_of("[ipv4-addr:value = '1.2.3.4'] REPEATS 5 TIMES WITHIN 10 SECONDS")
                .unwrap_err()
                .contains("qualifiers")
        );
        assert!(atoms_of("[ipv4-addr:value NOT = '1.2.3.4']")
            .unwrap_err()
            .contains("NOT ="));
        assert!(atoms_of("[ipv4-addr:value = '1.2.3.4'")
            .unwrap_err()
            .contains("expected ']'"));
        assert!(atoms_of("[ipv4-addr:value = '1.2.3.4]")
            .unwrap_err()
            .contains("not closed"));
    }

    #[test]
    fn damaged_patterns_end_in_errors() {
        for broken in [
            "[file:hashes[",
            "[a:b[0",
            "[a:b.'c",
            "[",
            "]",
            "(",
            "[a:b = ",
            "[a:b IN ('x',",
            "'",
        ] {
            assert!(atoms_of(broken).is_err(), "{broken}");
        }
        assert!(atoms_of("[file:hashes[")
            .unwrap_err()
            .contains("not closed"));
    }

    #[test]
    fn export_round_trips_through_import() {
        let mut i = Indicator::new(Kind::Sha256, "ab".repeat(32), "feed");
        i.tlp = Tlp::Amber;
        i.confidence = Some(70);
        let mut u = Indicator::new(Kind::Url, "http://evil.example/it's".into(), "feed");
        u.imported_at = 1;
        let bundle = export(&[i.clone(), u]);
        let back = import("x", &bundle.to_string()).unwrap();
        assert!(back.rejected.is_empty(), "{:?}", back.rejected);
        assert_eq!(back.indicators.len(), 2);
        assert_eq!(
            (
                back.indicators[0].value.as_str(),
                back.indicators[0].tlp.as_str()
            ),
            (i.value.as_str(), "amber")
        );
        assert_eq!(back.indicators[0].confidence, Some(70));
        assert_eq!(back.indicators[1].value, "http://evil.example/it's");
        assert_eq!(stable_uuid(&i), stable_uuid(&i.clone()));
    }
}

//! Sigma detection items: a field with its modifier chain and values, turned into typed value tests.
//!
//! Plain values are case-insensitive patterns where `*` matches any run and `?` one character; `\*`, `\?`
//! and `\\` stand for the literal characters, and a backslash before anything else is itself
//! ([`parse_pattern`]). Modifiers apply left to right: encodings (`base64`, `base64offset`, `wide`,
//! `utf16le`, `utf16be`, `utf16`) and `windash` transform the value, `contains` / `startswith` /
//! `endswith` anchor it, and type modifiers (`re`, `cidr`, `exists`, `fieldref`, `gt` ...) replace the
//! pattern with another test.

use std::collections::HashMap;

use base64::Engine as _;

use super::yaml::Yaml;
use super::CompareTo;
use crate::Piece;

/// A detection item: one field (or none, for keywords) tested against its values.
#[derive(Debug, Clone)]
pub struct Item {
    /// `None` for keyword items, which search every text value of the event.
    pub field: Option<String>,
    /// One entry per value written, each the OR of its variants (`windash`, `base64offset` and
    /// placeholders give several).
    pub values: Vec<Vec<ValueTest>>,
    /// `all`: every value must match (else any).
    pub all: bool,
    /// `neq`: a value matches when its test fails.
    pub negate: bool,
}

/// What one value requires of a field.
#[derive(Debug, Clone)]
pub enum ValueTest {
    /// A wildcard pattern over the field's text.
    Pattern(Pattern),
    /// `re`: a regular expression search, case-sensitive unless `re|i`. As in PCRE without UTF mode,
    /// classes (`\w`, `\d`, `\s`, `.`) and case folding are ASCII (unless the pattern holds non-ASCII
    /// literals); the search runs on the UTF-8 bytes.
    Regex(regex::bytes::Regex),
    /// `cidr`: an address inside the block (`network/prefix`; a bare address as /32 or /128).
    Cidr(String),
    /// `gt`, `gte`, `lt`, `lte`: a numeric comparison.
    Compare(CompareTo, f64),
    /// `null`: the field is absent or null.
    Null,
    /// `exists: true|false`.
    Exists(bool),
    /// `fieldref`: the field's text against another field's, by position.
    FieldRef {
        field: String,
        position: Position,
        cased: bool,
    },
    /// `minute`, `hour`, `day`, `week`, `month`, `year`: a part of the field's time, compared.
    TimePart(TimePart, CompareTo, f64),
}

/// A wildcard pattern: pieces of literal text, `*` and `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    pub pieces: Vec<Piece>,
    /// `cased` (and encoded values): compare exactly instead of case-insensitively.
    pub cased: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// Placeholder values for `expand`: name (without `%`) to values.
pub type Placeholders = HashMap<String, Vec<String>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Base64,
    Base64Offset,
    Utf16Le,
    Utf16Be,
    Utf16Bom,
    Windash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pattern,
    Regex,
    Cidr,
    Exists,
    FieldRef,
    Compare(CompareTo),
    Time(TimePart),
}

/// The parsed modifier chain of one key.
#[derive(Debug, Default)]
struct Modifiers {
    encodings: Vec<Encoding>,
    position: Option<Position>,
    kind: Option<Kind>,
    regex_flags: (bool, bool, bool),
    all: bool,
    cased: bool,
    negate: bool,
    expand: bool,
}

/// Most variants one value may expand to (`windash` over many dashes grows as 5^n).
const MAX_VARIANTS: usize = 1024;

/// Why a detection item cannot be read: a modifier unknown or misplaced, a value its modifiers cannot
/// take, a placeholder missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ItemError(pub String);

impl Item {
    /// Builds an item from a detection key (`Field|mod|mod`, or `None` for a keyword list) and its value.
    pub fn parse(
        key: Option<&str>,
        value: &Yaml,
        placeholders: &Placeholders,
    ) -> Result<Item, ItemError> {
        Item::build(key, value, placeholders).map_err(ItemError)
    }

    fn build(key: Option<&str>, value: &Yaml, placeholders: &Placeholders) -> Result<Item, String> {
        let (field, modifiers) = match key {
            Some(key) => {
                let mut parts = key.split('|');
                let field = parts.next().unwrap_or("").trim();
                let modifiers = parse_modifiers(parts)?;
                ((!field.is_empty()).then(|| field.to_string()), modifiers)
            }
            None => (None, Modifiers::default()),
        };
        let raw: Vec<&Yaml> = match value {
            Yaml::Seq(items) => items.iter().collect(),
            other => vec![other],
        };
        if raw.is_empty() {
            return Err("an empty value list".into());
        }
        if modifiers.all && raw.len() == 1 {
            return Err("modifier 'all' needs a list of values".into());
        }
        let keyword = field.is_none();
        let mut values = Vec::with_capacity(raw.len());
        for value in raw {
            values.push(value_tests(value, &modifiers, keyword, placeholders)?);
        }
        Ok(Item {
            field,
            values,
            all: modifiers.all,
            negate: modifiers.negate,
        })
    }
}

fn parse_modifiers<'a>(names: impl Iterator<Item = &'a str>) -> Result<Modifiers, String> {
    let mut m = Modifiers::default();
    let set_kind = |m: &mut Modifiers, kind: Kind, name: &str| -> Result<(), String> {
        if let Some(previous) = m.kind {
            return Err(format!(
                "modifier '{name}' cannot follow {previous:?} (one value type per item)"
            ));
        }
        m.kind = Some(kind);
        Ok(())
    };
    for name in names {
        match name {
            "contains" | "startswith" | "endswith" => {
                if m.position.is_some() {
                    return Err(format!(
                        "modifier '{name}': only one of contains, startswith, endswith"
                    ));
                }
                m.position = Some(match name {
                    "contains" => Position::Contains,
                    "startswith" => Position::StartsWith,
                    _ => Position::EndsWith,
                });
            }
            "all" => m.all = true,
            "cased" => m.cased = true,
            "neq" => m.negate = true,
            "expand" => m.expand = true,
            "base64" => m.encodings.push(Encoding::Base64),
            "base64offset" => m.encodings.push(Encoding::Base64Offset),
            "wide" | "utf16le" => m.encodings.push(Encoding::Utf16Le),
            "utf16be" => m.encodings.push(Encoding::Utf16Be),
            "utf16" => m.encodings.push(Encoding::Utf16Bom),
            "windash" => m.encodings.push(Encoding::Windash),
            "re" => set_kind(&mut m, Kind::Regex, name)?,
            "i" | "ignorecase" | "m" | "multiline" | "s" | "dotall" => {
                if m.kind != Some(Kind::Regex) {
                    return Err(format!("modifier '{name}' applies only after 're'"));
                }
                match name {
                    "i" | "ignorecase" => m.regex_flags.0 = true,
                    "m" | "multiline" => m.regex_flags.1 = true,
                    _ => m.regex_flags.2 = true,
                }
            }
            "cidr" => set_kind(&mut m, Kind::Cidr, name)?,
            "exists" => set_kind(&mut m, Kind::Exists, name)?,
            "fieldref" => set_kind(&mut m, Kind::FieldRef, name)?,
            "gt" => set_kind(&mut m, Kind::Compare(CompareTo::Gt), name)?,
            "gte" => set_kind(&mut m, Kind::Compare(CompareTo::Gte), name)?,
            "lt" => set_kind(&mut m, Kind::Compare(CompareTo::Lt), name)?,
            "lte" => set_kind(&mut m, Kind::Compare(CompareTo::Lte), name)?,
            "minute" | "hour" | "day" | "week" | "month" | "year" => {
                let part = match name {
                    "minute" => TimePart::Minute,
                    "hour" => TimePart::Hour,
                    "day" => TimePart::Day,
                    "week" => TimePart::Week,
                    "month" => TimePart::Month,
                    _ => TimePart::Year,
                };
                set_kind(&mut m, Kind::Time(part), name)?;
            }
            "" => return Err("an empty modifier ('||')".into()),
            other => return Err(format!("unknown modifier '{other}'")),
        }
    }
    let kind = m.kind.unwrap_or(Kind::Pattern);
    let transforms = !m.encodings.is_empty() || m.expand;
    match kind {
        Kind::Pattern => {}
        Kind::FieldRef if !transforms => {}
        Kind::Time(_) if !transforms && m.position.is_none() => {}
        Kind::Compare(_) if !transforms && m.position.is_none() && !m.cased => {}
        other if transforms || m.position.is_some() || m.cased => {
            return Err(format!(
                "modifier {other:?} cannot be combined with contains/startswith/endswith, cased or encodings"
            ))
        }
        _ => {}
    }
    Ok(m)
}

fn value_tests(
    value: &Yaml,
    m: &Modifiers,
    keyword: bool,
    placeholders: &Placeholders,
) -> Result<Vec<ValueTest>, String> {
    let kind = m.kind.unwrap_or(Kind::Pattern);
    if matches!(value, Yaml::Null) {
        return match kind {
            Kind::Pattern if m.encodings.is_empty() && m.position.is_none() => {
                Ok(vec![ValueTest::Null])
            }
            _ => Err("null cannot take modifiers".into()),
        };
    }
    let text = value
        .scalar_text()
        .ok_or_else(|| format!("a value is {}; expected a scalar", value.kind()))?;
    match kind {
        Kind::Exists => match value {
            Yaml::Bool(b) => Ok(vec![ValueTest::Exists(*b)]),
            _ => Err(format!("'exists' takes true or false, not {text:?}")),
        },
        Kind::Regex => {
            let (i, multi, dot) = m.regex_flags;
            let build = |unicode: bool| {
                regex::bytes::RegexBuilder::new(&text)
                    .unicode(unicode)
                    .case_insensitive(i)
                    .multi_line(multi)
                    .dot_matches_new_line(dot)
                    .size_limit(1 << 22)
                    .build()
            };
            // ASCII classes as PCRE has them; a pattern holding non-ASCII literals needs Unicode mode.
            build(false)
                .or_else(|_| build(true))
                .map(|r| vec![ValueTest::Regex(r)])
                .map_err(|e| format!("invalid regular expression {text:?}: {e}"))
        }
        Kind::Cidr => cidr_block(&text)
            .map(|block| vec![ValueTest::Cidr(block)])
            .ok_or_else(|| format!("invalid CIDR block {text:?}")),
        Kind::Compare(op) => number(value, &text).map(|n| vec![ValueTest::Compare(op, n)]),
        Kind::Time(part) => {
            number(value, &text).map(|n| vec![ValueTest::TimePart(part, CompareTo::Eq, n)])
        }
        Kind::FieldRef => Ok(vec![ValueTest::FieldRef {
            field: text,
            position: m.position.unwrap_or(Position::Equals),
            cased: m.cased,
        }]),
        Kind::Pattern => {
            let texts = if m.expand {
                expand(&text, placeholders)?
            } else {
                vec![text]
            };
            let mut tests = Vec::new();
            for text in texts {
                for pattern in patterns(&text, m, keyword)? {
                    tests.push(ValueTest::Pattern(pattern));
                }
            }
            Ok(tests)
        }
    }
}

fn number(value: &Yaml, text: &str) -> Result<f64, String> {
    match value {
        Yaml::Int(i) => Ok(*i as f64),
        Yaml::Float(f) => Ok(*f),
        _ => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| format!("{text:?} is not a number")),
    }
}

/// A value between modifiers: pattern pieces, or raw bytes after a UTF-16 encoding.
enum Val {
    Pieces(Vec<Piece>),
    Bytes(Vec<u8>),
}

/// The patterns one written value stands for, after encodings and the position modifier.
fn patterns(text: &str, m: &Modifiers, keyword: bool) -> Result<Vec<Pattern>, String> {
    let mut variants = vec![Val::Pieces(parse_pattern(text))];
    let mut encoded = false;
    for encoding in &m.encodings {
        let mut next = Vec::new();
        for value in variants {
            match (encoding, value) {
                (Encoding::Windash, Val::Pieces(pieces)) => {
                    next.extend(windash(&pieces)?.into_iter().map(Val::Pieces))
                }
                (Encoding::Windash, Val::Bytes(_)) => {
                    return Err("modifier 'windash' cannot follow a UTF-16 encoding".into())
                }
                (Encoding::Base64 | Encoding::Base64Offset, value) => {
                    let bytes = match value {
                        Val::Pieces(pieces) => literal_text(&pieces, "base64")?.into_bytes(),
                        Val::Bytes(bytes) => bytes,
                    };
                    let texts = if *encoding == Encoding::Base64 {
                        vec![base64::engine::general_purpose::STANDARD.encode(&bytes)]
                    } else {
                        base64_offsets(&bytes)
                    };
                    next.extend(texts.into_iter().map(|t| Val::Pieces(vec![Piece::Text(t)])));
                    encoded = true;
                }
                (_, Val::Bytes(_)) => {
                    return Err("a UTF-16 encoding cannot follow another one".into())
                }
                (utf16, Val::Pieces(pieces)) => {
                    let text = literal_text(&pieces, "wide/utf16")?;
                    let mut bytes = Vec::new();
                    if *utf16 == Encoding::Utf16Bom {
                        bytes.extend([0xFF, 0xFE]);
                    }
                    for unit in text.encode_utf16() {
                        let pair = if *utf16 == Encoding::Utf16Be {
                            unit.to_be_bytes()
                        } else {
                            unit.to_le_bytes()
                        };
                        bytes.extend(pair);
                    }
                    next.push(Val::Bytes(bytes));
                    encoded = true;
                }
            }
            if next.len() > MAX_VARIANTS {
                return Err(format!(
                    "the value {text:?} expands to more than {MAX_VARIANTS} variants"
                ));
            }
        }
        variants = next;
    }
    // Keywords are searched for anywhere in the event's text.
    let position = m.position.unwrap_or(if keyword {
        Position::Contains
    } else {
        Position::Equals
    });
    let (front, back) = match position {
        Position::Equals => (false, false),
        Position::Contains => (true, true),
        Position::StartsWith => (false, true),
        Position::EndsWith => (true, false),
    };
    Ok(variants
        .into_iter()
        .map(|value| {
            let mut pieces = match value {
                Val::Pieces(pieces) => pieces,
                // UTF-16 left unencoded: the bytes as text, as a log keeping them undecoded shows them.
                Val::Bytes(bytes) => {
                    vec![Piece::Text(String::from_utf8_lossy(&bytes).into_owned())]
                }
            };
            if front && pieces.first() != Some(&Piece::Any) {
                pieces.insert(0, Piece::Any);
            }
            if back && pieces.last() != Some(&Piece::Any) {
                pieces.push(Piece::Any);
            }
            Pattern {
                pieces,
                cased: m.cased || encoded,
            }
        })
        .collect())
}

/// Splits a plain Sigma value into pieces: `*` and `?` are wildcards; `\*`, `\?` and `\\` are the literal
/// characters; a backslash before anything else (or at the end) is a literal backslash.
pub fn parse_pattern(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '?' | '\\')) => {
                    current.push(next);
                    chars.next();
                }
                _ => current.push('\\'),
            },
            '*' | '?' => {
                if !current.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut current)));
                }
                let piece = if c == '*' { Piece::Any } else { Piece::One };
                // `**` is the same as `*`.
                if !(piece == Piece::Any && pieces.last() == Some(&Piece::Any)) {
                    pieces.push(piece);
                }
            }
            other => current.push(other),
        }
    }
    if !current.is_empty() {
        pieces.push(Piece::Text(current));
    }
    pieces
}

fn literal_text(pieces: &[Piece], modifier: &str) -> Result<String, String> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Any | Piece::One => {
                return Err(format!(
                    "modifier '{modifier}' cannot encode a value with wildcards"
                ))
            }
        }
    }
    Ok(out)
}

/// The three base64 forms of `bytes` at each alignment inside a longer encoded text, with the
/// characters that depend on neighbouring bytes cut off.
pub fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut shifted = vec![b' '; i];
            shifted.extend_from_slice(bytes);
            let encoded = base64::engine::general_purpose::STANDARD.encode(&shifted);
            let end = encoded.len().saturating_sub(END[(bytes.len() + i) % 3]);
            encoded.get(START[i]..end).unwrap_or("").to_string()
        })
        .collect()
}

/// Every way of writing the value's command-line dashes: a `-` or `/` after a non-word character (or at
/// the start) and before a word character becomes each of `-`, `/`, en dash, em dash and horizontal bar.
fn windash(pieces: &[Piece]) -> Result<Vec<Vec<Piece>>, String> {
    const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
    let mut variants: Vec<Vec<Piece>> = vec![Vec::new()];
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    for (index, piece) in pieces.iter().enumerate() {
        let Piece::Text(text) = piece else {
            variants.iter_mut().for_each(|v| v.push(piece.clone()));
            continue;
        };
        let chars: Vec<char> = text.chars().collect();
        let mut texts = vec![String::new()];
        for (i, &c) in chars.iter().enumerate() {
            // A wildcard before the text counts as a non-word boundary.
            let before = if i == 0 {
                index.checked_sub(1).and_then(|p| pieces.get(p)).is_none_or(
                    |p| !matches!(p, Piece::Text(t) if t.chars().last().is_some_and(is_word)),
                )
            } else {
                !is_word(chars[i - 1])
            };
            let after = chars.get(i + 1).is_some_and(|&n| is_word(n));
            if (c == '-' || c == '/') && before && after {
                texts = texts
                    .into_iter()
                    .flat_map(|t| {
                        DASHES.iter().map(move |d| {
                            let mut t = t.clone();
                            t.push(*d);
                            t
                        })
                    })
                    .collect();
                if texts.len() > MAX_VARIANTS {
                    return Err(format!("windash: more than {MAX_VARIANTS} variants"));
                }
            } else {
                texts.iter_mut().for_each(|t| t.push(c));
            }
        }
        variants = variants
            .into_iter()
            .flat_map(|v| {
                texts.iter().map(move |t| {
                    let mut v = v.clone();
                    v.push(Piece::Text(t.clone()));
                    v
                })
            })
            .collect();
        if variants.len() > MAX_VARIANTS {
            return Err(format!("windash: more than {MAX_VARIANTS} variants"));
        }
    }
    Ok(variants)
}

/// Replaces `%name%` placeholders with each of their values (every combination); `\\%` is a literal `%`.
fn expand(text: &str, placeholders: &Placeholders) -> Result<Vec<String>, String> {
    let mut results = vec![String::new()];
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'%') => {
                chars.next();
                results.iter_mut().for_each(|r| r.push('%'));
            }
            '%' => {
                let name: String = chars.by_ref().take_while(|&c| c != '%').collect();
                let values = placeholders.get(&name).ok_or_else(|| {
                    format!(
                        "placeholder %{name}% is not defined (give its values with --placeholders)"
                    )
                })?;
                if values.is_empty() {
                    return Err(format!("placeholder %{name}% has no values"));
                }
                results = results
                    .into_iter()
                    .flat_map(|r| values.iter().map(move |v| format!("{r}{v}")))
                    .collect();
                if results.len() > MAX_VARIANTS {
                    return Err(format!(
                        "placeholders in {text:?} expand to too many values"
                    ));
                }
            }
            other => results.iter_mut().for_each(|r| r.push(other)),
        }
    }
    Ok(results)
}

/// A valid block as `address/prefix` (a bare address is its own /32 or /128 block).
fn cidr_block(text: &str) -> Option<String> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let width = match address.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(_) => 32,
        std::net::IpAddr::V6(_) => 128,
    };
    let prefix = prefix.unwrap_or(width);
    (prefix <= width).then(|| format!("{address}/{prefix}"))
}

//! Conditions compiled for evaluation: a [`Matcher`] tree whose leaves test one field of an event.
//!
//! KQL `field:value` semantics, decided once at compile time from how the value was written:
//! an unquoted value with `*`/`?` is a wildcard pattern; an unquoted `a.b.c.d/n` is a CIDR block (matching
//! IP fields, or strings holding an address); anything else is an exact match, which also accepts a number,
//! boolean or address written the same way. Comparisons are case-sensitive, as on Elastic keyword fields.
//! A field holding an array matches when any element does.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::net::IpAddr;

use secops_event::{Event, Timestamp, Value};
use secops_rules::{CompareOp, Expr, FieldFunction, Literal, Piece};

use crate::glob::Glob;
use crate::CompileError;

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Matcher {
    And(Vec<Matcher>),
    Or(Vec<Matcher>),
    Not(Box<Matcher>),
    Exists(String),
    Test(String, Test),
    /// A test of a function of the field's text (EQL `length(...)`, `entropy(...)`).
    Derived(String, FieldFunction, Test),
}

/// A test of one field value.
#[derive(Debug, Clone)]
pub enum Test {
    Exact(Exact),
    /// Case-insensitive equality of text (EQL `:`, `in~`); the text is stored lowercased.
    ExactFolded(String),
    Glob(Glob),
    Cidr(Cidr),
    Range(CompareOp, Bound),
    /// Prefix, suffix or substring, with the needle lowercased when case-insensitive.
    Affix {
        kind: Affix,
        needle: String,
        case_insensitive: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affix {
    Starts,
    Ends,
    Contains,
}

/// An exact value, pre-parsed in every type a field might hold.
#[derive(Debug, Clone)]
pub struct Exact {
    text: String,
    number: Option<f64>,
    ip: Option<IpAddr>,
    boolean: Option<bool>,
    time: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
    /// The block as written: a string field holding exactly this text matches too.
    text: String,
}

#[derive(Debug, Clone)]
pub enum Bound {
    Number(f64),
    Time(Timestamp),
    Text(String),
}

impl Matcher {
    /// Compiles a condition.
    pub fn compile(expr: &Expr) -> Result<Matcher, CompileError> {
        Ok(match expr {
            Expr::And(items) => Matcher::And(
                items
                    .iter()
                    .map(Matcher::compile)
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Or(items) => Matcher::Or(
                items
                    .iter()
                    .map(Matcher::compile)
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Not(inner) => Matcher::Not(Box::new(Matcher::compile(inner)?)),
            Expr::Exists { field } => Matcher::Exists(field.path.clone()),
            Expr::Compare { field, op, value } => match field.function {
                Some(function) => {
                    Matcher::Derived(field.path.clone(), function, compare_test(*op, value)?)
                }
                None => Matcher::Test(field.path.clone(), compare_test(*op, value)?),
            },
        })
    }

    pub fn matches(&self, event: &Event) -> bool {
        match self {
            Matcher::And(items) => items.iter().all(|m| m.matches(event)),
            Matcher::Or(items) => items.iter().any(|m| m.matches(event)),
            Matcher::Not(inner) => !inner.matches(event),
            Matcher::Exists(path) => match field(event, path) {
                Some(v) => !v.is_null(),
                None => !all_values(event, path).is_empty(),
            },
            Matcher::Derived(path, function, test) => {
                let mut values = Vec::new();
                event.fields().lookup_all(path, &mut values);
                values
                    .into_iter()
                    .any(|v| derive(v, *function).is_some_and(|d| test.matches_value(&d)))
            }
            Matcher::Test(path, test) => match field(event, path) {
                Some(v) => test.matches(v),
                // Paths through arrays of objects: any value found matches.
                None => all_values(event, path)
                    .into_iter()
                    .any(|v| test.matches(FieldValue::Ref(v))),
            },
        }
    }
}

/// `@timestamp` lives outside the fields; everything else is a path lookup.
fn field<'a>(event: &'a Event, path: &str) -> Option<FieldValue<'a>> {
    if path == "@timestamp" {
        return event.timestamp().map(FieldValue::Time);
    }
    event.get(path).map(FieldValue::Ref)
}

/// The function of a text value: its length in characters, or its Shannon entropy in bits per character.
fn derive(value: &Value, function: FieldFunction) -> Option<Value> {
    let text = value.as_str()?;
    Some(match function {
        FieldFunction::Length => Value::Int(text.chars().count() as i64),
        FieldFunction::Entropy => Value::Float(entropy(text)),
    })
}

pub use secops_rules::expr::entropy;

fn all_values<'a>(event: &'a Event, path: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    event.fields().lookup_all(path, &mut out);
    out
}

enum FieldValue<'a> {
    Ref(&'a Value),
    Time(Timestamp),
}

impl FieldValue<'_> {
    fn is_null(&self) -> bool {
        matches!(self, FieldValue::Ref(Value::Null))
    }
}

impl Test {
    fn matches(&self, value: FieldValue<'_>) -> bool {
        match value {
            FieldValue::Ref(v) => self.matches_value(v),
            FieldValue::Time(t) => self.matches_value(&Value::Time(t)),
        }
    }

    fn matches_value(&self, value: &Value) -> bool {
        if let Value::Array(items) = value {
            return items.iter().any(|item| self.matches_value(item));
        }
        match self {
            Test::Exact(exact) => exact.matches_value(value),
            Test::ExactFolded(text) => text_of(value).is_some_and(|t| t.to_lowercase() == *text),
            Test::Affix {
                kind,
                needle,
                case_insensitive,
            } => {
                let Some(haystack) = text_of(value) else {
                    return false;
                };
                let haystack = if *case_insensitive {
                    Cow::Owned(haystack.to_lowercase())
                } else {
                    haystack
                };
                match kind {
                    Affix::Starts => haystack.starts_with(needle.as_str()),
                    Affix::Ends => haystack.ends_with(needle.as_str()),
                    Affix::Contains => haystack.contains(needle.as_str()),
                }
            }
            Test::Glob(glob) => text_of(value).is_some_and(|t| glob.matches(&t)),
            Test::Cidr(cidr) => cidr.matches_value(value),
            Test::Range(op, bound) => bound.compare(value).is_some_and(|ordering| match op {
                CompareOp::Lt => ordering == Ordering::Less,
                CompareOp::Le => ordering != Ordering::Greater,
                CompareOp::Gt => ordering == Ordering::Greater,
                CompareOp::Ge => ordering != Ordering::Less,
                _ => ordering == Ordering::Equal,
            }),
        }
    }
}

/// The text a value is compared as: strings as they are (no copy), other scalars printed; objects and
/// nulls have none.
fn text_of(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Str(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Object(_) | Value::Null => None,
        other => Some(Cow::Owned(other.to_string())),
    }
}

impl Exact {
    pub fn new(text: &str) -> Self {
        Exact {
            text: text.to_string(),
            number: text.parse::<f64>().ok().filter(|n| n.is_finite()),
            ip: text.parse().ok(),
            boolean: text.parse().ok(),
            time: Timestamp::parse_rfc3339(text).ok(),
        }
    }

    /// Whether a single (non-array) value equals this one.
    pub fn matches_value(&self, value: &Value) -> bool {
        match value {
            Value::Str(s) => s.as_str() == self.text,
            Value::Int(i) => self.number == Some(*i as f64),
            Value::Float(f) => self.number == Some(*f),
            Value::Bool(b) => self.boolean == Some(*b),
            Value::Ip(ip) => self.ip == Some(*ip),
            Value::Time(t) => self.time == Some(*t),
            Value::Null | Value::Array(_) | Value::Object(_) => false,
        }
    }
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let (address, prefix) = text.split_once('/')?;
        let network: IpAddr = address.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        (prefix <= bits).then(|| Cidr {
            network,
            prefix,
            text: text.to_string(),
        })
    }

    /// An address inside the block, or a string equal to the block as written.
    pub fn matches_value(&self, value: &Value) -> bool {
        match value {
            Value::Str(s) if s.as_str() == self.text => true,
            other => other.as_ip().is_some_and(|ip| self.contains(ip)),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), 32, self.prefix)
                    == masked(u128::from(u32::from(ip)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix)
                    == masked(u128::from(ip), 128, self.prefix)
            }
            // An IPv4 address written as IPv4-mapped IPv6 matches an IPv4 block.
            (IpAddr::V4(_), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|v4| self.contains(IpAddr::V4(v4))),
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let shift = u32::from(width - prefix);
    (bits >> shift) << shift
}

impl Bound {
    fn compare(&self, value: &Value) -> Option<Ordering> {
        match self {
            Bound::Number(bound) => value.as_f64().and_then(|v| v.partial_cmp(bound)),
            Bound::Time(bound) => match value {
                Value::Time(t) => Some(t.cmp(bound)),
                Value::Str(s) => Timestamp::parse_rfc3339(s).ok().map(|t| t.cmp(bound)),
                _ => None,
            },
            Bound::Text(bound) => value.as_str().map(|s| s.cmp(bound.as_str())),
        }
    }
}

fn bound(value: &Literal) -> Bound {
    if let Ok(n) = value.text.parse::<f64>() {
        return Bound::Number(n);
    }
    match Timestamp::parse_rfc3339(&value.text) {
        Ok(t) => Bound::Time(t),
        Err(_) => Bound::Text(value.text.clone()),
    }
}

fn compare_test(op: CompareOp, value: &Literal) -> Result<Test, CompileError> {
    let pieces = || {
        value
            .wildcard
            .clone()
            .unwrap_or_else(|| vec![Piece::Text(value.text.clone())])
    };
    let affix = |kind, case_insensitive: bool| Test::Affix {
        kind,
        needle: if case_insensitive {
            value.text.to_lowercase()
        } else {
            value.text.clone()
        },
        case_insensitive,
    };
    Ok(match op {
        CompareOp::Match => match_test(value)?,
        CompareOp::Lt | CompareOp::Le | CompareOp::Gt | CompareOp::Ge => {
            Test::Range(op, bound(value))
        }
        CompareOp::Equals {
            case_insensitive: false,
        } => Test::Exact(Exact::new(&value.text)),
        CompareOp::Equals {
            case_insensitive: true,
        } => Test::ExactFolded(value.text.to_lowercase()),
        CompareOp::Like { case_insensitive } => Test::Glob(Glob::new(&pieces(), case_insensitive)),
        CompareOp::StartsWith { case_insensitive } => affix(Affix::Starts, case_insensitive),
        CompareOp::EndsWith { case_insensitive } => affix(Affix::Ends, case_insensitive),
        CompareOp::Contains { case_insensitive } => affix(Affix::Contains, case_insensitive),
        CompareOp::InCidr => Test::Cidr(
            Cidr::parse(&value.text).ok_or_else(|| CompileError::Cidr(value.text.to_string()))?,
        ),
    })
}

/// An EQL event query: its category (matched against `event.category`, arrays included) and condition.
pub fn compile_event_query(query: &secops_rules::eql::EventQuery) -> Result<Matcher, CompileError> {
    let condition = Matcher::compile(&query.condition)?;
    Ok(match &query.category {
        Some(category) => Matcher::And(vec![
            Matcher::Test(
                "event.category".into(),
                Test::ExactFolded(category.to_lowercase()),
            ),
            condition,
        ]),
        None => condition,
    })
}

fn match_test(value: &Literal) -> Result<Test, CompileError> {
    if let Some(pieces) = &value.wildcard {
        return Ok(Test::Glob(Glob::new(pieces, false)));
    }
    // As in Kibana, a block in quotes is a block too (IPv6 blocks need quotes: `:` is special).
    if value.text.contains('/') {
        if let Some(cidr) = Cidr::parse(&value.text) {
            return Ok(Test::Cidr(cidr));
        }
    }
    Ok(Test::Exact(Exact::new(&value.text)))
}

/// A wildcard literal from plain text (`*` and `?` special), for exception entries.
pub fn glob_from_text(text: &str, case_insensitive: bool) -> Glob {
    Glob::new(&Piece::parse(text), case_insensitive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secops_event::{Location, Provenance};

    fn event(fields: &[(&str, Value)]) -> Event {
        let mut e = Event::new(Provenance::new("t", Location::Line(1)));
        for (k, v) in fields {
            e.insert(*k, v.clone());
        }
        e
    }

    fn kql(query: &str) -> Matcher {
        Matcher::compile(&secops_rules::kql::parse(query).unwrap()).unwrap()
    }

    #[test]
    fn exact_matches_strings_numbers_ips_and_bools_as_written() {
        let e = event(&[
            ("s", Value::from("failure")),
            ("n", Value::Int(4625)),
            ("ip", Value::ip("10.0.0.1").unwrap()),
            ("b", Value::Bool(true)),
            ("sn", Value::from("4625")),
        ]);
        for query in [
            "s:failure",
            "s:\"failure\"",
            "n:4625",
            "ip:10.0.0.1",
            "b:true",
            "sn:4625",
        ] {
            assert!(kql(query).matches(&e), "{query}");
        }
        for query in ["s:Failure", "n:4624", "ip:10.0.0.2", "b:false", "missing:x"] {
            assert!(!kql(query).matches(&e), "{query}");
        }
    }

    #[test]
    fn wildcards_cidr_ranges_exists_and_arrays() {
        let e = event(&[
            ("cmd", Value::from("powershell.exe -enc AAAA")),
            ("ip", Value::ip("192.168.4.20").unwrap()),
            ("sip", Value::from("2001:db8::7")),
            ("count", Value::Int(7)),
            (
                "tags",
                Value::Array(vec![Value::from("a"), Value::from("b")]),
            ),
            ("nothing", Value::Null),
        ]);
        for query in [
            "cmd:*-enc*",
            "cmd:powershell.exe*",
            "cmd:*AAA?",
            "ip:192.168.0.0/16",
            "sip:\"2001:db8::/32\"",
            "count >= 7 and count < 8",
            "ip:*",
            "tags:b",
            "not nothing:*",
            "@timestamp > \"2000-01-01T00:00:00Z\"",
        ] {
            let mut e = e.clone();
            e.set_timestamp(Timestamp::from_unix_nanos(1_700_000_000_000_000_000));
            assert!(kql(query).matches(&e), "{query}");
        }
        for query in [
            "cmd:*-ENC*",
            "cmd:\"*-enc*\"",
            "ip:10.0.0.0/8",
            "count > 7",
            "tags:c",
            "cmd:AAAA",
        ] {
            assert!(!kql(query).matches(&e), "{query}");
        }
    }

    fn eql(query: &str) -> Matcher {
        match secops_rules::eql::parse(query).unwrap() {
            secops_rules::eql::EqlQuery::Event(q) => compile_event_query(&q).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn eql_operators_respect_case_rules() {
        let e = event(&[
            (
                "event.category",
                Value::Array(vec![Value::from("process"), Value::from("start")]),
            ),
            ("process.name", Value::from("CMD.exe")),
            ("process.command_line", Value::from("cmd.exe /c whoami")),
            ("source.ip", Value::ip("10.1.2.3").unwrap()),
            ("process.pid", Value::Int(4)),
        ]);
        for query in [
            r#"process where process.name == "CMD.exe""#,
            r#"process where process.name : "cmd.exe""#,
            r#"process where process.name in~ ("cmd.exe", "powershell.exe")"#,
            r#"any where process.command_line like~ "*WHOAMI*""#,
            r#"any where startsWith~(process.name, "cmd") and endsWith(process.name, ".exe")"#,
            r#"any where stringContains(process.command_line, "/c")"#,
            r#"any where cidrMatch(source.ip, "10.0.0.0/8")"#,
            r#"any where process.pid == 4 and process.pid != 5"#,
        ] {
            assert!(eql(query).matches(&e), "{query}");
        }
        for query in [
            r#"process where process.name == "cmd.exe""#,
            r#"network where process.name : "cmd.exe""#,
            r#"any where process.command_line like "*WHOAMI*""#,
            r#"any where startsWith(process.name, "cmd")"#,
            r#"any where cidrMatch(source.ip, "192.168.0.0/16")"#,
        ] {
            assert!(!eql(query).matches(&e), "{query}");
        }
    }

    #[test]
    fn length_and_entropy_of_field_text() {
        let e = event(&[
            (
                "dns.question.name",
                Value::from(
                    "mzwgcz33orugkidrovuwg2zamjzg653oebtg66banj2w24dt.x7k2.exfil-example.net",
                ),
            ),
            ("short", Value::from("login.microsoftonline.com")),
        ]);
        assert!(eql("any where length(dns.question.name) > 60").matches(&e));
        assert!(!eql("any where length(short) > 60").matches(&e));
        assert!(eql("any where entropy(dns.question.name) > 4.0").matches(&e));
        assert!(!eql("any where entropy(short) > 4.0").matches(&e));
        assert!((entropy("aaaa") - 0.0).abs() < 1e-9);
        assert!((entropy("abcd") - 2.0).abs() < 1e-9);
        assert!(
            !eql("any where length(missing) >= 0").matches(&e),
            "no field, no value"
        );
    }

    #[test]
    fn cidr_edges() {
        let block = Cidr::parse("10.20.0.0/28").unwrap();
        assert!(block.contains("10.20.0.15".parse().unwrap()));
        assert!(!block.contains("10.20.0.16".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(block.contains("::ffff:10.20.0.3".parse().unwrap()));
    }
}

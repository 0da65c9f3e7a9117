//! A Sigma rule compiled for one of its targets: a tree of item tests whose fields are resolved for that
//! target's events, the events it is routed to, and the literals one of which must appear for it to match.

use std::borrow::Cow;
use std::net::IpAddr;

use secops_event::{Event, Object, Timestamp, Value};
use secops_rules::sigma::{CompareTo, Condition, Item, Position, SigmaRule, TimePart, ValueTest};
use secops_rules::Piece;

use super::mapping::{Target, ValueMap};
use super::text;
use super::SigmaCompileError;
use crate::matcher::Cidr;

/// Where a field is read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldRef {
    /// A dotted path, as [`Event::get`] reads it.
    Path(String),
    /// A Windows event's `Event.EventData.<name>`, or `<name>` in the element under `Event.UserData`.
    WinData(String),
    /// Several fields' texts joined with text between them (a mapping's template, as Security 4688's
    /// `{SubjectDomainName}\\{SubjectUserName}` for Sysmon's `User`); absent when any field is.
    Joined(Vec<JoinPart>),
    /// Keyword searches: the given fields, or (`None`) every text value of the event.
    Keywords(Option<Vec<String>>),
}

/// A piece of a [`FieldRef::Joined`] field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JoinPart {
    Field(FieldRef),
    Text(String),
}

#[derive(Debug, Clone)]
pub enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Item(Box<ItemTest>),
}

#[derive(Debug, Clone)]
pub struct ItemTest {
    pub field: FieldRef,
    pub values: Vec<Vec<Val>>,
    pub all: bool,
    pub negate: bool,
}

/// A compiled value test. Case-insensitive texts are stored lowercased.
#[derive(Debug, Clone)]
pub enum Val {
    Eq(String),
    Starts(String),
    Ends(String),
    Contains(String),
    Glob(Vec<Piece>),
    Cased(Vec<Piece>),
    Regex(regex::bytes::Regex),
    Cidr(Cidr),
    Compare(CompareTo, f64),
    Null,
    Exists(bool),
    FieldRef {
        field: FieldRef,
        position: Position,
        cased: bool,
    },
    TimePart(TimePart, CompareTo, f64),
}

/// One rule on one target.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Index of the rule in the set.
    pub rule: u32,
    pub target: Target,
    /// Extra equalities of the target (`where`), as tests.
    pub conditions: Vec<ItemTest>,
    pub tree: Node,
}

/// Resolves Sigma field names for one target.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    target: &'a Target,
}

impl<'a> Fields<'a> {
    pub fn new(target: &'a Target) -> Self {
        Fields { target }
    }

    pub fn resolve(&self, name: &str) -> FieldRef {
        match self.target {
            Target::Channel {
                fields,
                system_fields,
                ..
            } => {
                let name = fields.get(name).map_or(name, String::as_str);
                if name.contains('{') {
                    return FieldRef::Joined(template(name, |n| windows_field(system_fields, n)));
                }
                windows_field(system_fields, name)
            }
            Target::Generic { fields, .. } => FieldRef::Path(
                fields
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| name.to_string()),
            ),
        }
    }

    /// How the target's events write values of the (Sigma-named) field, when it differs.
    fn value_map(&self, name: &str) -> Option<&ValueMap> {
        match self.target {
            Target::Channel { values, .. } => values.get(name),
            Target::Generic { .. } => None,
        }
    }

    fn keywords(&self) -> FieldRef {
        match self.target {
            // The record as written; its ECS fields are copies.
            Target::Channel { .. } => FieldRef::Keywords(Some(vec!["Event".to_string()])),
            Target::Generic { keywords, .. } => FieldRef::Keywords(keywords.clone()),
        }
    }
}

fn windows_field(
    system_fields: &std::collections::HashMap<String, String>,
    name: &str,
) -> FieldRef {
    match system_fields.get(name) {
        Some(path) => FieldRef::Path(path.clone()),
        // EventData names have no dots: a dotted name is the event's own field (ECS,
        // `process.command_line`), as rules exported from our native format name them.
        None if name.contains('.') => FieldRef::Path(name.to_string()),
        None => FieldRef::WinData(name.to_string()),
    }
}

/// A template's pieces: `{name}` a field, everything else text (an unclosed `{` is text).
fn template(text: &str, field: impl Fn(&str) -> FieldRef) -> Vec<JoinPart> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        if open > 0 {
            parts.push(JoinPart::Text(rest[..open].to_string()));
        }
        parts.push(JoinPart::Field(field(&rest[open + 1..close])));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(JoinPart::Text(rest.to_string()));
    }
    parts
}

/// Compiles `rule` for `target`.
pub fn compile(rule: &SigmaRule, index: u32, target: &Target) -> Result<Unit, SigmaCompileError> {
    let fields = Fields::new(target);
    let searches: Vec<Node> = rule
        .searches
        .iter()
        .map(|search| {
            let groups = search
                .groups
                .iter()
                .map(|group| {
                    let items = group
                        .iter()
                        .map(|item| compile_item(item, &fields).map(|i| Node::Item(Box::new(i))))
                        .collect::<Result<Vec<_>, SigmaCompileError>>()?;
                    Ok(single_or(items, Node::And))
                })
                .collect::<Result<Vec<_>, SigmaCompileError>>()?;
            Ok(single_or(groups, Node::Or))
        })
        .collect::<Result<_, SigmaCompileError>>()?;
    let tree = condition_tree(&rule.condition, &searches);
    let conditions = match target {
        Target::Channel { conditions, .. } => conditions
            .iter()
            .map(|(field, values)| equality(fields.resolve(field), values))
            .collect(),
        Target::Generic { conditions, .. } => conditions
            .iter()
            .map(|(field, values)| equality(FieldRef::Path(field.clone()), values))
            .collect(),
    };
    Ok(Unit {
        rule: index,
        target: target.clone(),
        conditions,
        tree,
    })
}

fn equality(field: FieldRef, values: &[String]) -> ItemTest {
    ItemTest {
        field,
        values: values
            .iter()
            .map(|v| vec![Val::Eq(v.to_lowercase())])
            .collect(),
        all: false,
        negate: false,
    }
}

fn single_or(mut items: Vec<Node>, wrap: fn(Vec<Node>) -> Node) -> Node {
    if items.len() == 1 {
        items.remove(0)
    } else {
        wrap(items)
    }
}

fn condition_tree(condition: &Condition, searches: &[Node]) -> Node {
    match condition {
        Condition::And(items) => {
            Node::And(items.iter().map(|c| condition_tree(c, searches)).collect())
        }
        Condition::Or(items) => {
            Node::Or(items.iter().map(|c| condition_tree(c, searches)).collect())
        }
        Condition::Not(inner) => Node::Not(Box::new(condition_tree(inner, searches))),
        Condition::Ident(i) => searches.get(*i).cloned().unwrap_or(Node::Or(Vec::new())),
    }
}

fn compile_item(item: &Item, fields: &Fields<'_>) -> Result<ItemTest, SigmaCompileError> {
    let field = match &item.field {
        Some(name) => fields.resolve(name),
        None => fields.keywords(),
    };
    let rewrite = item
        .field
        .as_deref()
        .and_then(|name| fields.value_map(name));
    let values = item
        .values
        .iter()
        .map(|alternatives| {
            alternatives
                .iter()
                .map(|v| match rewrite.and_then(|map| rewritten(v, map)) {
                    Some(v) => compile_value(&v, fields),
                    None => compile_value(v, fields),
                })
                .collect()
        })
        .collect::<Result<Vec<Vec<Val>>, _>>()?;
    Ok(ItemTest {
        field,
        values,
        all: item.all,
        negate: item.negate,
    })
}

/// A whole-text value (no wildcards) as the target's events write it, when the map rewrites it.
fn rewritten(value: &ValueTest, map: &ValueMap) -> Option<ValueTest> {
    let ValueTest::Pattern(pattern) = value else {
        return None;
    };
    let [Piece::Text(text)] = pattern.pieces.as_slice() else {
        return None;
    };
    let mut pattern = pattern.clone();
    pattern.pieces = vec![Piece::Text(map.rewrite(text)?)];
    Some(ValueTest::Pattern(pattern))
}

fn compile_value(value: &ValueTest, fields: &Fields<'_>) -> Result<Val, SigmaCompileError> {
    Ok(match value {
        ValueTest::Pattern(pattern) if pattern.cased => Val::Cased(pattern.pieces.clone()),
        ValueTest::Pattern(pattern) => {
            let pieces: Vec<Piece> = pattern
                .pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => Piece::Text(t.to_lowercase()),
                    other => other.clone(),
                })
                .collect();
            match pieces.as_slice() {
                [] => Val::Eq(String::new()),
                [Piece::Text(t)] => Val::Eq(t.clone()),
                [Piece::Text(t), Piece::Any] => Val::Starts(t.clone()),
                [Piece::Any, Piece::Text(t)] => Val::Ends(t.clone()),
                [Piece::Any, Piece::Text(t), Piece::Any] => Val::Contains(t.clone()),
                _ => Val::Glob(pieces),
            }
        }
        ValueTest::Regex(r) => Val::Regex(r.clone()),
        ValueTest::Cidr(block) => {
            Val::Cidr(Cidr::parse(block).ok_or_else(|| SigmaCompileError::Cidr(block.clone()))?)
        }
        ValueTest::Compare(op, n) => Val::Compare(*op, *n),
        ValueTest::Null => Val::Null,
        ValueTest::Exists(b) => Val::Exists(*b),
        ValueTest::FieldRef {
            field,
            position,
            cased,
        } => Val::FieldRef {
            field: fields.resolve(field),
            position: *position,
            cased: *cased,
        },
        ValueTest::TimePart(part, op, n) => Val::TimePart(*part, *op, *n),
    })
}

// ---- fields the target's events lack ----------------------------------------------------------------

/// What a rule can do on a target whose events (by the mapping's field lists) lack fields it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The rule runs as written: every field it reads is carried, or the missing ones only take away
    /// parts of the condition that are themselves about missing fields.
    Full,
    /// The condition can never hold: it needs the named fields.
    Never { fields: Vec<String> },
    /// The named searches read only carried fields yet lose all effect, because the parts of the
    /// condition around them need the missing fields.
    Dead {
        searches: Vec<String>,
        fields: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    False,
    True,
    Open,
}

/// Evaluates the rule as far as its missing fields decide it: every item on a field the target's events
/// never carry is what it gives on an absent field (`null` and `exists: false` hold, everything else
/// fails), and the condition is simplified around those constants.
pub fn reach(rule: &SigmaRule, target: &Target) -> Reach {
    let Some(list) = target.event_fields() else {
        return Reach::Full;
    };
    let fields = Fields::new(target);
    // Windows System fields (paths there) are on every event.
    let carried_ref = |field: &FieldRef| match (target, field) {
        (_, FieldRef::WinData(n)) | (Target::Generic { .. }, FieldRef::Path(n)) => list.contains(n),
        _ => true,
    };
    let carried = |name: &str| match fields.resolve(name) {
        FieldRef::Joined(parts) => parts.iter().all(|p| match p {
            JoinPart::Field(f) => carried_ref(f),
            JoinPart::Text(_) => true,
        }),
        other => carried_ref(&other),
    };
    let mut missing: Vec<String> = Vec::new();
    let mut known_only = vec![true; rule.searches.len()];
    let constants: Vec<Tri> = rule
        .searches
        .iter()
        .enumerate()
        .map(|(i, search)| {
            let groups = search.groups.iter().map(|group| {
                let items = group.iter().map(|item| match &item.field {
                    Some(name) if !carried(name) => {
                        known_only[i] = false;
                        if !missing.contains(name) {
                            missing.push(name.clone());
                        }
                        if absent_result(item) {
                            Tri::True
                        } else {
                            Tri::False
                        }
                    }
                    _ => Tri::Open,
                });
                junction(items.collect(), Tri::False)
            });
            junction(groups.collect(), Tri::True)
        })
        .collect();
    if missing.is_empty() {
        return Reach::Full;
    }
    missing.sort();
    let left = match fold(&rule.condition, &constants) {
        Ok(false) => return Reach::Never { fields: missing },
        Ok(true) => Vec::new(),
        Err(left) => left,
    };
    let mut referenced = Vec::new();
    identifiers(&rule.condition, &mut referenced);
    let mut dead: Vec<String> = referenced
        .into_iter()
        .filter(|i| known_only.get(*i).copied().unwrap_or(false) && !left.contains(i))
        .filter_map(|i| rule.identifiers.get(i).cloned())
        .collect();
    dead.sort();
    dead.dedup();
    if dead.is_empty() {
        Reach::Full
    } else {
        Reach::Dead {
            searches: dead,
            fields: missing,
        }
    }
}

/// An AND (`absorbing` False) or OR (`absorbing` True) of three-valued parts: the absorbing value if any
/// part has it, the other constant if all parts do, else open.
fn junction(parts: Vec<Tri>, absorbing: Tri) -> Tri {
    if parts.contains(&absorbing) {
        absorbing
    } else if parts.iter().all(|t| *t != Tri::Open) {
        if absorbing == Tri::True {
            Tri::False
        } else {
            Tri::True
        }
    } else {
        Tri::Open
    }
}

/// What an item gives on an absent field.
fn absent_result(item: &Item) -> bool {
    let test = |alternatives: &Vec<ValueTest>| {
        alternatives
            .iter()
            .any(|v| matches!(v, ValueTest::Null | ValueTest::Exists(false)))
            != item.negate
    };
    if item.all {
        item.values.iter().all(test)
    } else {
        item.values.iter().any(test)
    }
}

/// The condition with decided searches replaced by their value: a constant, or (`Err`) the searches
/// the simplified condition still reads.
fn fold(condition: &Condition, constants: &[Tri]) -> Result<bool, Vec<usize>> {
    let junction = |items: &[Condition], absorbing: bool| {
        let mut left = Vec::new();
        let mut open = false;
        for item in items {
            match fold(item, constants) {
                Ok(b) if b == absorbing => return Ok(absorbing),
                Ok(_) => {}
                Err(ids) => {
                    open = true;
                    left.extend(ids);
                }
            }
        }
        if open {
            Err(left)
        } else {
            Ok(!absorbing)
        }
    };
    match condition {
        Condition::And(items) => junction(items, false),
        Condition::Or(items) => junction(items, true),
        Condition::Not(inner) => fold(inner, constants).map(|b| !b),
        Condition::Ident(i) => match constants.get(*i) {
            Some(Tri::True) => Ok(true),
            Some(Tri::False) => Ok(false),
            _ => Err(vec![*i]),
        },
    }
}

fn identifiers(condition: &Condition, out: &mut Vec<usize>) {
    match condition {
        Condition::And(items) | Condition::Or(items) => {
            items.iter().for_each(|c| identifiers(c, out))
        }
        Condition::Not(inner) => identifiers(inner, out),
        Condition::Ident(i) => out.push(*i),
    }
}

// ---- evaluation ------------------------------------------------------------------------------------

impl Node {
    pub fn matches(&self, event: &Event) -> bool {
        match self {
            Node::And(items) => items.iter().all(|n| n.matches(event)),
            Node::Or(items) => items.iter().any(|n| n.matches(event)),
            Node::Not(inner) => !inner.matches(event),
            Node::Item(item) => item.matches(event),
        }
    }
}

/// The value of a field in an event (`None` when absent).
pub fn lookup<'a>(field: &FieldRef, event: &'a Event) -> Option<&'a Value> {
    match field {
        FieldRef::Path(path) => event.get(path),
        FieldRef::WinData(name) => {
            let Some(root) = event.fields().get("Event").and_then(Value::as_object) else {
                // Events written by hand (rule test cases) may hold the path as one dotted key.
                return event.get(&format!("Event.EventData.{name}"));
            };
            if let Some(v) = root
                .get("EventData")
                .and_then(Value::as_object)
                .and_then(|d| d.get(name))
            {
                return Some(v);
            }
            let user = root.get("UserData")?.as_object()?;
            user.iter()
                .filter_map(|(_, v)| v.as_object())
                .find_map(|o| o.get(name))
        }
        FieldRef::Joined(_) | FieldRef::Keywords(_) => None,
    }
}

/// The value of a field in an event, joined fields included (`None` when absent).
pub fn field_value<'a>(field: &FieldRef, event: &'a Event) -> Option<Cow<'a, Value>> {
    match field {
        FieldRef::Joined(parts) => joined(parts, event).map(|t| Cow::Owned(Value::from(t))),
        other => lookup(other, event).map(Cow::Borrowed),
    }
}

/// The text of a field in an event, as [`text_of`] gives it (`None` when absent or not text-like).
pub fn field_text<'a>(field: &FieldRef, event: &'a Event) -> Option<Cow<'a, str>> {
    match field {
        FieldRef::Joined(parts) => joined(parts, event).map(Cow::Owned),
        other => lookup(other, event).and_then(text_of),
    }
}

/// A joined field's text: absent when any of its fields is.
fn joined(parts: &[JoinPart], event: &Event) -> Option<String> {
    let mut text = String::new();
    for part in parts {
        match part {
            JoinPart::Text(t) => text.push_str(t),
            JoinPart::Field(f) => text.push_str(&field_text(f, event)?),
        }
    }
    Some(text)
}

impl ItemTest {
    pub fn matches(&self, event: &Event) -> bool {
        if let FieldRef::Keywords(fields) = &self.field {
            return self.matches_keywords(fields.as_deref(), event);
        }
        let value = field_value(&self.field, event);
        let value = value.as_deref();
        if value.is_none() {
            if let FieldRef::Path(path) = &self.field {
                // A path through arrays of objects (CloudTrail's `...items.cidrIp`): any element.
                let mut found = Vec::new();
                event.fields().lookup_all(path, &mut found);
                if !found.is_empty() {
                    return self.matches_any(&found, event);
                }
            }
        }
        let test = |alternatives: &Vec<Val>| {
            alternatives.iter().any(|v| v.matches(value, event)) != self.negate
        };
        if self.all {
            self.values.iter().all(test)
        } else {
            self.values.iter().any(test)
        }
    }

    /// The item over several values of its field: each value list holds when any value matches.
    fn matches_any(&self, values: &[&Value], event: &Event) -> bool {
        let test = |alternatives: &Vec<Val>| {
            values
                .iter()
                .any(|value| alternatives.iter().any(|a| a.matches(Some(value), event)))
                != self.negate
        };
        if self.all {
            self.values.iter().all(test)
        } else {
            self.values.iter().any(test)
        }
    }

    fn matches_keywords(&self, fields: Option<&[String]>, event: &Event) -> bool {
        let test = |alternatives: &Vec<Val>| {
            let hit = match fields {
                Some(fields) => fields.iter().any(|f| {
                    event.get(f).is_some_and(|v| {
                        any_text_value(v, &|v| {
                            alternatives.iter().any(|a| a.matches(Some(v), event))
                        })
                    })
                }),
                None => any_text(event.fields(), &|v| {
                    alternatives.iter().any(|a| a.matches(Some(v), event))
                }),
            };
            hit != self.negate
        };
        if self.all {
            self.values.iter().all(test)
        } else {
            self.values.iter().any(test)
        }
    }
}

/// Whether any text leaf of the object passes `test`.
fn any_text(object: &Object, test: &dyn Fn(&Value) -> bool) -> bool {
    object.iter().any(|(_, v)| any_text_value(v, test))
}

fn any_text_value(value: &Value, test: &dyn Fn(&Value) -> bool) -> bool {
    match value {
        Value::Object(o) => any_text(o, test),
        Value::Array(items) => items.iter().any(|v| any_text_value(v, test)),
        Value::Str(_) => test(value),
        _ => false,
    }
}

impl Val {
    pub fn matches(&self, value: Option<&Value>, event: &Event) -> bool {
        match self {
            Val::Null => value.is_none_or(Value::is_null),
            Val::Exists(wanted) => value.is_some_and(|v| !v.is_null()) == *wanted,
            _ => match value {
                None | Some(Value::Null) => false,
                Some(Value::Array(items)) => items.iter().any(|v| self.matches_one(v, event)),
                Some(v) => self.matches_one(v, event),
            },
        }
    }

    fn matches_one(&self, value: &Value, event: &Event) -> bool {
        match self {
            Val::Eq(n) | Val::Starts(n) | Val::Ends(n) | Val::Contains(n) => {
                let Some(t) = text_of(value) else {
                    return false;
                };
                let (hay, ascii) = text::fold(&t);
                // ASCII text never holds a needle that is not ASCII.
                if ascii && !n.is_ascii() {
                    return false;
                }
                match self {
                    Val::Eq(_) => text::eq(&hay, n, ascii),
                    Val::Starts(_) => text::starts(&hay, n, ascii),
                    Val::Ends(_) => text::ends(&hay, n, ascii),
                    _ => text::contains(&hay, n, ascii),
                }
            }
            Val::Glob(pieces) => text_of(value).is_some_and(|t| {
                let (hay, ascii) = text::fold(&t);
                text::glob(pieces, &hay, ascii, false)
            }),
            Val::Cased(pieces) => {
                text_of(value).is_some_and(|t| text::glob(pieces, &t, false, true))
            }
            Val::Regex(r) => text_of(value).is_some_and(|t| r.is_match(t.as_bytes())),
            Val::Cidr(c) => match value {
                Value::Str(s) => s.trim().parse::<IpAddr>().is_ok_and(|ip| c.contains(ip)),
                other => c.matches_value(other),
            },
            Val::Compare(op, bound) => number_of(value).is_some_and(|n| op.holds(n, *bound)),
            Val::TimePart(part, op, bound) => time_of(value)
                .and_then(|t| time_part(t, *part))
                .is_some_and(|n| op.holds(n, *bound)),
            Val::FieldRef {
                field,
                position,
                cased,
            } => {
                let (Some(mine), Some(theirs)) = (text_of(value), field_text(field, event)) else {
                    return false;
                };
                let (mine, theirs) = if *cased {
                    (mine.into_owned(), theirs.into_owned())
                } else {
                    (mine.to_lowercase(), theirs.to_lowercase())
                };
                match position {
                    Position::Equals => mine == theirs,
                    Position::Contains => mine.contains(&theirs),
                    Position::StartsWith => mine.starts_with(&theirs),
                    Position::EndsWith => mine.ends_with(&theirs),
                }
            }
            Val::Null | Val::Exists(_) => false,
        }
    }
}

/// The text a value is compared as: strings as they are, numbers and booleans printed.
pub fn text_of(value: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        Value::Str(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        Value::Object(_) | Value::Null | Value::Array(_) => None,
        other => Some(std::borrow::Cow::Owned(other.to_string())),
    }
}

fn number_of(value: &Value) -> Option<f64> {
    match value {
        Value::Str(s) => {
            let s = s.trim();
            match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16).ok().map(|n| n as f64),
                None => s.parse().ok(),
            }
        }
        other => other.as_f64(),
    }
}

fn time_of(value: &Value) -> Option<Timestamp> {
    match value {
        Value::Time(t) => Some(*t),
        Value::Str(s) => Timestamp::parse_rfc3339(s).ok(),
        _ => None,
    }
}

fn time_part(t: Timestamp, part: TimePart) -> Option<f64> {
    use chrono::{Datelike, Timelike};
    let dt = chrono::DateTime::from_timestamp(
        t.unix_nanos().div_euclid(1_000_000_000),
        t.unix_nanos().rem_euclid(1_000_000_000) as u32,
    )?;
    Some(f64::from(match part {
        TimePart::Minute => dt.minute(),
        TimePart::Hour => dt.hour(),
        TimePart::Day => dt.day(),
        TimePart::Week => dt.iso_week().week(),
        TimePart::Month => dt.month(),
        TimePart::Year => return Some(f64::from(dt.year())),
    }))
}

// ---- static analysis for routing and prefiltering ------------------------------------------------------

/// EventIDs the tree requires (every match has one of them), when it says so.
pub fn required_event_ids(node: &Node, event_id: &FieldRef) -> Option<Vec<u32>> {
    match node {
        Node::Item(item) if item.field == *event_id && !item.negate && !item.all => {
            let mut ids = Vec::new();
            for alternatives in &item.values {
                for v in alternatives {
                    match v {
                        Val::Eq(text) => ids.push(text.parse::<u32>().ok()?),
                        _ => return None,
                    }
                }
            }
            Some(ids)
        }
        Node::Item(_) | Node::Not(_) => None,
        Node::And(items) => items.iter().find_map(|n| required_event_ids(n, event_id)),
        Node::Or(items) => {
            let mut all = Vec::new();
            for n in items {
                all.extend(required_event_ids(n, event_id)?);
            }
            Some(all)
        }
    }
}

/// Literals one of which must occur (case-insensitively) in its field for the tree to match, when such
/// a set exists: `(field, literal, ASCII lowercased)`.
pub fn required_literals(node: &Node) -> Option<Vec<(FieldRef, String)>> {
    match node {
        Node::Item(item) => item_literals(item),
        Node::Not(_) => None,
        Node::Or(items) => {
            let mut all = Vec::new();
            for n in items {
                all.extend(required_literals(n)?);
            }
            Some(all)
        }
        Node::And(items) => items
            .iter()
            .filter_map(required_literals)
            .max_by_key(|lits| score(lits)),
    }
}

/// Prefer sets whose shortest literal is longest (rarer hits), then fewer literals.
fn score(literals: &[(FieldRef, String)]) -> (usize, std::cmp::Reverse<usize>) {
    let shortest = literals.iter().map(|(_, l)| l.len()).min().unwrap_or(0);
    (shortest.min(8), std::cmp::Reverse(literals.len()))
}

fn item_literals(item: &ItemTest) -> Option<Vec<(FieldRef, String)>> {
    if item.negate {
        return None;
    }
    let value_literals = |alternatives: &Vec<Val>| -> Option<Vec<(FieldRef, String)>> {
        alternatives
            .iter()
            .map(|v| {
                let literal = match v {
                    Val::Eq(t) | Val::Starts(t) | Val::Ends(t) | Val::Contains(t) => {
                        longest_prefilter_run(std::slice::from_ref(t))
                    }
                    Val::Glob(pieces) | Val::Cased(pieces) => {
                        let texts: Vec<String> = pieces
                            .iter()
                            .filter_map(|p| match p {
                                Piece::Text(t) => Some(t.to_lowercase()),
                                _ => None,
                            })
                            .collect();
                        longest_prefilter_run(&texts)
                    }
                    _ => None,
                }?;
                // Numbers are cheap to test and often not text in the event: no literal.
                if literal.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Some((item.field.clone(), literal))
            })
            .collect()
    };
    if item.all {
        item.values
            .iter()
            .filter_map(value_literals)
            .max_by_key(|lits| score(lits))
    } else {
        let mut all = Vec::new();
        for alternatives in &item.values {
            all.extend(value_literals(alternatives)?);
        }
        Some(all)
    }
}

/// Longest literal kept for the prefilter: any part of a required literal is required too, and long
/// literals (hashes) only grow the automata.
const MAX_LITERAL: usize = 16;

/// The longest run of characters the prefilter can find byte for byte in any of the texts: ASCII (found
/// ignoring ASCII case) and characters without case, such as emoji (lowercased; its last
/// [`MAX_LITERAL`] bytes, whole characters, when longer), if not empty.
fn longest_prefilter_run(texts: &[String]) -> Option<String> {
    let mut best = "";
    for text in texts {
        for run in text.split(|c: char| !c.is_ascii() && has_case(c)) {
            if run.len() > best.len() {
                best = run;
            }
        }
    }
    let mut start = best.len().saturating_sub(MAX_LITERAL);
    while !best.is_char_boundary(start) {
        start += 1;
    }
    let best = &best[start..];
    (!best.is_empty()).then(|| best.to_ascii_lowercase())
}

/// Whether a character has another case (its text can differ in events that match case-insensitively).
fn has_case(c: char) -> bool {
    let mut lower = c.to_lowercase();
    let mut upper = c.to_uppercase();
    !(lower.next() == Some(c)
        && lower.next().is_none()
        && upper.next() == Some(c)
        && upper.next().is_none())
}

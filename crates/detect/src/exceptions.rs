//! Rule exceptions (Elastic's item semantics): entries of an item are ANDed, items are ORed, and an event
//! that matches any item raises no alert. An item with an `expire_time` in the past no longer applies.

use secops_event::{Event, Timestamp, Value};
use secops_rules::{ExceptionItem, ExceptionType};

use crate::glob::Glob;
use crate::matcher::{glob_from_text, Cidr, Exact};
use crate::CompileError;

#[derive(Debug, Clone, Default)]
pub struct Exceptions {
    items: Vec<Vec<Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    field: String,
    test: EntryTest,
    excluded: bool,
}

#[derive(Debug, Clone)]
enum EntryTest {
    Any(Vec<Exact>),
    Glob(Glob),
    Exists,
    Cidr(Cidr),
}

impl Exceptions {
    /// Compiles the items still in force at `now`.
    pub fn compile(items: &[ExceptionItem], now: Timestamp) -> Result<Exceptions, CompileError> {
        let mut compiled = Vec::new();
        for item in items {
            if let Some(expire) = &item.expire_time {
                let expire = Timestamp::parse_rfc3339(expire).map_err(|e| {
                    CompileError::ExceptionExpiry {
                        item: item.description.clone(),
                        reason: e.to_string(),
                    }
                })?;
                if expire <= now {
                    continue;
                }
            }
            let entries = item
                .entries
                .iter()
                .map(|e| entry(e, &item.description))
                .collect::<Result<Vec<_>, _>>()?;
            compiled.push(entries);
        }
        Ok(Exceptions { items: compiled })
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether some item matches the event.
    pub fn matches(&self, event: &Event) -> bool {
        self.items
            .iter()
            .any(|entries| entries.iter().all(|e| e.matches(event)))
    }
}

fn strings(value: Option<&toml::Value>) -> Vec<String> {
    match value {
        Some(toml::Value::String(s)) => vec![s.clone()],
        Some(toml::Value::Array(items)) => items.iter().flat_map(|v| strings(Some(v))).collect(),
        Some(toml::Value::Integer(i)) => vec![i.to_string()],
        Some(toml::Value::Boolean(b)) => vec![b.to_string()],
        Some(toml::Value::Float(f)) => vec![f.to_string()],
        _ => Vec::new(),
    }
}

fn entry(e: &secops_rules::ExceptionEntry, item: &str) -> Result<Entry, CompileError> {
    let error = |m: &str| CompileError::ExceptionEntry {
        item: item.to_string(),
        field: e.field.clone(),
        reason: m.to_string(),
    };
    let values = strings(e.value.as_ref());
    let one = || {
        values
            .first()
            .cloned()
            .ok_or_else(|| error("needs a value"))
    };
    let test = match e.entry_type {
        ExceptionType::Match => EntryTest::Any(vec![Exact::new(&one()?)]),
        ExceptionType::MatchAny => {
            if values.is_empty() {
                return Err(error("needs a list of values"));
            }
            EntryTest::Any(values.iter().map(|v| Exact::new(v)).collect())
        }
        ExceptionType::Wildcard => EntryTest::Glob(glob_from_text(&one()?, false)),
        ExceptionType::Exists => EntryTest::Exists,
        ExceptionType::Cidr => EntryTest::Cidr(Cidr::parse(&one()?).ok_or_else(|| error("value is not a CIDR block like 10.0.0.0/8"))?),
        ExceptionType::List => return Err(error("shared exception lists (type = \"list\") are not supported yet; write the entries inline")),
    };
    let excluded = match e.operator.as_str() {
        "included" => false,
        "excluded" => true,
        other => {
            return Err(error(&format!(
                "operator {other:?} is neither \"included\" nor \"excluded\""
            )))
        }
    };
    Ok(Entry {
        field: e.field.clone(),
        test,
        excluded,
    })
}

impl Entry {
    fn matches(&self, event: &Event) -> bool {
        let value = event.get(&self.field);
        let hit = match (&self.test, value) {
            (EntryTest::Exists, v) => v.is_some_and(|v| !v.is_null()),
            (_, None) => false,
            (test, Some(v)) => any_element(v, &|x| test.matches(x)),
        };
        hit != self.excluded
    }
}

fn any_element(value: &Value, test: &dyn Fn(&Value) -> bool) -> bool {
    match value {
        Value::Array(items) => items.iter().any(test),
        other => test(other),
    }
}

impl EntryTest {
    fn matches(&self, value: &Value) -> bool {
        match self {
            EntryTest::Any(options) => options.iter().any(|o| o.matches_value(value)),
            EntryTest::Glob(glob) => value.as_str().is_some_and(|s| glob.matches(s)),
            EntryTest::Cidr(cidr) => cidr.matches_value(value),
            EntryTest::Exists => true,
        }
    }
}

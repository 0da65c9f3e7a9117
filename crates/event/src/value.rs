//! Typed field values.

use std::fmt;
use std::net::IpAddr;

use crate::{Object, Timestamp};

/// The string type of field names and string values: short strings (up to 24 bytes) are stored inline, so
/// most field names and values cost no allocation.
pub type Str = compact_str::CompactString;

/// One field value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// An explicit null (JSON `null`, an unset Zeek field kept for completeness).
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Str),
    Ip(IpAddr),
    Time(Timestamp),
    Array(Vec<Value>),
    Object(Object),
}

impl Value {
    /// Parses `text` as an IPv4 or IPv6 address.
    pub fn ip(text: &str) -> Option<Value> {
        text.parse::<IpAddr>().ok().map(Value::Ip)
    }

    /// The string content, for string values only.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer content; strings holding a decimal integer count too, since many sources (EVTX as JSON,
    /// syslog key=value pairs) write numbers as text.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 && f.is_finite() => Some(*f as i64),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The numeric content as a float, for numbers and numeric strings.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The address content, for IP values and strings holding an address.
    pub fn as_ip(&self) -> Option<IpAddr> {
        match self {
            Value::Ip(ip) => Some(*ip),
            Value::Str(s) => s.parse().ok(),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A short name of the value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Ip(_) => "ip",
            Value::Time(_) => "timestamp",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

/// Scalars print as their plain text (what a rule compares against); arrays and objects print as JSON.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
            Value::Ip(ip) => write!(f, "{ip}"),
            Value::Time(t) => write!(f, "{t}"),
            Value::Array(_) | Value::Object(_) => write!(f, "{}", crate::json::to_json(self)),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(Str::from(s))
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(Str::from(s))
    }
}
impl From<Str> for Value {
    fn from(s: Str) -> Self {
        Value::Str(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<u16> for Value {
    fn from(i: u16) -> Self {
        Value::Int(i64::from(i))
    }
}
impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Value::Int(i64::from(i))
    }
}
impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<IpAddr> for Value {
    fn from(ip: IpAddr) -> Self {
        Value::Ip(ip)
    }
}
impl From<Timestamp> for Value {
    fn from(t: Timestamp) -> Self {
        Value::Time(t)
    }
}
impl From<Object> for Value {
    fn from(o: Object) -> Self {
        Value::Object(o)
    }
}
impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Self {
        Value::Array(a)
    }
}

//! The language's functions DataFusion has no twin for, as scalar functions over text: addresses
//! (`cidr_match`, `is_private`, `to_ip`), decoding (`url_decode`, `from_base64`), `entropy`, the
//! multi-value reading of a text (`mv_list`), and the row parsers behind DISSECT and GROK.
//!
//! A value read from `_fields` that holds several values is a JSON array's text (`["a","b"]`);
//! `mv_list` turns such a text into a list (any other text is a list of itself), so the `mv_*`
//! functions and MV_EXPAND work on both the lake's values and on lists STATS makes.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Float64Builder, ListBuilder, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use secops_entity::inventory::Cidr;

type Rows<'a> = Vec<Option<&'a str>>;

/// The text arguments of a call, row by row (a constant repeated), and whether every one was a
/// constant (the result is then one value).
fn text_args(args: &[ColumnarValue]) -> datafusion::error::Result<(Vec<ArrayRef>, usize, bool)> {
    let rows = args
        .iter()
        .find_map(|a| match a {
            ColumnarValue::Array(a) => Some(a.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1);
    let scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = args
        .iter()
        .map(|a| a.to_array(rows))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    Ok((arrays, rows, scalar))
}

fn strings(array: &ArrayRef) -> datafusion::error::Result<&StringArray> {
    array
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| DataFusionError::Execution("a text argument was expected".into()))
}

fn finish(out: ArrayRef, scalar: bool) -> datafusion::error::Result<ColumnarValue> {
    Ok(if scalar {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
    } else {
        ColumnarValue::Array(out)
    })
}

/// What a row function gives.
#[derive(Clone, Copy)]
enum Out {
    Text,
    Bool,
    Double,
    List,
}

enum Value {
    Text(Option<String>),
    Bool(Option<bool>),
    Double(Option<f64>),
    List(Option<Vec<String>>),
}

/// A scalar function of `arity` text arguments, computed row by row.
fn row_udf(
    name: &str,
    arity: usize,
    out: Out,
    f: impl Fn(&[Option<&str>]) -> Value + Send + Sync + 'static,
) -> ScalarUDF {
    let ty = match out {
        Out::Text => DataType::Utf8,
        Out::Bool => DataType::Boolean,
        Out::Double => DataType::Float64,
        Out::List => DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
    };
    create_udf(
        name,
        vec![DataType::Utf8; arity],
        ty,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let (arrays, rows, scalar) = text_args(args)?;
            let columns = arrays
                .iter()
                .map(strings)
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            let row = |i: usize| -> Rows<'_> {
                columns
                    .iter()
                    .map(|c| if c.is_null(i) { None } else { Some(c.value(i)) })
                    .collect()
            };
            let array: ArrayRef = match out {
                Out::Text => {
                    let mut b = StringBuilder::new();
                    for i in 0..rows {
                        if let Value::Text(v) = f(&row(i)) {
                            b.append_option(v);
                        } else {
                            b.append_null();
                        }
                    }
                    Arc::new(b.finish())
                }
                Out::Bool => {
                    let mut b = BooleanBuilder::new();
                    for i in 0..rows {
                        if let Value::Bool(v) = f(&row(i)) {
                            b.append_option(v);
                        } else {
                            b.append_null();
                        }
                    }
                    Arc::new(b.finish())
                }
                Out::Double => {
                    let mut b = Float64Builder::new();
                    for i in 0..rows {
                        if let Value::Double(v) = f(&row(i)) {
                            b.append_option(v);
                        } else {
                            b.append_null();
                        }
                    }
                    Arc::new(b.finish())
                }
                Out::List => {
                    let mut b = ListBuilder::new(StringBuilder::new());
                    for i in 0..rows {
                        match f(&row(i)) {
                            Value::List(Some(items)) => {
                                for item in items {
                                    b.values().append_value(item);
                                }
                                b.append(true);
                            }
                            _ => b.append(false),
                        }
                    }
                    Arc::new(b.finish())
                }
            };
            finish(array, scalar)
        }),
    )
}

/// The function of one text by its name in the language (`url_decode`, `entropy`, ...).
pub fn of_one_text(name: &str) -> Option<ScalarUDF> {
    Some(match name {
        "to_ip" => to_ip(),
        "url_decode" => url_decode(),
        "from_base64" => from_base64(),
        "to_base64" => to_base64(),
        "entropy" => entropy(),
        "is_private" => is_private(),
        "to_geopoint" => to_geopoint(),
        _ => return None,
    })
}

/// `cidr_match(ip, block, ...)`: whether the address lies in one of the blocks.
pub fn cidr_match(blocks: usize) -> ScalarUDF {
    row_udf("cidr_match", blocks + 1, Out::Bool, |row| {
        let Some(Some(ip)) = row.first() else {
            return Value::Bool(None);
        };
        let Ok(ip) = ip.trim().parse::<IpAddr>() else {
            return Value::Bool(Some(false));
        };
        let inside = row[1..]
            .iter()
            .flatten()
            .filter_map(|b| block(b))
            .any(|b| b.contains(ip));
        Value::Bool(Some(inside))
    })
}

/// A block as written, or an address alone as its own block.
fn block(text: &str) -> Option<Cidr> {
    Cidr::parse(text).or_else(|| {
        let ip: IpAddr = text.trim().parse().ok()?;
        let width = if ip.is_ipv4() { 32 } else { 128 };
        Cidr::parse(&format!("{ip}/{width}"))
    })
}

/// The IANA special-purpose blocks (RFC 6890 and its updates): addresses that are not on the public
/// internet. `is_private(ip)` is true inside one of them.
pub const SPECIAL_PURPOSE: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.31.196.0/24",
    "192.52.193.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "192.175.48.0/24",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// `is_private(ip)`: the address is in a special-purpose block (null when it is no address).
pub fn is_private() -> ScalarUDF {
    let blocks: Vec<Cidr> = SPECIAL_PURPOSE
        .iter()
        .filter_map(|b| Cidr::parse(b))
        .collect();
    row_udf("is_private", 1, Out::Bool, move |row| {
        let ip = row
            .first()
            .copied()
            .flatten()
            .and_then(|t| t.trim().parse::<IpAddr>().ok());
        Value::Bool(ip.map(|ip| blocks.iter().any(|b| b.contains(ip))))
    })
}

/// `in_set(value, "name")`: whether the named set holds the value (null for a null value).
pub fn in_set(sets: Arc<dyn crate::plan::Sets>, name: String) -> ScalarUDF {
    // Named by its set: two calls over two sets are two functions to the optimizer.
    let function = format!("in_set[{name}]");
    row_udf(&function, 1, Out::Bool, move |row| {
        Value::Bool(
            row.first()
                .copied()
                .flatten()
                .and_then(|value| sets.contains(&name, value)),
        )
    })
}

/// `to_ip(text)`: the address in its canonical form, null when the text is none.
pub fn to_ip() -> ScalarUDF {
    row_udf("to_ip", 1, Out::Text, |row| {
        Value::Text(
            row.first()
                .copied()
                .flatten()
                .and_then(|t| t.trim().parse::<IpAddr>().ok())
                .map(|ip| ip.to_string()),
        )
    })
}

/// `url_decode(text)`: `%XX` escapes and `+` decoded (as a form value); null when the bytes are not
/// UTF-8.
pub fn url_decode() -> ScalarUDF {
    row_udf("url_decode", 1, Out::Text, |row| {
        Value::Text(row.first().copied().flatten().and_then(decode_url))
    })
}

fn decode_url(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// `from_base64(text)`: the decoded text; null when it is not base64 of UTF-8.
pub fn from_base64() -> ScalarUDF {
    row_udf("from_base64", 1, Out::Text, |row| {
        Value::Text(row.first().copied().flatten().and_then(|t| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .ok()?;
            String::from_utf8(bytes).ok()
        }))
    })
}

/// `to_base64(text)`.
pub fn to_base64() -> ScalarUDF {
    row_udf("to_base64", 1, Out::Text, |row| {
        Value::Text(
            row.first()
                .copied()
                .flatten()
                .map(|t| base64::engine::general_purpose::STANDARD.encode(t)),
        )
    })
}

/// `entropy(text)`: Shannon entropy in bits per character.
pub fn entropy() -> ScalarUDF {
    row_udf("entropy", 1, Out::Double, |row| {
        Value::Double(
            row.first()
                .copied()
                .flatten()
                .map(secops_rules::expr::entropy),
        )
    })
}

/// `mv_list(text)`: a JSON array's text as its items' texts; any other text as a list of itself.
pub fn mv_list() -> ScalarUDF {
    row_udf("mv_list", 1, Out::List, |row| {
        Value::List(row.first().copied().flatten().map(items))
    })
}

/// The values a text holds: a JSON array's items, or the text.
pub fn items(text: &str) -> Vec<String> {
    if text.starts_with('[') {
        if let Ok(secops_event::Value::Array(values)) = serde_json::from_str(text) {
            return values.iter().map(ToString::to_string).collect();
        }
    }
    vec![text.to_string()]
}

/// A geo point's longitude and latitude from its text: WKT `POINT (lon lat)`, a JSON object with
/// `lon` and `lat`, a JSON array `[lon, lat]`, or `"lat,lon"` (Elasticsearch's geo_point forms).
pub fn point(text: &str) -> Option<(f64, f64)> {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("POINT").or_else(|| t.strip_prefix("point")) {
        let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
        let mut parts = inner.split_whitespace();
        let lon = parts.next()?.parse().ok()?;
        let lat = parts.next()?.parse().ok()?;
        return Some((lon, lat));
    }
    if t.starts_with('{') || t.starts_with('[') {
        let value: secops_event::Value = serde_json::from_str(t).ok()?;
        return match value {
            secops_event::Value::Object(o) => {
                Some((o.get("lon")?.as_f64()?, o.get("lat")?.as_f64()?))
            }
            secops_event::Value::Array(items) => match items.as_slice() {
                [lon, lat, ..] => Some((lon.as_f64()?, lat.as_f64()?)),
                _ => None,
            },
            _ => None,
        };
    }
    let (lat, lon) = t.split_once(',')?;
    Some((lon.trim().parse().ok()?, lat.trim().parse().ok()?))
}

/// `st_x(point)` (longitude) and `st_y(point)` (latitude).
pub fn st_coordinate(name: &str) -> ScalarUDF {
    let latitude = name == "st_y";
    row_udf(name, 1, Out::Double, move |row| {
        let p = row.first().copied().flatten().and_then(point);
        Value::Double(p.map(|(lon, lat)| if latitude { lat } else { lon }))
    })
}

/// `to_geopoint(text)`: the point as WKT, null when the text is none.
pub fn to_geopoint() -> ScalarUDF {
    row_udf("to_geopoint", 1, Out::Text, |row| {
        Value::Text(
            row.first()
                .copied()
                .flatten()
                .and_then(point)
                .map(|(lon, lat)| format!("POINT ({lon} {lat})")),
        )
    })
}

/// `st_distance(a, b)`: metres between two points on a sphere of the Earth's mean radius
/// (haversine).
pub fn st_distance() -> ScalarUDF {
    row_udf("st_distance", 2, Out::Double, |row| {
        let (Some(Some(a)), Some(Some(b))) = (row.first(), row.get(1)) else {
            return Value::Double(None);
        };
        let (Some((lon1, lat1)), Some((lon2, lat2))) = (point(a), point(b)) else {
            return Value::Double(None);
        };
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
        let dp = p2 - p1;
        let dl = (lon2 - lon1).to_radians();
        let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        Value::Double(Some(2.0 * EARTH_RADIUS_M * h.sqrt().asin()))
    })
}

/// A DISSECT or GROK pattern's parser of one text: its parts, or `None` when the text does not fit.
pub type Parser = Arc<dyn Fn(&str) -> Option<Vec<Option<String>>> + Send + Sync>;

/// A parser of one text into named parts (DISSECT, GROK): the function giving part `index` of each
/// row. Called as `dissect(text, pattern, key)`: the pattern and key are constants that tell two
/// calls apart in the plan.
pub fn parser_udf(name: &str, index: usize, parse: Parser) -> ScalarUDF {
    row_udf(name, 3, Out::Text, move |row| {
        let part = row
            .first()
            .copied()
            .flatten()
            .and_then(|text| parse(text))
            .and_then(|mut parts| parts.get_mut(index).and_then(Option::take));
        Value::Text(part)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_decode_as_form_values() {
        assert_eq!(decode_url("a%20b+c%2F"), Some("a b c/".to_string()));
        assert_eq!(decode_url("100%"), Some("100%".to_string()));
        assert_eq!(decode_url("%zz"), Some("%zz".to_string()));
        assert_eq!(decode_url("%ff"), None);
    }

    #[test]
    fn items_read_json_arrays_and_plain_text() {
        assert_eq!(items(r#"["a","b"]"#), vec!["a", "b"]);
        assert_eq!(items("[not json"), vec!["[not json"]);
        assert_eq!(items("x"), vec!["x"]);
    }

    #[test]
    fn points_read_in_every_geo_point_form() {
        assert_eq!(point("POINT (-71.06 42.36)"), Some((-71.06, 42.36)));
        assert_eq!(
            point(r#"{"lat":42.36,"lon":-71.06}"#),
            Some((-71.06, 42.36))
        );
        assert_eq!(point("[-71.06, 42.36]"), Some((-71.06, 42.36)));
        assert_eq!(point("42.36,-71.06"), Some((-71.06, 42.36)));
        assert_eq!(point("nowhere"), None);
    }

    #[test]
    fn special_purpose_blocks_parse() {
        assert_eq!(
            SPECIAL_PURPOSE
                .iter()
                .filter_map(|b| Cidr::parse(b))
                .count(),
            SPECIAL_PURPOSE.len()
        );
        assert!(block("10.1.2.3").is_some());
    }
}

//! Where the names a query uses come from: Elastic index patterns mapped to the lake's sources, and
//! Elastic field names resolved to the lake's columns or to `_fields`.
//!
//! A field is found, in this order:
//! 1. as a column of the relation (the lake's typed columns, or one an earlier stage made);
//! 2. through the field map (`mapped`): Elastic names whose value the lake holds under another name
//!    (`winlog.event_data.*` is the EVTX reader's `Event.EventData.*`, `agent.id` the host) or derives
//!    (`host.os.type` from the source, `data_stream.dataset` the dataset);
//! 3. in `_fields` by its dotted name, when it is an ECS field ([`ecs_type`], ECS 9.5, with its type)
//!    or lies under a namespace one of the query's sources declares (`okta.` for `logs-okta.system-*`,
//!    `process.Ext.` for Elastic Defend's `logs-endpoint.events.*`).
//!
//! Anything else is a planning error naming the field. The tables here are documented in the README
//! (section "Hunting: sources and fields").

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringArray, StringBuilder,
    TimestampNanosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, TimeUnit as ArrowTimeUnit};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::functions::expr_fn as f;
use datafusion::logical_expr::{
    create_udf, lit, when, ColumnarValue, Expr as DfExpr, ScalarUDF, Volatility,
};
use datafusion::prelude::ident;
use secops_event::{Object, Value};

/// The lake's column of every other field (JSON).
pub const FIELDS: &str = "_fields";
/// The partition column naming an event's source.
pub const SOURCE: &str = "source";

/// A field's type, as Elasticsearch mappings name them, reduced to what the planner needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    Text,
    Long,
    Double,
    Boolean,
    Date,
}

impl FieldType {
    fn of_mapping(name: &str) -> FieldType {
        match name {
            "long" | "integer" | "short" | "byte" | "unsigned_long" => FieldType::Long,
            "float" | "double" | "scaled_float" | "half_float" => FieldType::Double,
            "boolean" => FieldType::Boolean,
            "date" | "date_nanos" => FieldType::Date,
            _ => FieldType::Text,
        }
    }

    pub fn data_type(self) -> DataType {
        match self {
            FieldType::Text => DataType::Utf8,
            FieldType::Long => DataType::Int64,
            FieldType::Double => DataType::Float64,
            FieldType::Boolean => DataType::Boolean,
            FieldType::Date => {
                DataType::Timestamp(ArrowTimeUnit::Nanosecond, Some(Arc::from("UTC")))
            }
        }
    }
}

static ECS: LazyLock<HashMap<&'static str, FieldType>> = LazyLock::new(|| {
    include_str!("ecs_fields.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(name, ty)| (name, FieldType::of_mapping(ty)))
        .collect()
});

/// An ECS field's type, `None` when ECS does not define the name.
pub fn ecs_type(name: &str) -> Option<FieldType> {
    ECS.get(name).copied()
}

/// One row of the index-pattern table: an Elastic index pattern and what it reads in the lake.
#[derive(Debug, Clone, Copy)]
pub struct IndexPattern {
    /// The pattern without its trailing `-*` or `*` (`logs-endpoint.events.process`).
    pub elastic: &'static str,
    /// Our sources; a name ending in `*` is every source starting with the rest.
    pub sources: &'static [&'static str],
    /// An `event.category` the events must have (Elastic Defend splits data streams by category;
    /// Sysmon holds every category in one channel).
    pub category: Option<&'static str>,
    /// Field namespaces the data carries beyond ECS (each ends in `.`).
    pub namespaces: &'static [&'static str],
}

const ENDPOINT: &[&str] = &[
    "process.Ext.",
    "process.parent.Ext.",
    "file.Ext.",
    "dll.Ext.",
    "registry.Ext.",
    "network.Ext.",
    "dns.Ext.",
    "Effective_process.",
    "Target.",
    "Endpoint.",
    "Events.",
    "Memory_protection.",
    "Responses.",
    "Tcc.",
    "Persistence.",
    "rule.",
    "winlog.",
];
const WINDOWS: &[&str] = &["winlog.", "powershell.", "sysmon."];

/// Elastic index patterns whose data our readers produce under other source names. A pattern not in
/// this table but shaped `logs-<dataset>-*` reads the source `<dataset>` (a dataset ingested as ECS
/// JSON keeps its name), and carries the integration's namespace `<package>.` (the dataset's first
/// segment): Elastic integrations put their own fields there.
pub const INDEX_PATTERNS: &[IndexPattern] = &[
    IndexPattern {
        elastic: "logs-endpoint.events.process",
        sources: &[
            "windows.sysmon",
            "windows.security",
            "endpoint.events.process",
        ],
        category: Some("process"),
        namespaces: ENDPOINT,
    },
    IndexPattern {
        elastic: "logs-endpoint.events.file",
        sources: &["windows.sysmon", "endpoint.events.file"],
        category: Some("file"),
        namespaces: ENDPOINT,
    },
    IndexPattern {
        elastic: "logs-endpoint.events.network",
        sources: &["windows.sysmon", "zeek.conn", "endpoint.events.network"],
        category: Some("network"),
        namespaces: ENDPOINT,
    },
    IndexPattern {
        elastic: "logs-endpoint.events.registry",
        sources: &["windows.sysmon", "endpoint.events.registry"],
        category: Some("registry"),
        namespaces: ENDPOINT,
    },
    IndexPattern {
        elastic: "logs-endpoint.events.library",
        sources: &["windows.sysmon", "endpoint.events.library"],
        category: Some("library"),
        namespaces: ENDPOINT,
    },
    IndexPattern {
        elastic: "logs-endpoint.events.api",
        sources: &["endpoint.events.api"],
        category: None,
        namespaces: ENDPOINT,
    },
    IndexPattern {
        elastic: "logs-endpoint.events",
        sources: &[
            "windows.sysmon",
            "windows.security",
            "zeek.*",
            "endpoint.events.*",
        ],
        category: None,
        namespaces: ENDPOINT,
    },
    IndexPattern {
        elastic: "logs-endpoint.alerts",
        sources: &["endpoint.alerts"],
        category: None,
        namespaces: ENDPOINT,
    },
    IndexPattern {
        elastic: "logs-windows.sysmon_operational",
        sources: &["windows.sysmon"],
        category: None,
        namespaces: WINDOWS,
    },
    IndexPattern {
        elastic: "logs-windows.powershell_operational",
        sources: &["windows.powershell"],
        category: None,
        namespaces: WINDOWS,
    },
    IndexPattern {
        elastic: "logs-windows.powershell",
        sources: &["windows.powershell-classic"],
        category: None,
        namespaces: WINDOWS,
    },
    IndexPattern {
        elastic: "logs-windows.forwarded",
        sources: &["windows.*"],
        category: None,
        namespaces: WINDOWS,
    },
    IndexPattern {
        elastic: "logs-windows",
        sources: &["windows.*"],
        category: None,
        namespaces: WINDOWS,
    },
    IndexPattern {
        elastic: "winlogbeat",
        sources: &["windows.*"],
        category: None,
        namespaces: WINDOWS,
    },
    IndexPattern {
        elastic: "logs-system.security",
        sources: &["windows.security"],
        category: None,
        namespaces: WINDOWS,
    },
    IndexPattern {
        elastic: "logs-system.system",
        sources: &["windows.system"],
        category: None,
        namespaces: WINDOWS,
    },
    IndexPattern {
        elastic: "logs-system.auth",
        sources: &["system.auth"],
        category: None,
        namespaces: &["system.auth.", "system."],
    },
    IndexPattern {
        elastic: "logs-system.syslog",
        sources: &["system.syslog"],
        category: None,
        namespaces: &["system.syslog.", "system."],
    },
    IndexPattern {
        elastic: "auditbeat",
        sources: &["auditd.*", "auditd_manager.*"],
        category: None,
        namespaces: &["auditd."],
    },
    IndexPattern {
        elastic: "logs-auditd_manager.auditd",
        sources: &["auditd_manager.auditd"],
        category: None,
        namespaces: &["auditd."],
    },
    IndexPattern {
        elastic: "packetbeat",
        sources: &["zeek.*", "network_traffic.*"],
        category: None,
        namespaces: &[
            "network_traffic.",
            "zeek.",
            "dhcpv4.",
            "dns.",
            "http.",
            "tls.",
        ],
    },
    IndexPattern {
        elastic: "logs-fortinet_fortigate",
        sources: &["fortinet_fortigate.*"],
        category: None,
        namespaces: &["fortinet."],
    },
    IndexPattern {
        elastic: "logs-aws_bedrock",
        sources: &["aws_bedrock.*"],
        category: None,
        namespaces: &["aws_bedrock.", "gen_ai.", "aws."],
    },
    IndexPattern {
        elastic: "logs-aws_bedrock.invocation",
        sources: &["aws_bedrock.invocation"],
        category: None,
        namespaces: &["aws_bedrock.", "gen_ai.", "aws."],
    },
    IndexPattern {
        elastic: "logs-aws_bedrock_agentcore.runtime_application_logs",
        sources: &["aws_bedrock_agentcore.runtime_application_logs"],
        category: None,
        namespaces: &["aws_bedrock_agentcore.", "gen_ai.", "aws."],
    },
    // Alerts: `detect --lake` writes each alert as an event of the source `secops.alerts`, with
    // Kibana's alert field names beside ours.
    IndexPattern {
        elastic: ".alerts-security",
        sources: &["secops.alerts"],
        category: None,
        namespaces: &["kibana.alert.", "kibana.space_ids", "signal."],
    },
    IndexPattern {
        elastic: ".alerts-security.alerts",
        sources: &["secops.alerts"],
        category: None,
        namespaces: &["kibana.alert.", "kibana.space_ids", "signal."],
    },
];

/// Elastic integration namespaces (each package's fields are under its name) that a query over
/// every source (`FROM events`, `logs-*`) may name; a query naming its source (`logs-<package>.*`)
/// gets its package's namespace whether listed here or not.
pub const INTEGRATIONS: &[&str] = &[
    "aws",
    "azure",
    "gcp",
    "google_workspace",
    "okta",
    "o365",
    "github",
    "kubernetes",
    "cloudflare",
    "crowdstrike",
    "sentinel_one",
    "m365_defender",
    "microsoft_defender_endpoint",
    "panw",
    "fortinet",
    "cisco_asa",
    "zeek",
    "suricata",
    "network_traffic",
    "auditd",
    "system",
    "nginx",
    "apache",
    "iis",
    "tomcat",
    "traefik",
    "gen_ai",
    "aws_bedrock",
    "cef",
    "winlog",
    "powershell",
    "kibana",
];

/// What the sources a FROM names read: a filter over the lake (none: everything) and the
/// namespaces their fields may come from.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// `None`: every source (`events`, `logs-*`).
    pub filter: Option<DfExpr>,
    pub namespaces: Vec<String>,
    /// Every namespace is open (the query reads every source).
    pub every_namespace: bool,
}

/// What one index pattern of a FROM reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternSources {
    /// Lake source names (`windows.security`), a trailing `*` for every source with that start.
    pub sources: Vec<String>,
    /// Only events of this `event.category`.
    pub category: Option<&'static str>,
    /// Field namespaces (each ending in `.`) the data carries beyond ECS.
    pub namespaces: Vec<String>,
}

/// What an index pattern reads: `None` for every source (`events`, `logs-*`); `Err` names a
/// pattern nothing reads.
pub fn pattern_sources(source: &str) -> Result<Option<PatternSources>, String> {
    let source = source.trim();
    if matches!(
        source,
        "events" | "logs-*" | "*" | "filebeat-*" | "logs-*-*"
    ) {
        return Ok(None);
    }
    let key = source.trim_end_matches('*').trim_end_matches(['-', '.']);
    if let Some(p) = INDEX_PATTERNS.iter().find(|p| p.elastic == key) {
        return Ok(Some(PatternSources {
            sources: p.sources.iter().map(|s| (*s).to_string()).collect(),
            category: p.category,
            namespaces: p.namespaces.iter().map(|s| (*s).to_string()).collect(),
        }));
    }
    let Some(dataset) = key.strip_prefix("logs-") else {
        return Err(format!(
            "unknown source {source:?}: use events, or an index pattern such as logs-* or logs-system.auth-* (the README lists them)"
        ));
    };
    if dataset.is_empty() || dataset.contains(['*', ',', ' ']) {
        return Err(format!("unknown source {source:?}"));
    }
    let package = dataset.split('.').next().unwrap_or(dataset);
    // `logs-okta*` reads every okta dataset; `logs-okta.system-*` one.
    let name = if source.ends_with("-*") && dataset.contains('.') {
        dataset.to_string()
    } else {
        format!("{dataset}*")
    };
    Ok(Some(PatternSources {
        sources: vec![name],
        category: None,
        namespaces: vec![format!("{package}.")],
    }))
}

/// The scope of a FROM's source list; `Err` names the source no rule reads.
pub fn scope(sources: &[String]) -> Result<Scope, String> {
    let mut scope = Scope::default();
    let mut filters: Vec<DfExpr> = Vec::new();
    let mut everything = false;
    for source in sources {
        let Some(PatternSources {
            sources,
            category,
            namespaces,
        }) = pattern_sources(source)?
        else {
            everything = true;
            scope.every_namespace = true;
            continue;
        };
        let mut any: Option<DfExpr> = None;
        for s in &sources {
            let test = match s.strip_suffix('*') {
                Some(prefix) => ident(SOURCE).like(lit(format!("{}%", like_escape(prefix)))),
                None => ident(SOURCE).eq(lit(s.clone())),
            };
            any = Some(match any {
                Some(a) => a.or(test),
                None => test,
            });
        }
        if let Some(mut test) = any {
            if let Some(category) = category {
                test = test.and(ident("event.category").eq(lit(category)));
            }
            filters.push(test);
        }
        for n in namespaces {
            if !scope.namespaces.contains(&n) {
                scope.namespaces.push(n);
            }
        }
    }
    if !everything {
        scope.filter = filters.into_iter().reduce(DfExpr::or);
    }
    Ok(scope)
}

/// Text as a LIKE pattern that matches only itself (`\\`, `%`, `_` escaped).
pub(crate) fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

impl Scope {
    /// Whether `name` lies under a namespace the sources carry.
    fn carries(&self, name: &str) -> bool {
        if self.every_namespace {
            return INDEX_PATTERNS
                .iter()
                .flat_map(|p| p.namespaces.iter())
                .any(|n| name.starts_with(n))
                || self.generic_namespace(name);
        }
        self.namespaces.iter().any(|n| name.starts_with(n.as_str()))
    }

    /// Over every source, the namespace of an integration whose data the lake can hold.
    fn generic_namespace(&self, name: &str) -> bool {
        let Some((first, rest)) = name.split_once('.') else {
            return false;
        };
        !rest.is_empty() && INTEGRATIONS.contains(&first)
    }
}

/// A name the field map or ECS knows (no namespaces).
fn resolve_known(name: &str, has: &dyn Fn(&str) -> bool) -> Option<DfExpr> {
    mapped(name, has).or_else(|| ecs_type(name).map(|ty| json(&[name], ty)))
}

/// How a name resolves when it is not a column.
pub fn resolve(name: &str, scope: &Scope, has: &dyn Fn(&str) -> bool) -> Option<DfExpr> {
    if !has(FIELDS) {
        return None;
    }
    if let Some(e) = mapped(name, has) {
        return Some(e);
    }
    if let Some(ty) = ecs_type(name) {
        return Some(json(&[name], ty));
    }
    if scope.carries(name) {
        return Some(json(&[name], FieldType::Text));
    }
    None
}

/// A value read from `_fields` at the first of `paths` that holds one, as `ty`.
pub fn json(paths: &[&str], ty: FieldType) -> DfExpr {
    let reads: Vec<DfExpr> = paths
        .iter()
        .map(|p| field_udf(ty).call(vec![ident(FIELDS), lit(*p)]))
        .collect();
    match reads.len() {
        1 => reads
            .into_iter()
            .next()
            .unwrap_or_else(|| lit(ScalarValue::Null)),
        _ => f::coalesce(reads),
    }
}

/// The value at a dotted path of any JSON text, as text.
pub fn json_of(text: DfExpr, path: &str) -> DfExpr {
    field_udf(FieldType::Text).call(vec![text, lit(path.to_string())])
}

/// The field map: Elastic names the lake holds under another name, or derives.
fn mapped(name: &str, has: &dyn Fn(&str) -> bool) -> Option<DfExpr> {
    let column = |c: &str| has(c).then(|| ident(c));
    Some(match name {
        "data_stream.dataset" | "event.dataset" => {
            let dataset = column("event.dataset")?;
            match column(SOURCE) {
                Some(source) => f::coalesce(vec![dataset, source]),
                None => dataset,
            }
        }
        "data_stream.namespace" => lit("default"),
        "data_stream.type" => lit("logs"),
        // Elastic's backing index name, from the source: `logs-windows.security-default`.
        "_index" => {
            let source = column(SOURCE)?;
            f::concat(vec![lit("logs-"), source, lit("-default")])
        }
        // Lake rows are written once: every row is its first version.
        "_version" => lit(1i64),
        // One agent per host: the host's id, else its name.
        "agent.id" => f::coalesce(vec![
            json(&["agent.id"], FieldType::Text),
            column("host.id")?,
            column("host.name")?,
        ]),
        "host.os.type" | "host.os.family" | "host.os.platform" => {
            let source = column(SOURCE)?;
            f::coalesce(vec![
                json(&[name], FieldType::Text),
                when(source.clone().like(lit("windows.%")), lit("windows"))
                    .when(
                        source
                            .like(lit("system.%"))
                            .and(lit(name != "host.os.family")),
                        lit("linux"),
                    )
                    .end()
                    .ok()?,
            ])
        }
        "winlog.logon.type" => {
            // The number (our reader's, or the event's own) as the name Elastic gives it.
            let number = json(&[name, "Event.EventData.LogonType"], FieldType::Text);
            let mut names = when(number.clone().eq(lit("2")), lit("Interactive"));
            for (n, label) in LOGON_TYPES.iter().skip(1) {
                names = names.when(number.clone().eq(lit(*n)), lit(*label));
            }
            names.otherwise(number).ok()?
        }
        "winlog.logon.id" => json(&[name, "Event.EventData.TargetLogonId"], FieldType::Text),
        "powershell.file.script_block_text" => {
            json(&[name, "Event.EventData.ScriptBlockText"], FieldType::Text)
        }
        "powershell.file.script_block_id" => {
            json(&[name, "Event.EventData.ScriptBlockId"], FieldType::Text)
        }
        "powershell.file.script_block_length" => f::coalesce(vec![
            json(&[name], FieldType::Long),
            datafusion::logical_expr::cast(
                f::character_length(json(&["Event.EventData.ScriptBlockText"], FieldType::Text)),
                DataType::Int64,
            ),
        ]),
        "powershell.sequence" => json(&[name, "Event.EventData.MessageNumber"], FieldType::Long),
        "powershell.total" => json(&[name, "Event.EventData.MessageTotal"], FieldType::Long),
        _ => {
            // Elastic's `.caseless` sub-field: the value in lower case.
            if let Some(base) = name.strip_suffix(".caseless") {
                let value = if has(base) {
                    ident(base)
                } else {
                    resolve_known(base, has)?
                };
                return Some(f::lower(datafusion::logical_expr::cast(
                    value,
                    DataType::Utf8,
                )));
            }
            if let Some(rest) = name.strip_prefix("winlog.event_data.") {
                let ours = format!("Event.EventData.{rest}");
                return Some(json(&[name, ours.as_str()], FieldType::Text));
            }
            if let Some(rest) = name.strip_prefix("aws.cloudtrail.") {
                // The CloudTrail reader keeps the record's own names: `user_identity.type` is
                // `userIdentity.type`; `flattened.request_parameters.x` is `requestParameters.x`.
                let rest = rest.strip_prefix("flattened.").unwrap_or(rest);
                let ours = rest
                    .split('.')
                    .map(camel_case)
                    .collect::<Vec<_>>()
                    .join(".");
                return Some(json(&[name, ours.as_str()], FieldType::Text));
            }
            return None;
        }
    })
}

/// The name an event carries (what a rule reads) for a field a hunt names: Windows event data under
/// the EVTX reader's `Event.EventData.*`, CloudTrail's `aws.cloudtrail.*` under the record's own
/// names, the rest as named. Fields the field map derives (`winlog.logon.type` as a word,
/// `host.os.type` from the source) have no single field to read: `Err` says so.
pub fn event_field(name: &str) -> Result<String, String> {
    if let Some(rest) = name.strip_prefix("winlog.event_data.") {
        return Ok(format!("Event.EventData.{rest}"));
    }
    if let Some(rest) = name.strip_prefix("aws.cloudtrail.") {
        let rest = rest.strip_prefix("flattened.").unwrap_or(rest);
        return Ok(rest
            .split('.')
            .map(camel_case)
            .collect::<Vec<_>>()
            .join("."));
    }
    match name {
        "data_stream.dataset" => Ok("event.dataset".into()),
        "winlog.logon.id" => Ok("Event.EventData.TargetLogonId".into()),
        "powershell.file.script_block_text" => Ok("powershell.file.script_block_text".into()),
        _ if MAPPED_NAMES.contains(&name) || name.starts_with('_') => Err(format!(
            "the hunt language derives {name} from other fields; a rule reads the fields themselves"
        )),
        _ => Ok(name.to_string()),
    }
}

/// The names the field map gives explicitly (a KEEP pattern materializes those it covers).
pub const MAPPED_NAMES: &[&str] = &[
    "data_stream.dataset",
    "data_stream.namespace",
    "data_stream.type",
    "_index",
    "_version",
    "agent.id",
    "host.os.type",
    "host.os.family",
    "host.os.platform",
    "winlog.logon.type",
    "winlog.logon.id",
    "powershell.file.script_block_text",
    "powershell.file.script_block_id",
    "powershell.file.script_block_length",
    "powershell.sequence",
    "powershell.total",
];

/// Windows logon type numbers and the names Elastic's winlog pipeline gives them.
const LOGON_TYPES: &[(&str, &str)] = &[
    ("2", "Interactive"),
    ("3", "Network"),
    ("4", "Batch"),
    ("5", "Service"),
    ("7", "Unlock"),
    ("8", "NetworkCleartext"),
    ("9", "NewCredentials"),
    ("10", "RemoteInteractive"),
    ("11", "CachedInteractive"),
    ("12", "CachedRemoteInteractive"),
    ("13", "CachedUnlock"),
];

/// `request_parameters` -> `requestParameters`.
fn camel_case(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    let mut upper = false;
    for c in segment.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The function reading a `_fields` path as `ty` (`lake_text(_fields, 'okta.actor.id')`).
fn field_udf(ty: FieldType) -> ScalarUDF {
    let name = match ty {
        FieldType::Text => "lake_text",
        FieldType::Long => "lake_long",
        FieldType::Double => "lake_double",
        FieldType::Boolean => "lake_bool",
        FieldType::Date => "lake_date",
    };
    create_udf(
        name,
        vec![DataType::Utf8, DataType::Utf8],
        ty.data_type(),
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| read_fields(args, ty)),
    )
}

/// The UDF: each row's `_fields` JSON, the value at the path, as the type (null when absent or
/// when it does not fit).
fn read_fields(args: &[ColumnarValue], ty: FieldType) -> datafusion::error::Result<ColumnarValue> {
    let [fields, path] = args else {
        return Err(DataFusionError::Plan(
            "a lake field takes two arguments".into(),
        ));
    };
    let ColumnarValue::Scalar(ScalarValue::Utf8(Some(path))) = path else {
        return Err(DataFusionError::Plan(
            "a lake field's path is a string".into(),
        ));
    };
    let array = fields.to_array(1)?;
    let texts = array
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| DataFusionError::Plan("_fields is text".into()))?;
    let found = texts
        .iter()
        .map(|row| row.and_then(|json| lookup(json, path)));
    let out: ArrayRef = match ty {
        FieldType::Text => {
            let mut b = StringBuilder::new();
            for v in found {
                b.append_option(v.map(|v| text(&v)));
            }
            Arc::new(b.finish())
        }
        FieldType::Long => {
            let mut b = Int64Builder::new();
            for v in found {
                b.append_option(v.and_then(|v| long(&v)));
            }
            Arc::new(b.finish())
        }
        FieldType::Double => {
            let mut b = Float64Builder::new();
            for v in found {
                b.append_option(v.and_then(|v| match v {
                    Value::Float(x) => Some(x),
                    Value::Int(i) => Some(i as f64),
                    Value::Str(s) => s.trim().parse().ok(),
                    _ => None,
                }));
            }
            Arc::new(b.finish())
        }
        FieldType::Boolean => {
            let mut b = BooleanBuilder::new();
            for v in found {
                b.append_option(v.and_then(|v| match v {
                    Value::Bool(x) => Some(x),
                    Value::Str(s) => match s.as_ref() {
                        "true" => Some(true),
                        "false" => Some(false),
                        _ => None,
                    },
                    _ => None,
                }));
            }
            Arc::new(b.finish())
        }
        FieldType::Date => {
            let mut b = TimestampNanosecondBuilder::new().with_timezone("UTC");
            for v in found {
                b.append_option(v.and_then(|v| {
                    match v {
                        Value::Time(t) => Some(t.unix_nanos()),
                        Value::Str(s) => secops_event::Timestamp::parse_rfc3339(&s)
                            .ok()
                            .map(|t| t.unix_nanos()),
                        Value::Int(ms) => ms.checked_mul(1_000_000),
                        _ => None,
                    }
                }));
            }
            Arc::new(b.finish())
        }
    };
    Ok(if matches!(fields, ColumnarValue::Scalar(_)) {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
    } else {
        ColumnarValue::Array(out)
    })
}

/// The value at a dotted path of a JSON object (flat keys, nested objects or both; through arrays
/// of objects, several values becoming an array).
pub fn lookup(json: &str, path: &str) -> Option<Value> {
    let value: Value = serde_json::from_str(json).ok()?;
    let object: &Object = value.as_object()?;
    let mut found = Vec::new();
    object.lookup_all(path, &mut found);
    match found.as_slice() {
        [] => None,
        [Value::Null] => None,
        [one] => Some((*one).clone()),
        many => Some(Value::Array(many.iter().map(|v| (*v).clone()).collect())),
    }
}

/// A value as text: scalars as themselves, a list of one as its item, others as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::Array(items) if items.len() == 1 => items.first().map(text).unwrap_or_default(),
        other => other.to_string(),
    }
}

fn long(value: &Value) -> Option<i64> {
    match value {
        Value::Int(i) => Some(*i),
        Value::Float(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => Some(*x as i64),
        Value::Str(s) => s.trim().parse().ok(),
        Value::Array(items) if items.len() == 1 => items.first().and_then(long),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_reads_flat_nested_and_mixed_paths() {
        let json = r#"{"a.b":1,"Event":{"EventData":{"LogonType":"3"}},"l":[{"x":"p"},{"x":"q"}]}"#;
        assert_eq!(lookup(json, "a.b"), Some(Value::Int(1)));
        assert_eq!(
            lookup(json, "Event.EventData.LogonType").map(|v| text(&v)),
            Some("3".to_string())
        );
        assert_eq!(
            lookup(json, "l.x").map(|v| text(&v)),
            Some(r#"["p","q"]"#.to_string())
        );
        assert_eq!(lookup(json, "missing"), None);
        assert_eq!(lookup("not json", "a"), None);
    }

    #[test]
    fn ecs_catalogue_is_read_with_types() {
        assert_eq!(ecs_type("process.pid"), Some(FieldType::Long));
        assert_eq!(ecs_type("host.os.type"), Some(FieldType::Text));
        assert_eq!(ecs_type("event.created"), Some(FieldType::Date));
        assert_eq!(ecs_type("process.Ext.ancestry"), None);
        assert!(ECS.len() > 2000);
    }

    #[test]
    fn index_patterns_read_their_sources_and_namespaces() {
        let s = scope(&["logs-okta.system-*".to_string()]).unwrap_or_default();
        assert!(s.filter.is_some());
        assert!(s.carries("okta.actor.id"));
        assert!(!s.carries("azure.signinlogs.x"));
        let e = scope(&["logs-endpoint.events.process-*".to_string()]).unwrap_or_default();
        assert!(e.carries("process.Ext.token.integrity_level_name"));
        assert!(scope(&["metrics-*".to_string()]).is_err());
        assert_eq!(camel_case("session_context"), "sessionContext");
    }
}

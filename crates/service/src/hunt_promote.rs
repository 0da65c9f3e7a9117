//! `hunt promote`: a hunt whose query is a plain filter, a threshold over a stack or a first-seen
//! anti-join becomes a `query`, `threshold` or `new_terms` rule (`secops_hunt_lang::promote` says
//! which and why not). The rule keeps a link to its hunt (`[metadata.source]`, kind `hunt`), its
//! log source is read from the hunt's FROM, its ATT&CK mapping from the hunt's techniques, and the
//! hunt's test cases of that query come with it as rule cases, the rows they expect turned into
//! the alerts they predict.

use std::fmt::Write as _;

use secops_hunt_lang::hunt_file::TestLanguage;
use secops_hunt_lang::promote::{promotion, Promotion, RuleShape, Span};

use crate::hunt_library::HuntEntry;

/// What `hunt promote` needs besides the hunt.
#[derive(Debug, Clone)]
pub struct PromoteOptions<'a> {
    /// Which of the hunt's queries (from 0).
    pub query: usize,
    /// The new rule's id (a lowercase UUID).
    pub id: String,
    /// `YYYY-MM-DD`.
    pub today: String,
    /// A threshold rule's window when the hunt bounds no range (default one day).
    pub window: Option<String>,
    /// How far back a new-terms rule remembers when the hunt compares with all earlier events
    /// (default a year).
    pub history: Option<String>,
    /// ATT&CK, for the rule's tactics and technique names.
    pub attack: Option<&'a secops_attack::Catalogue>,
}

/// The rule a hunt became.
#[derive(Debug, Clone)]
pub struct Promoted {
    /// Where the rule goes below the rules folder (`<tactic>/<tactic>_<name>.toml`).
    pub path: std::path::PathBuf,
    pub text: String,
    /// `query`, `threshold` or `new_terms`.
    pub rule_type: &'static str,
    /// What the translation decided that the hunt did not say, one sentence each.
    pub notes: Vec<String>,
    /// Test cases carried over.
    pub carried: usize,
}

/// The default window of a threshold rule from a hunt without a range.
const DEFAULT_WINDOW: &str = "1d";
/// The default memory of a new-terms rule from a hunt that compares with all earlier events.
const DEFAULT_HISTORY: &str = "365d";

/// Turns the hunt's query into a rule, or says why it cannot.
pub fn promote(entry: &HuntEntry, options: &PromoteOptions<'_>) -> Result<Promoted, String> {
    let hunt = &entry.file.hunt;
    let text = hunt.query.get(options.query).ok_or_else(|| {
        format!(
            "the hunt has no query {} in the hunt language (it has {})",
            options.query + 1,
            hunt.query.len()
        )
    })?;
    let query = secops_hunt_lang::parse(text).map_err(|e| e.describe(text))?;
    let p = promotion(&query, &secops_hunt::fields::event_field)?;
    let mut notes = Vec::new();
    let log_source = log_source(&p.sources)?;
    // Several datasets are more than a log source says: the rule names them as the hunt's FROM does.
    let kql = match &log_source.datasets {
        Some(datasets) => {
            let names: Vec<String> = datasets.iter().map(|d| toml_string(d)).collect();
            let only = format!("event.dataset:({})", names.join(" or "));
            if p.kql.is_empty() {
                only
            } else {
                format!("{only} and ({})", p.kql)
            }
        }
        None => p.kql.clone(),
    };
    let (rule_type, table) = rule_table(&p, options, &mut notes)?;
    let threat = threat(&hunt.mitre, options.attack, &mut notes);
    let primary = threat.first();
    let mut tags = Vec::new();
    if let Some(t) = primary {
        tags.push(format!("Tactic: {}", t.tactic.name));
    }
    tags.push("Use Case: Threat Detection".to_string());
    tags.push("Use Case: Threat Hunting".to_string());
    tags.push(format!(
        "Rule Type: {}",
        match rule_type {
            "threshold" => "Threshold",
            "new_terms" => "New Terms",
            _ => "Query",
        }
    ));
    let stem = secops_rules::naming::snake_case(&hunt.name);
    if stem.is_empty() {
        return Err(format!(
            "the hunt's name {:?} gives no file name",
            hunt.name
        ));
    }
    let path = match primary {
        Some(t) => {
            let folder = t.shortname.replace('-', "_");
            std::path::Path::new(&folder).join(format!("{folder}_{stem}.toml"))
        }
        None => std::path::PathBuf::from(format!("{stem}.toml")),
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "[metadata]\ncreation_date = \"{today}\"\nupdated_date = \"{today}\"\nmaturity = \"development\"\n",
        today = options.today
    );
    let _ = writeln!(
        out,
        "[metadata.source]\nkind = \"hunt\"\noriginal_id = {}\noriginal_path = {}\n",
        toml_string(&hunt.uuid),
        toml_string(&entry.path.display().to_string().replace('\\', "/"))
    );
    let authors = if hunt.author.is_empty() {
        vec!["secops".to_string()]
    } else {
        hunt.author.clone()
    };
    let mut description = hunt.description.trim().to_string();
    let _ = write!(
        description,
        "\n\nPromoted from the hunt \"{}\" ({}).",
        hunt.name, hunt.uuid
    );
    let mut note = String::from("## Triage\n");
    if let Some(h) = &hunt.hypothesis {
        let _ = writeln!(note, "Hypothesis: {}\n", h.trim());
    }
    for n in &hunt.notes {
        let _ = writeln!(note, "- {}", n.trim());
    }
    let _ = writeln!(
        note,
        "\nThe hunt behind this rule: `secops hunt show {}`.",
        hunt.uuid
    );
    let _ = writeln!(
        out,
        "[rule]\nid = {}\nname = {}\ndescription = {}\nauthor = {}\nlicense = {}\ntype = \"{rule_type}\"\nlanguage = \"kql\"\nquery = {}\nseverity = \"medium\"\nrisk_score = 47\ntags = {}\nreferences = {}\nnote = {}\n",
        toml_string(&options.id),
        toml_string(&hunt.name),
        toml_multiline(&description),
        toml_list(&authors),
        toml_string(hunt.license.as_deref().unwrap_or("Apache-2.0")),
        toml_multiline(&kql),
        toml_list(&tags),
        toml_list(&hunt.references),
        toml_multiline(&note),
    );
    out.push_str("[rule.log_source]\n");
    for (key, value) in [
        ("product", &log_source.product),
        ("category", &log_source.category),
        ("service", &log_source.service),
    ] {
        if let Some(v) = value {
            let _ = writeln!(out, "{key} = {}", toml_string(v));
        }
    }
    if !table.is_empty() {
        out.push('\n');
        out.push_str(&table);
    }
    for t in &threat {
        out.push_str(&t.toml());
    }
    let mut carried = 0;
    for (i, test) in entry.file.tests.iter().enumerate() {
        if test.language != TestLanguage::Hunt || test.query != options.query {
            continue;
        }
        match carry(test, &p.shape) {
            Ok(case) => {
                out.push('\n');
                out.push_str(&case);
                carried += 1;
            }
            Err(why) => notes.push(format!(
                "test {} ({:?}) is not carried: {why}",
                i + 1,
                test.name
            )),
        }
    }
    Ok(Promoted {
        path,
        text: out,
        rule_type,
        notes,
        carried,
    })
}

/// The rule's type and its type table.
fn rule_table(
    p: &Promotion,
    options: &PromoteOptions<'_>,
    notes: &mut Vec<String>,
) -> Result<(&'static str, String), String> {
    Ok(match &p.shape {
        RuleShape::Query => {
            if let Some(range) = p.range {
                notes.push(format!(
                    "the hunt looks back {range}; the rule sees every event as it arrives"
                ));
            }
            ("query", String::new())
        }
        RuleShape::Threshold {
            fields,
            value,
            cardinality,
        } => {
            let window = match (p.range, &options.window) {
                (_, Some(w)) => w.clone(),
                (Some(range), None) => range.to_string(),
                (None, None) => {
                    notes.push(format!(
                        "the hunt counts over its whole range; the rule counts within {DEFAULT_WINDOW} (--window sets it)"
                    ));
                    DEFAULT_WINDOW.to_string()
                }
            };
            let mut table = format!(
                "[rule.threshold]\nfield = {}\nvalue = {value}\nwindow = {}\n",
                toml_list(fields),
                toml_string(&window)
            );
            for (field, value) in cardinality {
                let _ = write!(
                    table,
                    "[[rule.threshold.cardinality]]\nfield = {}\nvalue = {value}\n",
                    toml_string(field)
                );
            }
            ("threshold", table)
        }
        RuleShape::NewTerms { fields, history } => {
            let learning = p.range.ok_or("a first-seen hunt needs its recent range")?;
            let remembers = match (history, &options.history) {
                (_, Some(h)) => h.clone(),
                (Some(h), None) => h.to_string(),
                (None, None) => {
                    notes.push(format!(
                        "the hunt compares with every earlier event; the rule remembers {DEFAULT_HISTORY} (--history sets it)"
                    ));
                    DEFAULT_HISTORY.to_string()
                }
            };
            let remembers_ns = remembers
                .parse::<secops_rules::Duration>()
                .map_err(|e| format!("history {remembers:?}: {e}"))?
                .as_nanos();
            if nanos(learning) > remembers_ns {
                return Err(format!(
                    "the hunt's recent range ({learning}) is longer than the history it compares with ({remembers})"
                ));
            }
            notes.push(format!(
                "the rule learns for the hunt's range ({learning}) after it starts, then alerts on values it has not seen within {remembers}"
            ));
            (
                "new_terms",
                format!(
                    "[rule.new_terms]\nfields = {}\nhistory_window_start = \"now-{remembers}\"\nlearning = \"{learning}\"\n",
                    toml_list(fields)
                ),
            )
        }
    })
}

fn nanos(span: Span) -> u64 {
    let unit: u64 = match span.unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        _ => 86_400,
    };
    span.amount
        .saturating_mul(unit)
        .saturating_mul(1_000_000_000)
}

/// A rule's `[rule.log_source]`, and the datasets when the hunt reads several.
#[derive(Debug, Default, PartialEq, Eq)]
struct LogSource {
    product: Option<String>,
    category: Option<String>,
    service: Option<String>,
    datasets: Option<Vec<String>>,
}

/// The log source of the events the hunt's FROM reads: the product of the lake sources' module,
/// the service when one dataset is read, the category an index pattern fixes.
fn log_source(patterns: &[String]) -> Result<LogSource, String> {
    let mut sources: Vec<String> = Vec::new();
    let mut categories: Vec<Option<&str>> = Vec::new();
    for pattern in patterns {
        match secops_hunt::fields::pattern_sources(pattern)? {
            None => return Ok(LogSource::default()),
            Some(read) => {
                categories.push(read.category);
                sources.extend(read.sources);
            }
        }
    }
    let mut out = LogSource::default();
    if sources.len() > 1 && sources.iter().all(|s| !s.contains('*')) {
        out.datasets = Some(sources.clone());
    }
    if let [Some(category), rest @ ..] = categories.as_slice() {
        if rest.iter().all(|c| *c == Some(*category)) {
            out.category = Some((*category).to_string());
        }
    }
    let modules: Vec<&str> = sources
        .iter()
        .map(|s| s.split('.').next().unwrap_or(s).trim_end_matches('*'))
        .collect();
    let Some(module) = modules.first().filter(|m| modules.iter().all(|x| x == *m)) else {
        return Ok(out);
    };
    if module.is_empty() {
        return Ok(out);
    }
    out.product = Some(match *module {
        "system" => "linux".to_string(),
        other => other.to_string(),
    });
    if let [only] = sources.as_slice() {
        if let Some((_, service)) = only.split_once('.') {
            if !service.is_empty() && !service.contains('*') && !service.contains('.') {
                out.service = Some(service.to_string());
            }
        }
    }
    Ok(out)
}

/// An ATT&CK object as a rule names it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    id: String,
    name: String,
}

/// A technique of a `[[rule.threat]]`, with the sub-techniques the hunt names.
struct ThreatTechnique {
    technique: Named,
    subtechniques: Vec<Named>,
}

/// One `[[rule.threat]]`: a tactic and the hunt's techniques under it.
struct Threat {
    /// The tactic's shortname (`credential-access`): the rule's folder.
    shortname: String,
    tactic: Named,
    techniques: Vec<ThreatTechnique>,
}

impl Threat {
    fn toml(&self) -> String {
        let Named { id, name } = &self.tactic;
        let mut out = format!(
            "\n[[rule.threat]]\nframework = \"MITRE ATT&CK\"\n[rule.threat.tactic]\nid = \"{id}\"\nname = {}\nreference = \"https://attack.mitre.org/tactics/{id}/\"\n",
            toml_string(name)
        );
        for t in &self.techniques {
            let Named { id, name } = &t.technique;
            let _ = write!(
                out,
                "[[rule.threat.technique]]\nid = \"{id}\"\nname = {}\nreference = \"https://attack.mitre.org/techniques/{id}/\"\n",
                toml_string(name)
            );
            for sub in &t.subtechniques {
                let _ = write!(
                    out,
                    "[[rule.threat.technique.subtechnique]]\nid = \"{}\"\nname = {}\nreference = \"https://attack.mitre.org/techniques/{}/\"\n",
                    sub.id,
                    toml_string(&sub.name),
                    sub.id.replace('.', "/")
                );
            }
        }
        out
    }
}

/// The hunt's techniques grouped under their first tactic, in the order the hunt names them.
fn threat(
    techniques: &[String],
    attack: Option<&secops_attack::Catalogue>,
    notes: &mut Vec<String>,
) -> Vec<Threat> {
    if techniques.is_empty() {
        return Vec::new();
    }
    let Some(attack) = attack else {
        notes.push(
            "no ATT&CK data: the rule names no tactic or technique (pass --attack or set SECOPS_ATTACK)"
                .into(),
        );
        return Vec::new();
    };
    let mut out: Vec<Threat> = Vec::new();
    for id in techniques {
        let Some(technique) = attack.technique(id) else {
            notes.push(format!("{id} is not in the ATT&CK data: left out"));
            continue;
        };
        let Some(tactic) = technique
            .tactics
            .first()
            .and_then(|shortname| attack.tactic(shortname))
        else {
            notes.push(format!("{id} has no tactic in the ATT&CK data: left out"));
            continue;
        };
        let parent = Named {
            id: technique.parent_id().to_string(),
            name: attack
                .technique(technique.parent_id())
                .map_or_else(|| technique.name.clone(), |t| t.name.clone()),
        };
        let index = match out.iter().position(|t| t.tactic.id == tactic.id) {
            Some(i) => i,
            None => {
                out.push(Threat {
                    shortname: tactic.shortname.clone(),
                    tactic: Named {
                        id: tactic.id.clone(),
                        name: tactic.name.clone(),
                    },
                    techniques: Vec::new(),
                });
                out.len() - 1
            }
        };
        let list = &mut out[index].techniques;
        let at = match list.iter().position(|t| t.technique == parent) {
            Some(i) => i,
            None => {
                list.push(ThreatTechnique {
                    technique: parent,
                    subtechniques: Vec::new(),
                });
                list.len() - 1
            }
        };
        let subs = &mut list[at].subtechniques;
        if technique.is_subtechnique() && !subs.iter().any(|s| s.id == *id) {
            subs.push(Named {
                id: id.clone(),
                name: technique.name.clone(),
            });
        }
    }
    out
}

/// A hunt test case as a rule case: its events, and the alerts its expected rows predict.
fn carry(test: &secops_hunt_lang::HuntTest, shape: &RuleShape) -> Result<String, String> {
    let count = test
        .expect_count
        .or_else(|| test.expect_rows.as_ref().map(|r| r.len() as u64))
        .ok_or("it expects no rows or count")?;
    let mut out = format!(
        "[[test]]\nname = {}\nnow = {}\n",
        toml_string(&format!("{} (from the hunt)", test.name)),
        toml_string(&test.now)
    );
    let year = test.now.get(..4).and_then(|y| y.parse::<i32>().ok());
    if let Some(year) = year {
        let _ = writeln!(out, "year = {year}");
    }
    if let Some(parser) = &test.parser {
        let _ = writeln!(out, "parser = {}", toml_string(parser));
    }
    if !test.raw.is_empty() {
        let _ = writeln!(out, "raw = {}", toml_lines(&test.raw));
    }
    if let Some(file) = &test.file {
        if !file.starts_with("shared/") {
            return Err(format!(
                "its file {file:?} is relative to the hunt; rule cases read files under shared/ only"
            ));
        }
        let _ = writeln!(out, "corpus = {}", toml_string(file));
    }
    if count == 0 {
        out.push_str("expect = \"no_alert\"\n");
        return Ok(out);
    }
    let groups: Vec<String> = match shape {
        RuleShape::Query => Vec::new(),
        RuleShape::Threshold { fields, .. } | RuleShape::NewTerms { fields, .. } => test
            .expect_rows
            .iter()
            .flatten()
            .filter_map(|row| {
                fields
                    .iter()
                    .map(|f| row.get(f).and_then(|v| v.as_str()).map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .map(|values| values.join("|"))
            })
            .collect(),
    };
    match shape {
        // One alert per event.
        RuleShape::Query | RuleShape::NewTerms { .. } => {
            let _ = writeln!(out, "expect = \"alert\"\nalerts = {count}");
        }
        // A group that keeps counting may alert again; every expected group alerts at least once.
        RuleShape::Threshold { .. } => {
            let _ = writeln!(out, "min_alerts = {count}");
        }
    }
    if !groups.is_empty() {
        let _ = writeln!(out, "expect_groups = {}", toml_list(&groups));
    }
    Ok(out)
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn toml_list(items: &[String]) -> String {
    toml::Value::Array(items.iter().cloned().map(toml::Value::String).collect()).to_string()
}

/// A list of log lines, one per line, each a literal string when it can be (log lines are full of
/// backslashes and quotes).
fn toml_lines(items: &[String]) -> String {
    let mut out = String::from("[\n");
    for item in items {
        let literal_ok = !item.contains('\'') && !item.chars().any(char::is_control);
        if literal_ok {
            let _ = writeln!(out, "  '{item}',");
        } else {
            let _ = writeln!(out, "  {},", toml_string(item));
        }
    }
    out.push(']');
    out
}

/// A multi-line literal string when the text allows it (no `'''`, no control characters but
/// newlines and tabs), else a basic string.
fn toml_multiline(text: &str) -> String {
    let literal_ok = !text.contains("'''")
        && !text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t');
    if literal_ok {
        format!("'''\n{}\n'''", text.trim_end())
    } else {
        toml_string(text)
    }
}

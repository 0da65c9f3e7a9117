//! Hunt to rule: which hunt queries a detection rule can run as events arrive, and the parts of
//! that rule. Three shapes translate:
//!
//! - a plain filter (`FROM ... | WHERE ...`, then only KEEP, DROP, RENAME or SORT): every row is an
//!   event, and each becomes an alert of a `query` rule;
//! - a threshold (`... | STATS n = count(*) [, d = count_distinct(f)] BY fields | WHERE n >= K [AND d >=
//!   M]`): each group that reaches the count is an alert of a `threshold` rule (the distinct counts
//!   its cardinality);
//! - first seen (`... | JOIN kind=anti (FROM the same | WHERE the same, earlier | KEEP f) ON f [| STATS
//!   ... BY f]`): each value not in the history is an alert of a `new_terms` rule.
//!
//! The filter becomes KQL. Everything else is refused with the reason: what a rule cannot do (an
//! upper bound on a count, a sort that decides the rows, a process tree) is said, not approximated.

use crate::ast::{
    Aggregate, BinaryOp, Command, Expr, ExprKind, JoinKind, Literal, Name, Query, Stage,
};

/// What kind of rule a hunt becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleShape {
    /// Every row is one event: a `query` rule.
    Query,
    /// Groups counted: a `threshold` rule.
    Threshold {
        fields: Vec<String>,
        value: u64,
        /// `(field, distinct values)`, from `count_distinct(field) >= n`.
        cardinality: Vec<(String, u64)>,
    },
    /// Values new against the history: a `new_terms` rule.
    NewTerms {
        fields: Vec<String>,
        /// How far back the history goes (`now() - H` in the subquery), when it is bounded.
        history: Option<Span>,
    },
}

/// A length of time as the query wrote it (`7 days`), in the rule format's form (`7d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub amount: u64,
    /// `s`, `m`, `h` or `d`.
    pub unit: char,
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.amount, self.unit)
    }
}

/// The parts of the rule a hunt query becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// The index patterns of FROM.
    pub sources: Vec<String>,
    /// The filter in KQL (what every event the rule counts or alerts on matches).
    pub kql: String,
    pub shape: RuleShape,
    /// The range the hunt looks at (`@timestamp >= now() - D`): a threshold's window, a new-terms
    /// rule's learning period.
    pub range: Option<Span>,
}

/// Why a hunt query does not translate, as one sentence naming the stage.
pub type Refusal = String;

/// The name an event carries for a field the query names (the hunt language reads some fields
/// under Elastic's names), or why a rule cannot read it.
pub type FieldName<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// The rule a hunt query becomes, or why it cannot. `field` gives the name an event carries for a
/// field the query names.
pub fn promotion(query: &Query, field: FieldName<'_>) -> Result<Promotion, Refusal> {
    let stages = &query.stages;
    let Some(Stage {
        command: Command::From { sources, .. },
        ..
    }) = stages.first()
    else {
        return Err("a rule reads events: the query must start with FROM".into());
    };
    let sources = sources.clone();
    let mut filter = Filter {
        field: Some(field),
        ..Filter::default()
    };
    let mut rest = 1;
    // The filter: WHERE stages up to the first stage that changes what a row is.
    while let Some(stage) = stages.get(rest) {
        match &stage.command {
            Command::Where(condition) => filter.add(condition)?,
            Command::Keep(_) | Command::Drop(_) | Command::Sort(_) | Command::Rename(_) => {}
            _ => break,
        }
        rest += 1;
    }
    let shape = match stages.get(rest).map(|s| (&s.command, rest)) {
        None => RuleShape::Query,
        Some((
            Command::Stats {
                inline: false,
                aggregates,
                by,
            },
            at,
        )) => threshold(aggregates, by, &stages[at + 1..], at, field)?,
        Some((
            Command::Join {
                kind: JoinKind::Anti,
                query: history,
                on,
                within: None,
            },
            at,
        )) => first_seen(&sources, &filter, history, on, &stages[at + 1..], at, field)?,
        Some((command, at)) => return Err(no_rule_form(command, at)),
    };
    if filter.before.is_some() {
        return Err(
            "the query bounds its events' time from above (@timestamp < ...): a rule sees events as they come"
                .into(),
        );
    }
    if filter.conditions.is_empty() && shape == RuleShape::Query {
        return Err(
            "the query has no WHERE: as a rule it would alert on every event of its sources".into(),
        );
    }
    Ok(Promotion {
        sources,
        kql: filter.kql(),
        shape,
        range: filter.range,
    })
}

/// The refusal for a command no rule can run, at stage `at` (from 0).
fn no_rule_form(command: &Command, at: usize) -> Refusal {
    let why = match command {
        Command::Limit(_) => "a rule cannot cap its alerts at a number of rows",
        Command::Eval(_) => "a rule's filter cannot compute new fields first",
        Command::Stream { .. } => "a rule cannot compare events with their neighbours",
        Command::Tree { .. } => "a rule cannot walk a process tree",
        Command::Top { .. } => "a rule cannot rank values",
        Command::Join { .. } => {
            "only an anti-join against the same events' history has a rule form"
        }
        Command::Stats { .. } => "only STATS ... BY followed by WHERE count >= N has a rule form",
        _ => "it has no rule form",
    };
    format!(
        "{} (stage {}) does not translate: {why}",
        command.keyword(),
        at + 1
    )
}

/// The WHERE conditions of the events, apart from the time range.
#[derive(Default)]
struct Filter<'a> {
    field: Option<FieldName<'a>>,
    conditions: Vec<Expr>,
    range: Option<Span>,
    /// `@timestamp < now() - D`: the history side of a first-seen hunt.
    before: Option<Span>,
}

impl Filter<'_> {
    fn name(&self, name: &str) -> Result<String, String> {
        match self.field {
            Some(field) => field(name),
            None => Ok(name.to_string()),
        }
    }

    /// Adds a WHERE condition: its ANDed parts, time bounds set apart.
    fn add(&mut self, condition: &Expr) -> Result<(), Refusal> {
        if let ExprKind::Binary {
            op: BinaryOp::And,
            left,
            right,
        } = &condition.kind
        {
            self.add(left)?;
            return self.add(right);
        }
        if let Some((op, span)) = time_bound(condition)? {
            match op {
                BinaryOp::Gt | BinaryOp::GtEq => set_once(&mut self.range, span, condition)?,
                _ => set_once(&mut self.before, span, condition)?,
            }
            return Ok(());
        }
        kql(condition, &|n| self.name(n))?;
        self.conditions.push(condition.clone());
        Ok(())
    }

    fn kql(&self) -> String {
        let parts: Vec<String> = self
            .conditions
            .iter()
            .filter_map(|c| kql(c, &|n| self.name(n)).ok())
            .collect();
        match parts.len() {
            0 => String::new(),
            1 => parts.into_iter().next().unwrap_or_default(),
            _ => parts
                .iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join(" and "),
        }
    }

    /// The conditions as the query printer writes them, to compare two filters.
    fn printed(&self) -> Vec<String> {
        let mut out: Vec<String> = self.conditions.iter().map(ToString::to_string).collect();
        out.sort();
        out
    }
}

fn set_once(slot: &mut Option<Span>, span: Span, condition: &Expr) -> Result<(), Refusal> {
    if slot.replace(span).is_some() {
        return Err(format!(
            "{condition}: the time range is bounded twice on one side"
        ));
    }
    Ok(())
}

/// `@timestamp >= now() - 7 days` (or `>`, `<`, `<=`): the comparison and the span; other
/// conditions on `@timestamp` are refused, other conditions are not time bounds.
fn time_bound(condition: &Expr) -> Result<Option<(BinaryOp, Span)>, Refusal> {
    let ExprKind::Binary { op, left, right } = &condition.kind else {
        return Ok(None);
    };
    let is_time = |e: &Expr| matches!(&e.kind, ExprKind::Field(Name(n)) if n == "@timestamp");
    if !is_time(left) && !is_time(right) {
        return Ok(None);
    }
    let refuse = || {
        format!("{condition}: a rule's time can only be bounded as @timestamp >= now() - <time> (or < for a first-seen hunt's history)")
    };
    if !is_time(left) {
        return Err(refuse());
    }
    if !matches!(
        op,
        BinaryOp::Gt | BinaryOp::GtEq | BinaryOp::Lt | BinaryOp::LtEq
    ) {
        return Err(refuse());
    }
    let ExprKind::Binary {
        op: BinaryOp::Sub,
        left: now,
        right: duration,
    } = &right.kind
    else {
        return Err(refuse());
    };
    let is_now = matches!(&now.kind, ExprKind::Call { name, args, .. } if name.eq_ignore_ascii_case("now") && args.is_empty());
    let ExprKind::Duration {
        amount: Literal::Integer(amount),
        unit,
    } = &duration.kind
    else {
        return Err(refuse());
    };
    if !is_now || *amount <= 0 {
        return Err(refuse());
    }
    let amount = *amount as u64;
    let (amount, unit) = match crate::ast::TimeUnit::parse(&unit.to_ascii_lowercase()) {
        Some(crate::ast::TimeUnit::Second) => (amount, 's'),
        Some(crate::ast::TimeUnit::Minute) => (amount, 'm'),
        Some(crate::ast::TimeUnit::Hour) => (amount, 'h'),
        Some(crate::ast::TimeUnit::Day) => (amount, 'd'),
        Some(crate::ast::TimeUnit::Week) => (amount * 7, 'd'),
        _ => {
            return Err(format!(
                "{condition}: a rule's window is in seconds, minutes, hours, days or weeks"
            ))
        }
    };
    Ok(Some((*op, Span { amount, unit })))
}

/// `STATS ... BY fields | WHERE count >= K [AND distinct >= M]`, then presentation only.
fn threshold(
    aggregates: &[Aggregate],
    by: &[crate::ast::Assign],
    after: &[Stage],
    at: usize,
    field_name: FieldName<'_>,
) -> Result<RuleShape, Refusal> {
    let stage = at + 1;
    let name = |f: &str| field_name(f).map_err(|e| format!("STATS (stage {stage}) {f}: {e}"));
    let mut fields = Vec::new();
    for key in by {
        match (&key.name, &key.expr.kind) {
            (None, ExprKind::Field(Name(field))) => fields.push(name(field)?),
            _ => {
                return Err(format!(
                    "STATS (stage {stage}) groups by an expression ({}): a rule groups by fields",
                    key.expr
                ))
            }
        }
    }
    // What each named aggregate counts: `None` for count(*), the field for count_distinct(field).
    let mut counted: Vec<(String, Option<String>)> = Vec::new();
    for aggregate in aggregates {
        if aggregate.filter.is_some() {
            continue;
        }
        let Some(name) = &aggregate.name else {
            continue;
        };
        if let ExprKind::Call {
            name: f,
            args,
            star,
        } = &aggregate.expr.kind
        {
            let f = f.to_ascii_lowercase();
            match (f.as_str(), args.as_slice(), star) {
                ("count", [], true) => counted.push((name.0.clone(), None)),
                ("count_distinct", [arg], false) => {
                    if let ExprKind::Field(Name(field)) = &arg.kind {
                        counted.push((name.0.clone(), Some(field.clone())));
                    }
                }
                _ => {}
            }
        }
    }
    let Some(Stage {
        command: Command::Where(condition),
        ..
    }) = after.first()
    else {
        return Err(format!(
            "STATS (stage {stage}) is not followed by WHERE <count> >= N: without a threshold every group would alert"
        ));
    };
    let mut value = None;
    let mut cardinality = Vec::new();
    for part in and_parts(condition) {
        let refuse = |why: &str| format!("WHERE (stage {}) {part}: {why}", stage + 1);
        let ExprKind::Binary { op, left, right } = &part.kind else {
            return Err(refuse("only count >= N and count_distinct >= N translate"));
        };
        let (ExprKind::Field(Name(column)), ExprKind::Literal(Literal::Integer(n))) =
            (&left.kind, &right.kind)
        else {
            return Err(refuse(
                "only a counted column compared with a whole number translates",
            ));
        };
        let least = match op {
            BinaryOp::GtEq => *n,
            BinaryOp::Gt => n.saturating_add(1),
            BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Eq => {
                return Err(refuse(
                    "an upper bound or an exact count does not translate: a threshold rule alerts when a count reaches a value",
                ))
            }
            _ => return Err(refuse("only >= and > translate")),
        };
        let least = u64::try_from(least.max(1)).unwrap_or(1);
        match counted.iter().find(|(name, _)| name == column) {
            Some((_, None)) => {
                if value.replace(least).is_some() {
                    return Err(refuse("the count is bounded twice"));
                }
            }
            Some((_, Some(field))) => cardinality.push((name(field)?, least)),
            None => {
                return Err(refuse(
                    "it is neither count(*) nor count_distinct(field) of the STATS",
                ))
            }
        }
    }
    presentation_only(&after[1..], at + 2)?;
    Ok(RuleShape::Threshold {
        fields,
        value: value.unwrap_or(1),
        cardinality,
    })
}

/// The first-seen shape: the history subquery reads the same sources with the same filter, earlier;
/// the anti-join's keys are the new terms; a STATS after it may only group by them.
fn first_seen(
    sources: &[String],
    filter: &Filter,
    history: &Query,
    on: &[Name],
    after: &[Stage],
    at: usize,
    field: FieldName<'_>,
) -> Result<RuleShape, Refusal> {
    let stage = at + 1;
    let fields: Vec<String> = on
        .iter()
        .map(|n| field(&n.0).map_err(|e| format!("JOIN (stage {stage}) ON {}: {e}", n.0)))
        .collect::<Result<_, _>>()?;
    if fields.is_empty() || fields.len() > 3 {
        return Err(format!(
            "JOIN (stage {stage}): a new-terms rule takes one to three fields"
        ));
    }
    if filter.range.is_none() {
        return Err(format!(
            "JOIN (stage {stage}): a first-seen hunt needs its recent range (@timestamp >= now() - <time>) before the join"
        ));
    }
    let Some(Stage {
        command: Command::From {
            sources: history_sources,
            ..
        },
        ..
    }) = history.stages.first()
    else {
        return Err(format!(
            "JOIN (stage {stage}): the history must start with FROM"
        ));
    };
    if history_sources != sources {
        return Err(format!(
            "JOIN (stage {stage}): the history reads other sources than the events ({})",
            history_sources.join(", ")
        ));
    }
    let mut past = Filter {
        field: Some(field),
        ..Filter::default()
    };
    for s in &history.stages[1..] {
        match &s.command {
            Command::Where(condition) => past.add(condition)?,
            Command::Keep(_) | Command::Drop(_) => {}
            other => {
                return Err(format!(
                    "JOIN (stage {stage}): the history's {} does not translate: it may only filter and keep",
                    other.keyword()
                ))
            }
        }
    }
    if past.before != filter.range {
        return Err(format!(
            "JOIN (stage {stage}): the history must end where the recent range starts (@timestamp < now() - {})",
            filter.range.map(|r| r.to_string()).unwrap_or_default()
        ));
    }
    // Conditions only the history has (a field not null, for the join) are allowed: the rule's
    // events carry the field anyway. Conditions only the events have are not.
    let history_conditions = past.printed();
    if let Some(missing) = filter
        .printed()
        .into_iter()
        .find(|c| !history_conditions.contains(c))
    {
        return Err(format!(
            "JOIN (stage {stage}): the history is not filtered as the events are (it lacks {missing}): a rule compares values with the same events' past"
        ));
    }
    if let Some(Stage {
        command: Command::Stats {
            inline: false, by, ..
        },
        ..
    }) = after.first()
    {
        let keys: Vec<String> = by
            .iter()
            .filter_map(|k| match (&k.name, &k.expr.kind) {
                (None, ExprKind::Field(Name(f))) => Some(f.clone()),
                _ => None,
            })
            .collect();
        let on_names: Vec<String> = on.iter().map(|n| n.0.clone()).collect();
        if keys != on_names {
            return Err(format!(
                "STATS (stage {}) must group by the join's fields ({}) to count one row per new value",
                stage + 1,
                fields.join(", ")
            ));
        }
        presentation_only(&after[1..], at + 2)?;
    } else {
        presentation_only(after, at + 1)?;
    }
    Ok(RuleShape::NewTerms {
        fields,
        history: past.range,
    })
}

/// Stages after the shape that only present rows (EVAL of new columns, KEEP, DROP, SORT).
fn presentation_only(stages: &[Stage], first: usize) -> Result<(), Refusal> {
    for (i, stage) in stages.iter().enumerate() {
        match &stage.command {
            Command::Keep(_) | Command::Drop(_) | Command::Sort(_) | Command::Eval(_) => {}
            other => return Err(no_rule_form(other, first + i)),
        }
    }
    Ok(())
}

fn and_parts(e: &Expr) -> Vec<&Expr> {
    match &e.kind {
        ExprKind::Binary {
            op: BinaryOp::And,
            left,
            right,
        } => {
            let mut parts = and_parts(left);
            parts.extend(and_parts(right));
            parts
        }
        _ => vec![e],
    }
}

/// A condition in KQL. Where the hunt language's nulls would drop a row (`f != "x"` with `f`
/// absent), the KQL asks for the field too, so the rule matches the same events.
pub fn kql(e: &Expr, field: FieldName<'_>) -> Result<String, Refusal> {
    let refuse = |why: &str| format!("{e}: {why}");
    let field_of = |e: &Expr| -> Result<Option<String>, Refusal> {
        if let ExprKind::Call { name, .. } = &e.kind {
            return Err(format!(
                "{e}: the function {name}() has no KQL form: compare the field itself"
            ));
        }
        match field_of(e) {
            Some(name) => field(name)
                .map(Some)
                .map_err(|why| format!("{name}: {why}")),
            None => Ok(None),
        }
    };
    Ok(match &e.kind {
        ExprKind::Binary {
            op: op @ (BinaryOp::And | BinaryOp::Or),
            left,
            right,
        } => {
            let word = if *op == BinaryOp::And { "and" } else { "or" };
            format!("({}) {word} ({})", kql(left, field)?, kql(right, field)?)
        }
        ExprKind::Not(inner) => match &inner.kind {
            ExprKind::Binary {
                op: BinaryOp::Eq,
                left,
                ..
            }
            | ExprKind::In { expr: left, .. }
            | ExprKind::Like { expr: left, .. } => {
                let name =
                    field_of(left)?.ok_or_else(|| refuse("NOT applies to a field's test"))?;
                format!("{name}:* and not ({})", kql(inner, field)?)
            }
            ExprKind::IsNull { .. } => format!("not ({})", kql(inner, field)?),
            _ => {
                return Err(refuse(
                    "NOT translates only over one field's test (==, IN, LIKE, IS NULL)",
                ))
            }
        },
        ExprKind::Binary { op, left, right } => {
            let field = field_of(left)?
                .ok_or_else(|| refuse("a rule compares a field (on the left) with a constant"))?;
            let value = literal(right).ok_or_else(|| refuse("a rule compares with a constant"))?;
            match op {
                BinaryOp::Eq => format!("{field}:{}", value.quoted()),
                BinaryOp::NotEq => format!("{field}:* and not {field}:{}", value.quoted()),
                BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq => {
                    let Value::Number(n) = value else {
                        return Err(refuse("a range is over numbers"));
                    };
                    format!("{field} {} {n}", op.symbol())
                }
                _ => return Err(refuse("this operator has no KQL form")),
            }
        }
        ExprKind::In {
            expr,
            list,
            negated,
        } => {
            let field = field_of(expr)?.ok_or_else(|| refuse("IN applies to a field"))?;
            let values = list
                .iter()
                .map(|v| literal(v).map(|v| v.quoted()))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| refuse("IN lists constants"))?;
            let any = format!("{field}:({})", values.join(" or "));
            if *negated {
                format!("{field}:* and not {any}")
            } else {
                any
            }
        }
        ExprKind::IsNull { expr, negated } => {
            let field = field_of(expr)?.ok_or_else(|| refuse("IS NULL applies to a field"))?;
            if *negated {
                format!("{field}:*")
            } else {
                format!("not {field}:*")
            }
        }
        ExprKind::Like {
            expr,
            patterns,
            regex: false,
            negated,
        } => {
            let field = field_of(expr)?.ok_or_else(|| refuse("LIKE applies to a field"))?;
            let words = patterns
                .iter()
                .map(|p| match &p.kind {
                    ExprKind::Literal(Literal::String(s)) if !s.contains('?') => Some(wildcard(s)),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| refuse("LIKE translates with * wildcards only"))?;
            let any = if words.len() == 1 {
                format!("{field}:{}", words[0])
            } else {
                format!("{field}:({})", words.join(" or "))
            };
            if *negated {
                format!("{field}:* and not {any}")
            } else {
                any
            }
        }
        ExprKind::Call { name, .. } => {
            return Err(refuse(&format!(
                "the function {name}() has no KQL form: compare the field itself"
            )))
        }
        _ => return Err(refuse("this condition has no KQL form")),
    })
}

enum Value {
    Number(String),
    Text(String),
    Bool(bool),
}

impl Value {
    fn quoted(&self) -> String {
        match self {
            Value::Number(n) => n.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Text(t) => format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"")),
        }
    }
}

fn literal(e: &Expr) -> Option<Value> {
    match &e.kind {
        ExprKind::Literal(Literal::String(s)) => Some(Value::Text(s.clone())),
        ExprKind::Literal(Literal::Integer(i)) => Some(Value::Number(i.to_string())),
        ExprKind::Literal(Literal::Decimal(d)) => Some(Value::Number(d.to_string())),
        ExprKind::Literal(Literal::Bool(b)) => Some(Value::Bool(*b)),
        ExprKind::Negate(inner) => match literal(inner)? {
            Value::Number(n) => Some(Value::Number(format!("-{n}"))),
            _ => None,
        },
        _ => None,
    }
}

fn field_of(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::Field(Name(n)) if n != "@timestamp" => Some(n),
        _ => None,
    }
}

/// A LIKE pattern as a KQL bare word: `*` kept, the characters that end a word escaped.
fn wildcard(pattern: &str) -> String {
    let mut out = String::new();
    for c in pattern.chars() {
        if c.is_whitespace() || matches!(c, '(' | ')' | ':' | '<' | '>' | '"' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promote(text: &str) -> Result<Promotion, Refusal> {
        promotion(&crate::parse(text).unwrap(), &|name| match name {
            "derived" => Err("derived by the hunt".into()),
            other => Ok(other.replace("winlog.event_data.", "Event.EventData.")),
        })
    }

    #[test]
    fn a_filter_becomes_a_query_rule_in_kql() {
        let p = promote(
            "FROM logs-system.security-*, logs-system.system-* | WHERE event.code IN (\"1102\", \"104\") AND user.name != \"svc\" | KEEP host.name | SORT @timestamp",
        )
        .unwrap();
        assert_eq!(p.shape, RuleShape::Query);
        assert_eq!(
            p.kql,
            "(event.code:(\"1102\" or \"104\")) and (user.name:* and not user.name:\"svc\")"
        );
        assert_eq!(p.sources.len(), 2);
        let p = promote("FROM logs-* | WHERE winlog.event_data.LogonType == \"3\"").unwrap();
        assert_eq!(p.kql, "Event.EventData.LogonType:\"3\"");
        let p = promote("FROM logs-* | WHERE file.path LIKE \"C:\\\\Users\\\\*\\\\a b.exe\" AND NOT process.name == \"x\" AND n >= 3 AND c IS NULL").unwrap();
        assert_eq!(
            p.kql,
            "(file.path:C\\:\\\\Users\\\\*\\\\a\\ b.exe) and (process.name:* and not (process.name:\"x\")) and (n >= 3) and (not c:*)"
        );
    }

    #[test]
    fn a_stack_with_a_lower_bound_becomes_a_threshold() {
        let p = promote(
            "FROM logs-system.auth-* | WHERE @timestamp >= now() - 1 hour AND event.outcome == \"failure\"\n| STATS failures = count(*), users = count_distinct(user.name), first = min(@timestamp) BY source.ip\n| WHERE failures > 19 AND users >= 3 | SORT failures DESC",
        )
        .unwrap();
        assert_eq!(
            p.shape,
            RuleShape::Threshold {
                fields: vec!["source.ip".into()],
                value: 20,
                cardinality: vec![("user.name".into(), 3)],
            }
        );
        assert_eq!(p.kql, "event.outcome:\"failure\"");
        assert_eq!(
            p.range,
            Some(Span {
                amount: 1,
                unit: 'h'
            })
        );
    }

    #[test]
    fn first_seen_against_the_same_history_becomes_new_terms() {
        let p = promote(
            "FROM logs-system.auth-* | WHERE @timestamp >= now() - 1 week AND source.ip IS NOT NULL\n| JOIN kind=anti (FROM logs-system.auth-* | WHERE @timestamp < now() - 7 days AND source.ip IS NOT NULL | KEEP source.ip) ON source.ip\n| STATS n = count(*) BY source.ip",
        )
        .unwrap();
        assert_eq!(
            p.shape,
            RuleShape::NewTerms {
                fields: vec!["source.ip".into()],
                history: None
            }
        );
        assert_eq!(
            p.range,
            Some(Span {
                amount: 7,
                unit: 'd'
            })
        );
        assert_eq!(p.kql, "source.ip:*");
    }

    #[test]
    fn shapes_without_a_rule_form_are_refused_with_the_reason() {
        let refused = |text: &str| promote(text).unwrap_err();
        assert!(
            refused("FROM logs-* | STATS n = count(*) BY host.name | WHERE n <= 2")
                .contains("an upper bound")
        );
        assert!(refused("FROM logs-* | STATS n = count(*) BY host.name")
            .contains("without a threshold"));
        assert!(
            refused("FROM logs-* | WHERE a == 1 | TREE descendants").starts_with("TREE (stage 3)")
        );
        assert!(refused("FROM logs-* | WHERE to_lower(a) == \"x\"").contains("to_lower()"));
        assert!(refused("FROM logs-* | SORT @timestamp").contains("every event"));
        assert!(refused("FROM logs-* | WHERE derived == 1").contains("derived by the hunt"));
        assert!(refused("FROM logs-* | WHERE a == 1 | LIMIT 5").contains("cap"));
        assert!(refused(
            "FROM logs-a-* | WHERE @timestamp >= now() - 1 day AND a == 1 | JOIN kind=anti (FROM logs-a-* | WHERE @timestamp < now() - 2 days | KEEP b) ON b"
        )
        .contains("must end where the recent range starts"));
        assert!(refused(
            "FROM logs-a-* | WHERE @timestamp >= now() - 1 day AND a == 1 | JOIN kind=anti (FROM logs-a-* | WHERE @timestamp < now() - 1 day | KEEP b) ON b"
        )
        .contains("lacks a == 1"));
        assert!(
            refused("FROM logs-* | WHERE @timestamp >= \"2024-01-01\" AND a == 1")
                .contains("now() - <time>")
        );
    }
}

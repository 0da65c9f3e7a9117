//! The planner: a parsed query straight into DataFusion's plan (through its DataFrame builder, never
//! SQL text). Every field is checked against the relation's columns as the stage is planned, so an
//! unknown field is an error naming it, its stage and its place in the query, before anything runs.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, TimeUnit as ArrowTimeUnit};
use datafusion::common::{Column, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::functions::expr_fn as f;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::logical_expr::{binary_expr, cast, lit, when, Expr as DfExpr, Operator, SortExpr};
use datafusion::prelude::{ident, SessionContext};
use secops_hunt_lang::ast::{
    Aggregate, Assign, BinaryOp, Command, Expr, ExprKind, Literal, Name, Nulls, Order, Span, Stage,
    TimeUnit,
};
use secops_hunt_lang::Query;

use crate::HuntError;

/// What the planner needs besides the query.
#[derive(Debug, Clone)]
pub struct Planning {
    /// The time `now()` means (nanoseconds since the epoch, UTC).
    pub now: i64,
}

/// The table every lake source reads.
pub const EVENTS: &str = "events";

/// Plans `query` over the tables registered in `ctx`.
pub async fn plan(
    ctx: &SessionContext,
    text: &str,
    query: &Query,
    planning: &Planning,
) -> Result<DataFrame, HuntError> {
    let mut frame: Option<DataFrame> = None;
    for (n, stage) in query.stages.iter().enumerate() {
        let at = Place {
            text,
            stage: n + 1,
            command: stage.command.keyword(),
        };
        frame = Some(match (&stage.command, frame) {
            (Command::From { sources, .. }, None) => from(ctx, sources, &at, stage.span).await?,
            (Command::From { .. }, Some(_)) => {
                return Err(at.error("FROM only starts a query", stage.span))
            }
            (_, None) => {
                return Err(at.error("a query starts with FROM", stage.span));
            }
            (command, Some(frame)) => {
                let planner = Planner {
                    at: &at,
                    planning,
                    frame: &frame,
                };
                planner.stage(command, stage, frame.clone())?
            }
        });
    }
    frame.ok_or_else(|| HuntError::Plan {
        message: "an empty query".into(),
        line: 1,
        column: 1,
        stage: 0,
        command: String::new(),
    })
}

/// Where planning is, for messages.
struct Place<'a> {
    text: &'a str,
    stage: usize,
    command: &'static str,
}

impl Place<'_> {
    fn error(&self, message: impl Into<String>, span: Span) -> HuntError {
        let (line, column) = span.line_column(self.text);
        HuntError::Plan {
            message: message.into(),
            line,
            column,
            stage: self.stage,
            command: self.command.to_string(),
        }
    }
}

/// `FROM`: the lake's events; an Elastic index pattern naming one dataset (`logs-system.auth-*`)
/// reads that source's partitions only.
async fn from(
    ctx: &SessionContext,
    sources: &[String],
    at: &Place<'_>,
    span: Span,
) -> Result<DataFrame, HuntError> {
    let frame = ctx
        .table(EVENTS)
        .await
        .map_err(|e| at.error(format!("the lake: {e}"), span))?;
    let mut datasets = Vec::new();
    for source in sources {
        match source_dataset(source) {
            Some(Some(dataset)) => datasets.push(dataset),
            Some(None) => return Ok(frame),
            None => {
                return Err(at.error(
                    format!(
                        "unknown source {source:?}: use events, or an index pattern such as logs-* or logs-system.auth-*"
                    ),
                    span,
                ))
            }
        }
    }
    let list = datasets.into_iter().map(lit).collect();
    frame
        .filter(ident("source").in_list(list, false))
        .map_err(|e| at.error(e.to_string(), span))
}

/// What a source names: `Some(None)` every event, `Some(Some(dataset))` one dataset's, `None` nothing
/// known.
fn source_dataset(source: &str) -> Option<Option<String>> {
    let source = source.trim();
    if source == EVENTS || source == "logs-*" || source == "*" {
        return Some(None);
    }
    let dataset = source.strip_prefix("logs-")?;
    let dataset = dataset
        .strip_suffix("-*")
        .or_else(|| dataset.strip_suffix('*'))
        .unwrap_or(dataset);
    if dataset.is_empty() || dataset.contains('*') {
        return Some(None);
    }
    Some(Some(dataset.to_string()))
}

struct Planner<'a> {
    at: &'a Place<'a>,
    planning: &'a Planning,
    frame: &'a DataFrame,
}

impl Planner<'_> {
    fn df(&self, span: Span) -> impl Fn(datafusion::error::DataFusionError) -> HuntError + '_ {
        move |e| self.at.error(e.to_string(), span)
    }

    fn stage(
        &self,
        command: &Command,
        stage: &Stage,
        frame: DataFrame,
    ) -> Result<DataFrame, HuntError> {
        let span = stage.span;
        match command {
            Command::Where(e) => frame.filter(self.expr(e)?).map_err(self.df(span)),
            Command::Eval(assigns) => {
                let mut frame = frame;
                for a in assigns {
                    let planner = Planner {
                        at: self.at,
                        planning: self.planning,
                        frame: &frame,
                    };
                    let value = planner.expr(&a.expr)?;
                    let name = output_name(a);
                    frame = frame.with_column(&name, value).map_err(self.df(span))?;
                }
                Ok(frame)
            }
            Command::Keep(patterns) => {
                let names = self.matching(patterns, span)?;
                frame
                    .select(names.iter().map(|n| ident(n.as_str())).collect::<Vec<_>>())
                    .map_err(self.df(span))
            }
            Command::Drop(patterns) => {
                let names = self.matching(patterns, span)?;
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                frame.drop_columns(&refs).map_err(self.df(span))
            }
            Command::Rename(pairs) => {
                let mut frame = frame;
                for (old, new) in pairs {
                    self.field(old, span)?;
                    frame = frame
                        .with_column_renamed(
                            Column::new_unqualified(old.as_str()).flat_name(),
                            new.as_str(),
                        )
                        .map_err(self.df(span))?;
                }
                Ok(frame)
            }
            Command::Stats {
                inline: false,
                aggregates,
                by,
            } => {
                let groups = by
                    .iter()
                    .map(|a| Ok(self.expr(&a.expr)?.alias(output_name(a))))
                    .collect::<Result<Vec<_>, HuntError>>()?;
                let aggregates = aggregates
                    .iter()
                    .map(|a| self.aggregate(a))
                    .collect::<Result<Vec<_>, HuntError>>()?;
                // ES|QL puts the aggregates first, then the keys.
                let names: Vec<String> = aggregates
                    .iter()
                    .map(|e| e.schema_name().to_string())
                    .chain(groups.iter().map(|e| e.schema_name().to_string()))
                    .collect();
                frame
                    .aggregate(groups, aggregates)
                    .and_then(|f| {
                        f.select(names.iter().map(|n| ident(n.as_str())).collect::<Vec<_>>())
                    })
                    .map_err(self.df(span))
            }
            Command::Sort(keys) => {
                let keys = keys
                    .iter()
                    .map(|k| {
                        let asc = k.order != Some(Order::Desc);
                        // ES|QL: nulls last ascending, first descending, unless told.
                        let nulls_first = match k.nulls {
                            Some(Nulls::First) => true,
                            Some(Nulls::Last) => false,
                            None => !asc,
                        };
                        Ok(SortExpr::new(self.expr(&k.expr)?, asc, nulls_first))
                    })
                    .collect::<Result<Vec<_>, HuntError>>()?;
                frame.sort(keys).map_err(self.df(span))
            }
            Command::Limit(n) => frame
                .limit(0, Some(usize::try_from(*n).unwrap_or(usize::MAX)))
                .map_err(self.df(span)),
            other => Err(self
                .at
                .error(format!("{} is not planned yet", other.keyword()), span)),
        }
    }

    /// The relation's columns a KEEP or DROP pattern list names; a pattern naming none is an error.
    fn matching(&self, patterns: &[Name], span: Span) -> Result<Vec<String>, HuntError> {
        let columns: Vec<String> = self
            .frame
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut out = Vec::new();
        for pattern in patterns {
            let found: Vec<&String> = columns
                .iter()
                .filter(|c| glob(pattern.as_str(), c))
                .collect();
            if found.is_empty() {
                return Err(self
                    .at
                    .error(format!("no column matches {}", pattern.as_str()), span));
            }
            for c in found {
                if !out.contains(c) {
                    out.push(c.clone());
                }
            }
        }
        Ok(out)
    }

    /// A field of the relation, or an error naming it.
    fn field(&self, name: &Name, span: Span) -> Result<DfExpr, HuntError> {
        let known = self
            .frame
            .schema()
            .fields()
            .iter()
            .any(|f| f.name() == name.as_str());
        if known {
            Ok(ident(name.as_str()))
        } else {
            Err(self.at.error(
                format!("unknown field {}: not a column here", name.as_str()),
                span,
            ))
        }
    }

    fn aggregate(&self, a: &Aggregate) -> Result<DfExpr, HuntError> {
        let span = a.expr.span;
        let ExprKind::Call { name, args, star } = &a.expr.kind else {
            return Err(self.at.error("STATS takes aggregate functions", span));
        };
        let arg = |n: usize| -> Result<DfExpr, HuntError> {
            args.get(n)
                .ok_or_else(|| self.at.error(format!("{name} needs an argument"), span))
                .and_then(|e| self.expr(e))
        };
        let mut value = match name.as_str() {
            "count" if *star || args.is_empty() => agg::count(lit(1i64)),
            "count" => agg::count(arg(0)?),
            "count_distinct" => agg::count_distinct(arg(0)?),
            "min" => agg::min(arg(0)?),
            "max" => agg::max(arg(0)?),
            "avg" => agg::avg(arg(0)?),
            "sum" => agg::sum(arg(0)?),
            "values" => agg::array_agg(arg(0)?),
            other => {
                return Err(self
                    .at
                    .error(format!("unknown aggregate function {other}"), span))
            }
        };
        if let Some(filter) = &a.filter {
            let condition = self.expr(filter)?;
            value = match value {
                DfExpr::AggregateFunction(mut call) => {
                    call.params.filter = Some(Box::new(condition));
                    DfExpr::AggregateFunction(call)
                }
                other => other,
            };
        }
        let name = a
            .name
            .as_ref()
            .map_or_else(|| a.expr.to_string(), |n| n.as_str().to_string());
        Ok(value.alias(name))
    }

    fn expr(&self, e: &Expr) -> Result<DfExpr, HuntError> {
        let span = e.span;
        Ok(match &e.kind {
            ExprKind::Literal(l) => literal(l),
            ExprKind::Duration { amount, unit } => {
                let amount = match amount {
                    Literal::Integer(i) => *i,
                    _ => return Err(self.at.error("a time span takes a whole number", span)),
                };
                lit(ScalarValue::IntervalMonthDayNano(Some(
                    interval(amount, unit)
                        .ok_or_else(|| self.at.error(format!("unknown time unit {unit}"), span))?,
                )))
            }
            ExprKind::Field(name) => self.field(name, span)?,
            ExprKind::Param(_) => {
                return Err(self
                    .at
                    .error("parameters are given with the query; none were", span))
            }
            ExprKind::Not(inner) => datafusion::logical_expr::not(self.expr(inner)?),
            ExprKind::Negate(inner) => DfExpr::Negative(Box::new(self.expr(inner)?)),
            ExprKind::Binary { op, left, right } => {
                let (l, r) = (self.expr(left)?, self.expr(right)?);
                match op {
                    BinaryOp::CaseEq => f::lower(l).eq(f::lower(r)),
                    op => binary_expr(l, operator(*op), r),
                }
            }
            ExprKind::In {
                expr,
                list,
                negated,
            } => {
                let list = list
                    .iter()
                    .map(|e| self.expr(e))
                    .collect::<Result<Vec<_>, _>>()?;
                self.expr(expr)?.in_list(list, *negated)
            }
            ExprKind::Like {
                expr,
                patterns,
                regex,
                negated,
            } => {
                let value = self.expr(expr)?;
                let mut any: Option<DfExpr> = None;
                for p in patterns {
                    let ExprKind::Literal(Literal::String(pattern)) = &p.kind else {
                        return Err(self.at.error("a pattern is a string", p.span));
                    };
                    let test = if *regex {
                        binary_expr(
                            value.clone(),
                            Operator::RegexMatch,
                            lit(format!("^(?:{pattern})$")),
                        )
                    } else {
                        value.clone().like(lit(like_pattern(pattern)))
                    };
                    any = Some(match any {
                        Some(a) => a.or(test),
                        None => test,
                    });
                }
                let any = any.ok_or_else(|| self.at.error("no pattern", span))?;
                if *negated {
                    datafusion::logical_expr::not(any)
                } else {
                    any
                }
            }
            ExprKind::IsNull { expr, negated } => {
                let value = self.expr(expr)?;
                if *negated {
                    value.is_not_null()
                } else {
                    value.is_null()
                }
            }
            ExprKind::Cast { expr, to } => {
                let ty = cast_type(to)
                    .ok_or_else(|| self.at.error(format!("unknown type {to}"), span))?;
                cast(self.expr(expr)?, ty)
            }
            ExprKind::Call { name, args, star } => self.call(name, args, *star, span)?,
            ExprKind::Match { .. } | ExprKind::Options(_) => {
                return Err(self.at.error("full-text match is not planned yet", span))
            }
        })
    }

    fn call(&self, name: &str, args: &[Expr], star: bool, span: Span) -> Result<DfExpr, HuntError> {
        let values = args
            .iter()
            .map(|a| self.expr(a))
            .collect::<Result<Vec<_>, _>>()?;
        let one = |values: &[DfExpr]| -> Result<DfExpr, HuntError> {
            match values {
                [v] => Ok(v.clone()),
                _ => Err(self.at.error(format!("{name} takes one argument"), span)),
            }
        };
        if star {
            return Err(self
                .at
                .error(format!("{name}(*) is an aggregate: use it in STATS"), span));
        }
        Ok(match name {
            "now" => lit(ScalarValue::TimestampNanosecond(
                Some(self.planning.now),
                Some("UTC".into()),
            )),
            "to_lower" => f::lower(one(&values)?),
            "to_upper" => f::upper(one(&values)?),
            "length" => f::character_length(one(&values)?),
            "starts_with" | "ends_with" => match values.as_slice() {
                [s, p] => {
                    if name == "starts_with" {
                        f::starts_with(s.clone(), p.clone())
                    } else {
                        f::ends_with(s.clone(), p.clone())
                    }
                }
                _ => return Err(self.at.error(format!("{name} takes two arguments"), span)),
            },
            // ES|QL's CONCAT is null when any part is (DataFusion's `concat` skips nulls; `||` not).
            "concat" => values
                .into_iter()
                .reduce(|a, b| binary_expr(a, Operator::StringConcat, b))
                .ok_or_else(|| self.at.error("concat takes its parts", span))?,
            "coalesce" => f::coalesce(values),
            "to_string" => cast(one(&values)?, DataType::Utf8),
            "to_long" | "to_integer" => cast(one(&values)?, DataType::Int64),
            "to_double" => cast(one(&values)?, DataType::Float64),
            "abs" => f::abs(one(&values)?),
            "case" => {
                // case(cond, value, cond, value, ..., [else])
                let mut pairs = values.chunks_exact(2);
                let first = pairs
                    .next()
                    .ok_or_else(|| self.at.error("case needs a condition and a value", span))?;
                let mut builder = when(first[0].clone(), first[1].clone());
                for pair in pairs.by_ref() {
                    builder = builder.when(pair[0].clone(), pair[1].clone());
                }
                let result = match pairs.remainder() {
                    [otherwise] => builder.otherwise(otherwise.clone()),
                    _ => builder.end(),
                };
                result.map_err(self.df(span))?
            }
            "date_trunc" => match values.as_slice() {
                [interval, time] => f::date_bin(
                    interval.clone(),
                    time.clone(),
                    lit(ScalarValue::TimestampNanosecond(
                        Some(0),
                        Some("UTC".into()),
                    )),
                ),
                _ => return Err(self.at.error("date_trunc takes a span and a time", span)),
            },
            other => return Err(self.at.error(format!("unknown function {other}"), span)),
        })
    }
}

fn operator(op: BinaryOp) -> Operator {
    match op {
        BinaryOp::Or => Operator::Or,
        BinaryOp::And => Operator::And,
        BinaryOp::Eq | BinaryOp::CaseEq => Operator::Eq,
        BinaryOp::NotEq => Operator::NotEq,
        BinaryOp::Lt => Operator::Lt,
        BinaryOp::LtEq => Operator::LtEq,
        BinaryOp::Gt => Operator::Gt,
        BinaryOp::GtEq => Operator::GtEq,
        BinaryOp::Add => Operator::Plus,
        BinaryOp::Sub => Operator::Minus,
        BinaryOp::Mul => Operator::Multiply,
        BinaryOp::Div => Operator::Divide,
        BinaryOp::Mod => Operator::Modulo,
    }
}

fn literal(l: &Literal) -> DfExpr {
    match l {
        Literal::Null => lit(ScalarValue::Null),
        Literal::Bool(b) => lit(*b),
        Literal::Integer(i) => lit(*i),
        Literal::Decimal(d) => lit(*d),
        Literal::String(s) => lit(s.clone()),
    }
}

/// A time span as an interval (the parser only makes spans of units it knows).
fn interval(amount: i64, unit: &str) -> Option<IntervalMonthDayNano> {
    const SECOND: i64 = 1_000_000_000;
    let nanos = |per: i64| Some(IntervalMonthDayNano::new(0, 0, amount.checked_mul(per)?));
    let days = |per: i64| {
        Some(IntervalMonthDayNano::new(
            0,
            i32::try_from(amount.checked_mul(per)?).ok()?,
            0,
        ))
    };
    let months = |per: i64| {
        Some(IntervalMonthDayNano::new(
            i32::try_from(amount.checked_mul(per)?).ok()?,
            0,
            0,
        ))
    };
    match TimeUnit::parse(unit)? {
        TimeUnit::Millisecond => nanos(1_000_000),
        TimeUnit::Second => nanos(SECOND),
        TimeUnit::Minute => nanos(60 * SECOND),
        TimeUnit::Hour => nanos(3600 * SECOND),
        TimeUnit::Day => days(1),
        TimeUnit::Week => days(7),
        TimeUnit::Month => months(1),
        TimeUnit::Quarter => months(3),
        TimeUnit::Year => months(12),
    }
}

fn cast_type(name: &str) -> Option<DataType> {
    Some(match name {
        "string" | "keyword" | "text" | "ip" | "version" => DataType::Utf8,
        "long" | "integer" | "int" | "unsigned_long" => DataType::Int64,
        "double" | "float" => DataType::Float64,
        "boolean" | "bool" => DataType::Boolean,
        "datetime" | "date" => {
            DataType::Timestamp(ArrowTimeUnit::Nanosecond, Some(Arc::from("UTC")))
        }
        _ => return None,
    })
}

/// ES|QL's LIKE pattern (`*` any run, `?` one character, `\` escapes) as SQL's (`%`, `_`).
fn like_pattern(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' => {
                out.push('\\');
                out.push(c);
            }
            '\\' => match chars.next() {
                Some(next @ ('*' | '?')) => out.push(next),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push_str("\\\\"),
            },
            c => out.push(c),
        }
    }
    out
}

/// Whether `name` matches a KEEP/DROP pattern (`*` any run of characters).
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else {
                return false;
            };
            if tail.is_empty() {
                return true;
            }
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

/// The column an EVAL or BY item makes: its name, or its text.
fn output_name(a: &Assign) -> String {
    a.name
        .as_ref()
        .map_or_else(|| a.expr.to_string(), |n| n.as_str().to_string())
}

//! The planner: a parsed query straight into DataFusion's plan (through its DataFrame builder, never
//! SQL text). Every field is checked against the relation's columns as the stage is planned, so an
//! unknown field is an error naming it, its stage and its place in the query, before anything runs.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, IntervalMonthDayNano, TimeUnit as ArrowTimeUnit};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::NullEquality;
use datafusion::common::{Column, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::functions::expr_fn as f;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::functions_nested::expr_fn as f_nested;
use datafusion::logical_expr::{
    binary_expr, cast, lit, try_cast, when, Expr as DfExpr, ExprFunctionExt, ExprSchemable,
    JoinType, LogicalPlanBuilder, Operator, SortExpr, WindowFrame, WindowFrameBound,
    WindowFrameUnits,
};
use datafusion::prelude::{ident, SessionContext};
use secops_hunt_lang::ast::{
    Aggregate, Assign, BinaryOp, Command, Expr, ExprKind, JoinKind, Literal, Name, Nulls, Order,
    SortKey, Span, Stage, TimeUnit,
};
use secops_hunt_lang::Query;

use crate::extract::{Dissect, Grok};
use crate::fields::{self, like_escape, Scope};
use crate::functions::{self, Parser};
use crate::tables::{Registered, TableInfo, ORDINAL, TABLE_NAMES};
use crate::HuntError;

/// What the planner needs besides the query.
#[derive(Debug, Clone, Default)]
pub struct Planning {
    /// The time `now()` means (nanoseconds since the epoch, UTC).
    pub now: i64,
    /// A field nothing resolves is planned as null with a warning instead of refused (such a
    /// query does not count as planned).
    pub lenient: bool,
    /// The query is plain SQL over the `events` table (DataFusion's dialect, read-only), not the hunt
    /// language.
    pub sql: bool,
    /// The named sets `in_set(value, "name")` asks (warninglists, from the service).
    pub sets: Option<Arc<dyn Sets>>,
    /// The tables FROM, LOOKUP JOIN and ENRICH read besides events (alerts, cases, indicators,
    /// warninglists, assets), from the service.
    pub tables: Option<Arc<dyn Registered>>,
}

/// Named sets of values a hunt can test membership in (`in_set(value, "name")`): the MISP
/// warninglists in force, given by the service.
pub trait Sets: std::fmt::Debug + Send + Sync {
    /// The sets' names.
    fn names(&self) -> Vec<String>;
    /// Whether the set `name` holds `value` (as the set judges values: a network list an address
    /// in it, a host-name list a subdomain); `None` when there is no such set.
    fn contains(&self, name: &str, value: &str) -> Option<bool>;
}

/// A planned query, and what lenient planning let through.
#[derive(Debug)]
pub struct Planned {
    pub frame: DataFrame,
    /// Fields planned as null (`--lenient`), each with its place.
    pub warnings: Vec<String>,
}

/// The table every lake source reads.
pub const EVENTS: &str = "events";

/// Plans `query` over the tables registered in `ctx`.
pub async fn plan(
    ctx: &SessionContext,
    text: &str,
    query: &Query,
    planning: &Planning,
    raw: &HashMap<String, DataFrame>,
) -> Result<Planned, HuntError> {
    let base = ctx.table(EVENTS).await.map_err(|e| HuntError::Plan {
        message: format!("the lake: {e}"),
        line: 1,
        column: 1,
        stage: 1,
        command: "FROM".into(),
    })?;
    let mut registered = HashMap::new();
    for info in planning.tables.iter().flat_map(|t| t.tables()) {
        if !TABLE_NAMES.contains(&info.name) {
            continue;
        }
        let frame = ctx.table(info.name).await.map_err(|e| HuntError::Plan {
            message: format!("the table {}: {e}", info.name),
            line: 1,
            column: 1,
            stage: 1,
            command: "FROM".into(),
        })?;
        registered.insert(info.name.to_string(), (info, frame));
    }
    let tables = Tables {
        base: &base,
        raw,
        registered,
        warnings: RefCell::new(Vec::new()),
        lets: RefCell::new(HashMap::new()),
    };
    let frame = plan_query(&tables, text, query, planning)?;
    Ok(Planned {
        frame,
        warnings: tables.warnings.into_inner(),
    })
}

/// What FROM reads: the lake's table, and raw sources read for this query by their text.
struct Tables<'a> {
    base: &'a DataFrame,
    raw: &'a HashMap<String, DataFrame>,
    /// The service's tables, by name.
    registered: HashMap<String, (TableInfo, DataFrame)>,
    /// What lenient planning let through, subqueries included.
    warnings: RefCell<Vec<String>>,
    /// The queries LET named so far.
    lets: RefCell<HashMap<String, DataFrame>>,
}

impl Tables<'_> {
    /// The service's table `name`, with its hidden ordinal column.
    fn registered(&self, name: &str) -> Result<(&TableInfo, DataFrame), String> {
        match self.registered.get(name) {
            Some((info, frame)) => Ok((info, frame.clone())),
            None if TABLE_NAMES.contains(&name) => {
                let from = match name {
                    "assets" => "the asset inventory",
                    "warninglists" => "the warninglists",
                    _ => "the store",
                };
                Err(format!("the table {name} reads {from}, and none was given"))
            }
            None => Err(format!(
                "no table {name:?} (the tables: {})",
                TABLE_NAMES.join(", ")
            )),
        }
    }
}

/// Plans a query (or a subquery of JOIN and IN) over the lake's table.
fn plan_query(
    base: &Tables<'_>,
    text: &str,
    query: &Query,
    planning: &Planning,
) -> Result<DataFrame, HuntError> {
    let mut frame: Option<DataFrame> = None;
    let mut scope = Scope::default();
    let mut events_time = true;
    for (n, stage) in query.stages.iter().enumerate() {
        let at = Place {
            text,
            stage: n + 1,
            command: stage.command.keyword(),
        };
        if let Command::Let { name, query } = &stage.command {
            if frame.is_some() {
                return Err(at.error("LET comes before the query's FROM", stage.span));
            }
            let named = plan_query(base, text, query, planning)?;
            base.lets
                .borrow_mut()
                .insert(name.as_str().to_string(), named);
            continue;
        }
        frame = Some(match (&stage.command, frame) {
            (Command::From { sources, .. }, None) => {
                let (frame, from_scope) = from(base, sources, &at, stage.span)?;
                scope = from_scope;
                frame
            }
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
                    scope: &scope,
                    frame: &frame,
                    aggregates: None,
                    base,
                };
                match command {
                    // Right after FROM, `@timestamp` is the events' own: a time bound is also a
                    // bound on the day partitions, so whole days are never opened.
                    Command::Where(e) if events_time => {
                        let condition = planner.expr(e)?;
                        let days: Vec<DfExpr> = day_bounds(&condition)
                            .into_iter()
                            .filter(|(_, bound)| {
                                matches!(
                                    planner.type_of(bound, stage.span),
                                    Ok(DataType::Timestamp(..))
                                ) && planner.has("dt")
                            })
                            .map(|(later, bound)| {
                                let day = f::to_char(bound, lit("%Y-%m-%d"));
                                if later {
                                    ident("dt").gt_eq(day)
                                } else {
                                    ident("dt").lt_eq(day)
                                }
                            })
                            .collect();
                        let mut frame = frame
                            .filter(condition)
                            .map_err(|e| at.error(short(&e), stage.span))?;
                        for bound in days {
                            frame = frame
                                .filter(bound)
                                .map_err(|e| at.error(short(&e), stage.span))?;
                        }
                        frame
                    }
                    _ => {
                        events_time = false;
                        planner.stage(command, stage, frame.clone())?
                    }
                }
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

/// `FROM`: the lake's events, narrowed to the sources the index patterns name (`fields::scope`).
fn from(
    tables: &Tables<'_>,
    sources: &[String],
    at: &Place<'_>,
    span: Span,
) -> Result<(DataFrame, Scope), HuntError> {
    let lets = tables.lets.borrow();
    let (own, lake): (Vec<&String>, Vec<&String>) = sources.iter().partition(|s| {
        tables.raw.contains_key(*s) || lets.contains_key(*s) || TABLE_NAMES.contains(&s.as_str())
    });
    let lake: Vec<String> = lake.into_iter().cloned().collect();
    let mut frames: Vec<DataFrame> = Vec::new();
    for source in own {
        let frame = match lets.get(source).or_else(|| tables.raw.get(source)) {
            Some(frame) => frame.clone(),
            None => tables
                .registered(source)
                .and_then(|(_, frame)| frame.without(&[ORDINAL]).map_err(|e| short(&e)))
                .map_err(|message| at.error(message, span))?,
        };
        frames.push(frame);
    }
    let scope = if lake.is_empty() {
        // Raw logs carry whatever their fields are.
        Scope {
            every_namespace: true,
            ..Scope::default()
        }
    } else {
        let scope = fields::scope(&lake).map_err(|message| at.error(message, span))?;
        let frame = tables.base.clone();
        frames.push(match &scope.filter {
            Some(filter) => frame
                .filter(filter.clone())
                .map_err(|e| at.error(e.to_string(), span))?,
            None => frame,
        });
        scope
    };
    let mut frames = frames.into_iter();
    let mut frame = frames
        .next()
        .ok_or_else(|| at.error("FROM names no source", span))?;
    for other in frames {
        // A LET's columns need not be the lake's: matched by name.
        frame = frame
            .union_by_name(other)
            .map_err(|e| at.error(short(&e), span))?;
    }
    // Columns by their bare names from here on: a stage that makes a column of the same name
    // (DISSECT's `message`) replaces it rather than standing beside a qualified twin.
    let bare: Vec<DfExpr> = frame
        .schema()
        .fields()
        .iter()
        .map(|f| ident(f.name()).alias(f.name()))
        .collect();
    let frame = frame.select(bare).map_err(|e| at.error(short(&e), span))?;
    Ok((frame, scope))
}

struct Planner<'a> {
    at: &'a Place<'a>,
    planning: &'a Planning,
    scope: &'a Scope,
    frame: &'a DataFrame,
    /// In STATS: the aggregates met so far; an aggregate call becomes a reference to its column.
    aggregates: Option<&'a RefCell<Vec<DfExpr>>>,
    /// The lake's table and raw sources, for subqueries (JOIN, IN) and process trees.
    base: &'a Tables<'a>,
}

impl Planner<'_> {
    fn df(&self, span: Span) -> impl Fn(datafusion::error::DataFusionError) -> HuntError + '_ {
        move |e| self.at.error(short(&e), span)
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
                    let planner = self.over(&frame);
                    let value = planner.expr(&a.expr)?;
                    let name = output_name(a);
                    frame = frame.with_column(&name, value).map_err(self.df(span))?;
                }
                Ok(frame)
            }
            Command::Keep(patterns) => {
                // A field that is not a column yet (one read from `_fields`) becomes one.
                let mut frame = frame;
                let mut names: Vec<String> = Vec::new();
                for pattern in patterns {
                    let found = self.matching(pattern);
                    if found.is_empty() && !pattern.as_str().contains('*') {
                        let value = self.field(pattern, span)?;
                        frame = frame
                            .with_column(pattern.as_str(), value)
                            .map_err(self.df(span))?;
                        names.push(pattern.as_str().to_string());
                    } else if pattern.as_str().contains('*') && self.has(fields::FIELDS) {
                        // The field map's names the pattern covers become columns too
                        // (`KEEP powershell.file.*`).
                        for name in fields::MAPPED_NAMES {
                            if glob(pattern.as_str(), name)
                                && !self.has(name)
                                && !names.iter().any(|n| n == name)
                            {
                                if let Ok(value) = self.field(&Name((*name).to_string()), span) {
                                    frame =
                                        frame.with_column(name, value).map_err(self.df(span))?;
                                    names.push((*name).to_string());
                                }
                            }
                        }
                    }
                    for c in found {
                        if !names.contains(&c) {
                            names.push(c);
                        }
                    }
                }
                frame
                    .select(names.iter().map(|n| ident(n.as_str())).collect::<Vec<_>>())
                    .map_err(self.df(span))
            }
            Command::Drop(patterns) => {
                let mut names: Vec<String> = Vec::new();
                for pattern in patterns {
                    let found = self.matching(pattern);
                    if found.is_empty() && !pattern.as_str().contains('*') {
                        // Dropping a field that is no column: it must still be a known field.
                        self.field(pattern, span)?;
                    }
                    names.extend(found);
                }
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                frame.without(&refs).map_err(self.df(span))
            }
            Command::Rename(pairs) => {
                let mut frame = frame;
                for (old, new) in pairs {
                    let planner = self.over(&frame);
                    frame = if planner.has(old.as_str()) {
                        frame
                            .with_column_renamed(
                                Column::new_unqualified(old.as_str()).flat_name(),
                                new.as_str(),
                            )
                            .map_err(self.df(span))?
                    } else {
                        let value = planner.field(old, span)?;
                        frame
                            .with_column(new.as_str(), value)
                            .map_err(self.df(span))?
                    };
                }
                Ok(frame)
            }
            Command::Stats {
                inline,
                aggregates,
                by,
            } => self.stats(frame, *inline, aggregates, by, span),
            Command::MvExpand(name) => {
                let value = self.list(self.field(name, span)?, span)?;
                let (state, plan) = frame
                    .with_column(name.as_str(), value)
                    .map_err(self.df(span))?
                    .into_parts();
                let plan = LogicalPlanBuilder::from(plan)
                    .unnest_column(Column::new_unqualified(name.as_str()))
                    .and_then(LogicalPlanBuilder::build)
                    .map_err(self.df(span))?;
                Ok(DataFrame::new(state, plan))
            }
            Command::Dissect {
                field,
                pattern,
                separator,
            } => {
                let dissect = Dissect::compile(pattern, separator.as_deref())
                    .map_err(|m| self.at.error(m, span))?;
                let keys = dissect.keys.clone();
                let types = vec![None; keys.len()];
                let parse: Parser = Arc::new(move |t| dissect.parse(t));
                self.extract(
                    frame,
                    field,
                    pattern,
                    ("dissect", parse),
                    &keys,
                    &types,
                    span,
                )
            }
            Command::Grok { field, pattern } => {
                let grok = Grok::compile(pattern).map_err(|m| self.at.error(m, span))?;
                let keys = grok.keys.clone();
                let types = grok.types.clone();
                let parse: Parser = Arc::new(move |t| grok.parse(t));
                self.extract(frame, field, pattern, ("grok", parse), &keys, &types, span)
            }
            Command::Join {
                kind,
                query,
                on,
                within,
            } => self.join(frame, *kind, query, on, within.as_ref(), span),
            Command::LookupJoin { table, on } => self.lookup_join(frame, table, on, span),
            Command::Sequence(eql) => self.sequence(frame, eql, span),
            Command::Enrich { policy, on, with } => {
                self.enrich(frame, policy, on.as_ref(), with, span)
            }
            Command::Stream { items, by, sort } => self.stream(frame, items, by, sort, span),
            Command::Top {
                rare,
                count,
                field,
                by,
            } => self.top(frame, *rare, *count, field, by, span),
            Command::Dedup(keys) => {
                let keys = keys
                    .iter()
                    .map(|k| self.field(k, span))
                    .collect::<Result<Vec<_>, _>>()?;
                let order: Vec<SortExpr> = if self.has("@timestamp") {
                    vec![ident("@timestamp").sort(true, false)]
                } else {
                    Vec::new()
                };
                first_per(frame, keys, order).map_err(self.df(span))
            }
            Command::Tree { ancestors, depth } => self.tree(frame, *ancestors, *depth, span),
            Command::Union(queries) => {
                let mut frame = frame;
                for query in queries {
                    let other = plan_query(self.base, self.at.text, query, self.planning)?;
                    frame = frame.union_by_name(other).map_err(self.df(span))?;
                }
                Ok(frame)
            }
            Command::Let { .. } => Err(self.at.error("LET comes before the query's FROM", span)),
            Command::Timechart {
                span: every,
                aggregates,
                by,
            } => self.timechart(frame, every.as_ref(), aggregates, by, span),
            Command::Completion { .. } => Err(self.at.error(
                "COMPLETION calls a language model; hunts do not send event data to one",
                span,
            )),
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

    /// The relation's columns a KEEP or DROP pattern names (`*` any run of characters).
    fn matching(&self, pattern: &Name) -> Vec<String> {
        self.frame
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|c| glob(pattern.as_str(), c))
            .collect()
    }

    /// Whether the relation has a column of that name.
    fn has(&self, name: &str) -> bool {
        self.frame
            .schema()
            .fields()
            .iter()
            .any(|f| f.name() == name)
    }

    /// A field of the relation, resolved through the field map or `_fields` when it is not a column
    /// (`fields::resolve`), or an error naming it.
    fn field(&self, name: &Name, span: Span) -> Result<DfExpr, HuntError> {
        if self.has(name.as_str()) {
            return Ok(ident(name.as_str()));
        }
        if let Some(resolved) = fields::resolve(name.as_str(), self.scope, &|c| self.has(c)) {
            return Ok(resolved);
        }
        let reason = if self.has(fields::FIELDS) {
            "not a column, not in the field map, not an ECS field and not under a namespace of the query's sources"
        } else {
            "not a column here"
        };
        let error = self
            .at
            .error(format!("unknown field {}: {reason}", name.as_str()), span);
        if !self.planning.lenient {
            return Err(error);
        }
        self.base
            .warnings
            .borrow_mut()
            .push(format!("{error}; planned as null (--lenient)"));
        Ok(lit(ScalarValue::Utf8(None)))
    }

    /// `SEQUENCE "..."`: the rows that form the EQL sequence, each with its sequence's number and
    /// step, in that order (see [`crate::sequence`]).
    fn sequence(&self, frame: DataFrame, eql: &str, span: Span) -> Result<DataFrame, HuntError> {
        use crate::sequence::{self as seq, MEMBER, SEQUENCE_ID, SEQUENCE_STEP};
        let sequence = seq::parse(eql).map_err(|m| self.at.error(m, span))?;
        let id = secops_lake::schema::ID;
        if !self.has(id) || !self.has("@timestamp") {
            return Err(self.at.error(
                format!("SEQUENCE follows events: it needs their {id} and @timestamp columns (put it before STATS, KEEP and the like)"),
                span,
            ));
        }
        let mut select = vec![
            cast(ident(id), DataType::Utf8).alias(id),
            ident("@timestamp").alias("@timestamp"),
        ];
        for name in seq::fields(&sequence) {
            let value = self.field(&Name(name.clone()), span)?;
            select.push(value.alias(name));
        }
        let input = frame
            .clone()
            .select(select)
            .and_then(|f| {
                f.sort(vec![
                    ident("@timestamp").sort(true, false),
                    ident(id).sort(true, false),
                ])
            })
            .map_err(self.df(span))?;
        let table = seq::matches(sequence, input).map_err(|m| self.at.error(m, span))?;
        let (state, plan) = frame.into_parts();
        let scan = LogicalPlanBuilder::scan(
            "__sequence",
            datafusion::datasource::provider_as_source(Arc::new(table)),
            None,
        )
        .and_then(LogicalPlanBuilder::build)
        .map_err(self.df(span))?;
        let matches = DataFrame::new(state.clone(), scan)
            .select(
                [MEMBER, SEQUENCE_ID, SEQUENCE_STEP]
                    .iter()
                    .map(|c| ident(*c).alias(*c))
                    .collect::<Vec<DfExpr>>(),
            )
            .map_err(self.df(span))?;
        let frame = DataFrame::new(state, plan);
        let kept: Vec<String> = frame
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| n != SEQUENCE_ID && n != SEQUENCE_STEP)
            .collect();
        let mut out: Vec<DfExpr> = kept
            .iter()
            .map(|n| ident(n.as_str()).alias(n.as_str()))
            .collect();
        out.push(ident(SEQUENCE_ID).alias(SEQUENCE_ID));
        out.push(ident(SEQUENCE_STEP).alias(SEQUENCE_STEP));
        let frame = frame
            .with_column(id, cast(ident(id), DataType::Utf8))
            .map_err(self.df(span))?;
        join_on(matches, frame, JoinType::Inner, &[MEMBER], &[id], None)
            .and_then(|f| f.select(out))
            .and_then(|f| {
                f.sort(vec![
                    ident(SEQUENCE_ID).sort(true, false),
                    ident(SEQUENCE_STEP).sort(true, false),
                ])
            })
            .map_err(self.df(span))
    }

    /// `LOOKUP JOIN table ON key, ...`: every row, with the table's columns of the entries whose
    /// keys equal the row's (a row once per such entry; the table's columns replace the row's of
    /// the same name, as in ES|QL).
    fn lookup_join(
        &self,
        frame: DataFrame,
        table: &str,
        on: &[Name],
        span: Span,
    ) -> Result<DataFrame, HuntError> {
        let (_, right) = self
            .base
            .registered(table)
            .map_err(|m| self.at.error(m, span))?;
        let right_schema = right.schema().clone();
        let mut frame = frame;
        let mut left_keys = Vec::new();
        let mut right_keys = Vec::new();
        let mut right_select = Vec::new();
        for (i, key) in on.iter().enumerate() {
            let Ok(column) = right_schema.field_with_unqualified_name(key.as_str()) else {
                return Err(self.not_a_column(key.as_str(), table, &right_schema, span));
            };
            let value = self.over(&frame).field(key, span)?;
            let left = format!("__lk{i}");
            frame = frame
                .with_column(&left, cast(value, column.data_type().clone()))
                .map_err(self.df(span))?;
            let right = format!("__rk{i}");
            right_select.push(ident(key.as_str()).alias(right.as_str()));
            left_keys.push(left);
            right_keys.push(right);
        }
        let others: Vec<String> = right_schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| n != ORDINAL && !on.iter().any(|k| k.as_str() == n))
            .collect();
        let replaced: Vec<&str> = others
            .iter()
            .map(String::as_str)
            .filter(|n| self.over(&frame).has(n))
            .collect();
        let frame = frame.without(&replaced).map_err(self.df(span))?;
        right_select.extend(others.iter().map(|n| ident(n.as_str()).alias(n.as_str())));
        let right = right.select(right_select).map_err(self.df(span))?;
        let left_refs: Vec<&str> = left_keys.iter().map(String::as_str).collect();
        let right_refs: Vec<&str> = right_keys.iter().map(String::as_str).collect();
        join_on(frame, right, JoinType::Left, &left_refs, &right_refs, None)
            .and_then(|f| f.without(&left_refs))
            .and_then(|f| f.without(&right_refs))
            .map_err(self.df(span))
    }

    /// `ENRICH table [ON field] [WITH [name =] column, ...]`: every row once, with the columns of
    /// the table's first entry (by its preference, then its order) whose key equals the field (the key's own
    /// name when there is no ON; every column when there is no WITH).
    fn enrich(
        &self,
        frame: DataFrame,
        table: &str,
        on: Option<&Name>,
        with: &[(Option<Name>, Name)],
        span: Span,
    ) -> Result<DataFrame, HuntError> {
        let (info, right) = self
            .base
            .registered(table)
            .map_err(|m| self.at.error(m, span))?;
        let right_schema = right.schema().clone();
        let key_type = right_schema
            .field_with_unqualified_name(info.key)
            .map_err(|e| self.at.error(short(&e), span))?
            .data_type()
            .clone();
        let on = on.cloned().unwrap_or_else(|| Name(info.key.to_string()));
        let mut value = cast(self.field(&on, span)?, key_type);
        if info.folded {
            value = f::lower(value);
        }
        let frame = frame.with_column("__ek", value).map_err(self.df(span))?;
        let picks: Vec<(String, String)> = if with.is_empty() {
            right_schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .filter(|n| n != ORDINAL && n != info.key)
                .map(|n| (n.clone(), n))
                .collect()
        } else {
            with.iter()
                .map(|(name, column)| {
                    let column = column.as_str().to_string();
                    (
                        name.as_ref().map_or(column.clone(), |n| n.0.clone()),
                        column,
                    )
                })
                .collect()
        };
        for (_, column) in &picks {
            if column == ORDINAL || right_schema.field_with_unqualified_name(column).is_err() {
                return Err(self.not_a_column(column, table, &right_schema, span));
            }
        }
        // The first entry of each key: by the table's preference, then its order.
        let order = info
            .prefer
            .iter()
            .map(|(column, descending)| ident(*column).sort(!descending, false))
            .chain([ident(ORDINAL).sort(true, false)])
            .collect();
        let mut select = vec![ident(info.key).alias("__ekr")];
        select.extend(
            picks
                .iter()
                .map(|(name, column)| ident(column.as_str()).alias(name.as_str())),
        );
        let firsts = first_per(right, vec![ident(info.key)], order)
            .and_then(|f| f.select(select))
            .map_err(self.df(span))?;
        let replaced: Vec<&str> = picks
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|n| self.over(&frame).has(n))
            .collect();
        let frame = frame.without(&replaced).map_err(self.df(span))?;
        join_on(frame, firsts, JoinType::Left, &["__ek"], &["__ekr"], None)
            .and_then(|f| f.without(&["__ek", "__ekr"]))
            .map_err(self.df(span))
    }

    /// `column` is not one of the registered table's, whose columns (the hidden ordinal left out)
    /// the error lists.
    fn not_a_column(
        &self,
        column: &str,
        table: &str,
        schema: &datafusion::common::DFSchema,
        span: Span,
    ) -> HuntError {
        let columns: Vec<&str> = schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .filter(|n| *n != ORDINAL)
            .collect();
        self.at.error(
            format!(
                "{column} is not a column of {table} (its columns: {})",
                columns.join(", ")
            ),
            span,
        )
    }

    /// The same planner over another relation (after a stage changed it).
    fn over<'b>(&'b self, frame: &'b DataFrame) -> Planner<'b> {
        Planner {
            at: self.at,
            planning: self.planning,
            scope: self.scope,
            frame,
            aggregates: None,
            base: self.base,
        }
    }

    /// STATS and INLINE STATS. Each item may be an expression of aggregates
    /// (`round(avg(x), 1)`, `count(*) / count_distinct(host.name)`): its aggregates are computed
    /// first, then the expression over them. INLINE STATS keeps every row and adds the figures of
    /// its group (joined back on the keys, null keys being one group as in STATS).
    fn stats(
        &self,
        frame: DataFrame,
        inline: bool,
        items: &[Aggregate],
        by: &[Assign],
        span: Span,
    ) -> Result<DataFrame, HuntError> {
        let mut frame = frame;
        // Keys that are expressions become columns first, so both sides name them alike.
        let mut keys: Vec<String> = Vec::new();
        for a in by {
            let name = output_name(a);
            let planner = self.over(&frame);
            let is_column = matches!(&a.expr.kind, ExprKind::Field(f) if planner.has(f.as_str()))
                && a.name.is_none();
            if !is_column {
                let value = planner.expr(&a.expr)?;
                frame = frame.with_column(&name, value).map_err(self.df(span))?;
            }
            keys.retain(|k| k != &name);
            keys.push(name);
        }
        let collected = RefCell::new(Vec::new());
        let mut outputs: Vec<(String, DfExpr)> = Vec::new();
        {
            let planner = Planner {
                aggregates: Some(&collected),
                ..self.over(&frame)
            };
            for item in items {
                let start = collected.borrow().len();
                let value = planner.expr(&item.expr)?;
                if collected.borrow().len() == start {
                    return Err(self.at.error(
                        format!("{} uses no aggregate function", item.expr),
                        item.expr.span,
                    ));
                }
                if let Some(filter) = &item.filter {
                    let condition = planner.over(&frame).expr(filter)?;
                    for aggregate in collected.borrow_mut()[start..].iter_mut() {
                        *aggregate = with_filter(aggregate.clone(), condition.clone());
                    }
                }
                let name = item
                    .name
                    .as_ref()
                    .map_or_else(|| item.expr.to_string(), |n| n.as_str().to_string());
                // A name given twice: the later item wins, as in ES|QL.
                outputs.retain(|(n, _)| n != &name);
                outputs.push((name, value));
            }
        }
        let collected = collected.into_inner();
        let groups: Vec<DfExpr> = keys.iter().map(|k| ident(k.as_str())).collect();
        if !inline {
            let mut select: Vec<DfExpr> = outputs
                .into_iter()
                .map(|(name, value)| value.alias(name))
                .collect();
            select.extend(keys.iter().map(|k| ident(k.as_str())));
            // One distinct count beside counts, sums, minimums and maximums (the stacking shape):
            // distinct pairs first, then the groups, so no group holds a set of its values.
            if let Some((first, second)) = two_phase(&collected) {
                let mut pairs = groups.clone();
                pairs.push(first.0.alias("__distinct"));
                return frame
                    .aggregate(pairs, first.1)
                    .and_then(|f| f.aggregate(groups, second))
                    .and_then(|f| f.select(select))
                    .map_err(self.df(span));
            }
            let aggregates: Vec<DfExpr> = collected
                .into_iter()
                .enumerate()
                .map(|(i, e)| e.alias(format!("__agg{i}")))
                .collect();
            return frame
                .aggregate(groups, aggregates)
                .and_then(|f| f.select(select))
                .map_err(self.df(span));
        }
        let aggregates: Vec<DfExpr> = collected
            .into_iter()
            .enumerate()
            .map(|(i, e)| e.alias(format!("__agg{i}")))
            .collect();
        // INLINE STATS: the group's figures, joined back to each row of the group.
        let renamed: Vec<String> = (0..keys.len()).map(|i| format!("__key{i}")).collect();
        let mut select: Vec<DfExpr> = outputs
            .iter()
            .map(|(name, value)| value.clone().alias(name.as_str()))
            .collect();
        select.extend(
            keys.iter()
                .zip(&renamed)
                .map(|(k, r)| ident(k.as_str()).alias(r.as_str())),
        );
        let figures = frame
            .clone()
            .aggregate(groups, aggregates)
            .and_then(|f| f.select(select))
            .map_err(self.df(span))?;
        let shadowed: Vec<&str> = outputs
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| self.over(&frame).has(n) && !keys.iter().any(|k| k == n))
            .collect();
        let left = frame.without(&shadowed).map_err(self.df(span))?;
        let (state, left_plan) = left.into_parts();
        let right_plan = LogicalPlanBuilder::from(figures.into_unoptimized_plan())
            .alias("__inline")
            .and_then(LogicalPlanBuilder::build)
            .map_err(self.df(span))?;
        let left_columns: Vec<Column> = keys.iter().map(Column::new_unqualified).collect();
        let right_columns: Vec<Column> = renamed
            .iter()
            .map(|r| Column::new(Some("__inline"), r.as_str()))
            .collect();
        let joined = LogicalPlanBuilder::from(left_plan)
            .join_detailed(
                right_plan,
                JoinType::Inner,
                (left_columns, right_columns),
                None,
                NullEquality::NullEqualsNull,
            )
            .and_then(LogicalPlanBuilder::build)
            .map_err(self.df(span))?;
        let joined = DataFrame::new(state, joined);
        let drop: Vec<&str> = renamed.iter().map(String::as_str).collect();
        joined.without(&drop).map_err(self.df(span))
    }

    /// TIMECHART: STATS by time bucket (`@timestamp`, the span's bucket start) and keys, then every
    /// bucket from the first to the last for every key combination present, an empty one with counts
    /// of 0 (other figures null); in time order.
    fn timechart(
        &self,
        frame: DataFrame,
        every: Option<&Expr>,
        aggregates: &[Aggregate],
        by: &[Name],
        span: Span,
    ) -> Result<DataFrame, HuntError> {
        const TIME: &str = "@timestamp";
        let interval = match every {
            Some(every) => self.expr(every)?,
            None => lit(ScalarValue::IntervalMonthDayNano(Some(
                IntervalMonthDayNano::new(0, 0, 3_600_000_000_000),
            ))),
        };
        if !matches!(
            self.type_of(&interval, span)?,
            DataType::Interval(_) | DataType::Duration(_)
        ) {
            return Err(self
                .at
                .error("TIMECHART's SPAN is a time span (1 hour, 5 minutes)", span));
        }
        if !self.has(TIME) {
            return Err(self.at.error("TIMECHART needs @timestamp", span));
        }
        let bucket = f::date_bin(
            interval.clone(),
            ident(TIME),
            lit(ScalarValue::TimestampNanosecond(
                Some(0),
                Some("UTC".into()),
            )),
        );
        let bucketed = frame
            .with_column("__bucket", bucket)
            .map_err(self.df(span))?;
        let mut keys: Vec<Assign> = vec![Assign {
            name: None,
            expr: Expr {
                kind: ExprKind::Field(Name("__bucket".into())),
                span,
            },
        }];
        keys.extend(by.iter().map(|k| Assign {
            name: None,
            expr: Expr {
                kind: ExprKind::Field(k.clone()),
                span,
            },
        }));
        let figures =
            self.over(&bucketed)
                .stats(bucketed.clone(), false, aggregates, &keys, span)?;
        let names: Vec<String> = aggregates
            .iter()
            .map(|a| {
                a.name
                    .as_ref()
                    .map_or_else(|| a.expr.to_string(), |n| n.as_str().to_string())
            })
            .collect();
        // Every bucket between the first and the last present.
        let bounds = figures
            .clone()
            .aggregate(
                vec![],
                vec![
                    datafusion::functions_aggregate::expr_fn::min(ident("__bucket")).alias("__lo"),
                    datafusion::functions_aggregate::expr_fn::max(ident("__bucket")).alias("__hi"),
                ],
            )
            .and_then(|f| {
                f.select(vec![f_nested::gen_series(
                    ident("__lo"),
                    ident("__hi"),
                    interval,
                )
                .alias("__series")])
            })
            .and_then(|f| f.unnest_columns(&["__series"]))
            .and_then(|f| f.select(vec![ident("__series").alias("__grid")]))
            .map_err(self.df(span))?;
        // For every key combination present.
        let renamed: Vec<String> = (0..by.len()).map(|i| format!("__key{i}")).collect();
        let grid = if by.is_empty() {
            bounds
        } else {
            let combinations = figures
                .clone()
                .select(
                    by.iter()
                        .zip(&renamed)
                        .map(|(k, r)| ident(k.as_str()).alias(r.as_str()))
                        .collect::<Vec<DfExpr>>(),
                )
                .and_then(DataFrame::distinct)
                .map_err(self.df(span))?;
            join_on(bounds, combinations, JoinType::Inner, &[], &[], None).map_err(self.df(span))?
        };
        let mut left_keys = vec!["__grid"];
        left_keys.extend(renamed.iter().map(String::as_str));
        let mut right_keys = vec!["__bucket"];
        right_keys.extend(by.iter().map(Name::as_str));
        let joined = join_keys(
            grid,
            figures,
            JoinType::Left,
            (&left_keys, &right_keys),
            None,
            NullEquality::NullEqualsNull,
        )
        .map_err(self.df(span))?;
        let mut select = vec![ident("__grid").alias(TIME)];
        select.extend(
            by.iter()
                .zip(&renamed)
                .map(|(k, r)| ident(r.as_str()).alias(k.as_str())),
        );
        for (name, item) in names.iter().zip(aggregates) {
            let column = Column::new_unqualified(name.as_str());
            let counted = matches!(
                &item.expr.kind,
                ExprKind::Call { name, .. } if matches!(name.to_ascii_lowercase().as_str(), "count" | "count_distinct")
            );
            select.push(if counted {
                f::coalesce(vec![DfExpr::Column(column), lit(0i64)]).alias(name.as_str())
            } else {
                DfExpr::Column(column).alias(name.as_str())
            });
        }
        let mut order = vec![ident(TIME).sort(true, false)];
        order.extend(by.iter().map(|k| ident(k.as_str()).sort(true, true)));
        joined
            .select(select)
            .and_then(|f| f.sort(order))
            .map_err(self.df(span))
    }

    /// JOIN: the subquery's rows matched on the keys (and, with WITHIN, `@timestamp`s at most the
    /// span apart). The subquery's columns that the rows already have get a `1` after their name
    /// (KQL's convention); anti and semi joins keep the rows' own columns only.
    fn join(
        &self,
        frame: DataFrame,
        kind: JoinKind,
        query: &Query,
        on: &[Name],
        within: Option<&Expr>,
        span: Span,
    ) -> Result<DataFrame, HuntError> {
        let mut sub = plan_query(self.base, self.at.text, query, self.planning)?;
        let mut frame = frame;
        // Keys that are fields read from `_fields` become columns on both sides first.
        for key in on {
            if !self.over(&frame).has(key.as_str()) {
                let value = self.over(&frame).field(key, span)?;
                frame = frame
                    .with_column(key.as_str(), value)
                    .map_err(self.df(span))?;
            }
            if !self.over(&sub).has(key.as_str()) {
                let value = self.over(&sub).field(key, span)?;
                sub = sub
                    .with_column(key.as_str(), value)
                    .map_err(self.df(span))?;
            }
        }
        let left_names: Vec<String> = frame
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let keys: Vec<&str> = on.iter().map(Name::as_str).collect();
        let mut right_select = Vec::new();
        let mut key_columns = Vec::new();
        let mut right_time = None;
        for field in sub.schema().fields() {
            let name = field.name();
            if let Some(i) = keys.iter().position(|k| k == name) {
                let alias = format!("__rk{i}");
                right_select.push(ident(name.as_str()).alias(alias.as_str()));
                key_columns.push((i, alias));
                continue;
            }
            let alias = if left_names.contains(name) {
                format!("{name}1")
            } else {
                name.clone()
            };
            if name == "@timestamp" {
                right_time = Some(alias.clone());
            }
            right_select.push(ident(name.as_str()).alias(alias.as_str()));
        }
        if key_columns.len() != keys.len() {
            return Err(self.at.error(
                "a JOIN key is missing from the subquery's columns (KEEP it)",
                span,
            ));
        }
        key_columns.sort();
        let right = sub.select(right_select).map_err(self.df(span))?;
        let filter = match within {
            None => None,
            Some(e) => {
                let (Some(right_time), true) =
                    (right_time, left_names.iter().any(|n| n == "@timestamp"))
                else {
                    return Err(self.at.error(
                        "WITHIN compares @timestamp on both sides; keep it in both",
                        e.span,
                    ));
                };
                let span_nanos = match &e.kind {
                    ExprKind::Duration {
                        amount: Literal::Integer(amount),
                        unit,
                    } => TimeUnit::parse(unit)
                        .and_then(unit_nanos)
                        .and_then(|n| n.checked_mul(*amount)),
                    _ => None,
                }
                .ok_or_else(|| {
                    self.at.error(
                        "WITHIN takes a time span such as 5 minutes (up to weeks)",
                        e.span,
                    )
                })?;
                let nanos = |c: &str| cast(ident(c), DataType::Int64);
                let gap = binary_expr(nanos("@timestamp"), Operator::Minus, nanos(&right_time));
                Some(f::abs(gap).lt_eq(lit(span_nanos)))
            }
        };
        let join_type = match kind {
            JoinKind::Inner => JoinType::Inner,
            JoinKind::Left => JoinType::Left,
            JoinKind::Anti => JoinType::LeftAnti,
            JoinKind::Semi => JoinType::LeftSemi,
        };
        let left_keys: Vec<&str> = keys.clone();
        let right_keys: Vec<String> = key_columns.into_iter().map(|(_, a)| a).collect();
        let right_refs: Vec<&str> = right_keys.iter().map(String::as_str).collect();
        let joined = join_on(frame, right, join_type, &left_keys, &right_refs, filter)
            .map_err(self.df(span))?;
        match kind {
            JoinKind::Anti | JoinKind::Semi => Ok(joined),
            JoinKind::Inner | JoinKind::Left => joined.without(&right_refs).map_err(self.df(span)),
        }
    }

    /// STREAM: previous-row and running figures per group, in the SORT order (time when none is
    /// given): lag, lead, row_number, and count, sum, min, max, avg from the first row to this one.
    fn stream(
        &self,
        frame: DataFrame,
        items: &[Assign],
        by: &[Name],
        sort: &[SortKey],
        span: Span,
    ) -> Result<DataFrame, HuntError> {
        let partition = by
            .iter()
            .map(|k| self.field(k, span))
            .collect::<Result<Vec<_>, _>>()?;
        let order: Vec<SortExpr> = if sort.is_empty() {
            if !self.has("@timestamp") {
                return Err(self
                    .at
                    .error("STREAM needs SORT when rows have no @timestamp", span));
            }
            vec![ident("@timestamp").sort(true, false)]
        } else {
            sort.iter()
                .map(|k| {
                    let asc = k.order != Some(Order::Desc);
                    Ok(SortExpr::new(
                        self.expr(&k.expr)?,
                        asc,
                        k.nulls == Some(Nulls::First),
                    ))
                })
                .collect::<Result<_, HuntError>>()?
        };
        let shifts_only = !partition.is_empty()
            && items.iter().all(|i| {
                matches!(&i.expr.kind, ExprKind::Call { name, .. } if name == "lag" || name == "lead")
            });
        let mut shifts = shifts_only.then(|| Shifts::new(partition.clone(), order.clone()));
        let mut windows = Vec::new();
        for item in items {
            let ExprKind::Call { name, args, star } = &item.expr.kind else {
                return Err(self.at.error(
                    "STREAM takes lag, lead, row_number or a running aggregate",
                    item.expr.span,
                ));
            };
            let arg = |i: usize| -> Result<DfExpr, HuntError> {
                args.get(i)
                    .ok_or_else(|| {
                        self.at
                            .error(format!("{name} needs an argument"), item.expr.span)
                    })
                    .and_then(|e| self.expr(e))
            };
            let offset = match args.get(1).map(|e| &e.kind) {
                Some(ExprKind::Literal(Literal::Integer(n))) => Some(*n),
                Some(_) => {
                    return Err(self
                        .at
                        .error(format!("{name}'s offset is a whole number"), item.expr.span))
                }
                None => None,
            };
            let running = Some(WindowFrame::new_bounds(
                WindowFrameUnits::Rows,
                WindowFrameBound::Preceding(ScalarValue::UInt64(None)),
                WindowFrameBound::CurrentRow,
            ));
            if let Some(shifts) = shifts.as_mut() {
                shifts
                    .add(
                        name == "lead",
                        arg(0)?,
                        offset.unwrap_or(1),
                        output_name(item),
                    )
                    .map_err(self.df(span))?;
                continue;
            }
            let (function, frame_bounds) = match name.as_str() {
                // The offset is 1 unless given (a null offset would mean 0 to DataFusion).
                "lag" => (
                    datafusion::functions_window::expr_fn::lag(arg(0)?, Some(offset.unwrap_or(1)), None),
                    None,
                ),
                "lead" => (
                    datafusion::functions_window::expr_fn::lead(arg(0)?, Some(offset.unwrap_or(1)), None),
                    None,
                ),
                "row_number" => (datafusion::functions_window::expr_fn::row_number(), None),
                "count" if *star || args.is_empty() => (agg::count(lit(1i64)), running),
                "count" => (agg::count(arg(0)?), running),
                "sum" => (agg::sum(arg(0)?), running),
                "min" => (agg::min(arg(0)?), running),
                "max" => (agg::max(arg(0)?), running),
                "avg" => (agg::avg(arg(0)?), running),
                other => {
                    return Err(self.at.error(
                        format!("STREAM has no {other}: use lag, lead, row_number, count, sum, min, max or avg"),
                        item.expr.span,
                    ))
                }
            };
            let value = window(function, partition.clone(), order.clone(), frame_bounds)
                .map_err(self.df(span))?;
            windows.push(value.alias(output_name(item)));
        }
        if let Some(shifts) = shifts {
            return shifts.apply(frame).map_err(self.df(span));
        }
        // One window node per figure: DataFusion's physical planner wants one set of sort keys
        // per node.
        let mut frame = frame;
        for w in windows {
            frame = frame.window(vec![w]).map_err(self.df(span))?;
        }
        Ok(frame)
    }

    /// TOP and RARE: each group's n most (least) common values of the field, with their count and
    /// their share of the group's rows that have a value.
    fn top(
        &self,
        frame: DataFrame,
        rare: bool,
        n: u64,
        field: &Name,
        by: &[Name],
        span: Span,
    ) -> Result<DataFrame, HuntError> {
        let value = self.field(field, span)?;
        let mut groups: Vec<DfExpr> = by
            .iter()
            .map(|k| Ok(self.field(k, span)?.alias(k.as_str())))
            .collect::<Result<_, HuntError>>()?;
        groups.push(value.clone().alias(field.as_str()));
        let keys: Vec<DfExpr> = by.iter().map(|k| ident(k.as_str())).collect();
        let counted = frame
            .filter(value.is_not_null())
            .and_then(|f| f.aggregate(groups, vec![agg::count(lit(1i64)).alias("count")]))
            .map_err(self.df(span))?;
        let total = window(agg::sum(ident("count")), keys.clone(), Vec::new(), None)
            .map_err(self.df(span))?
            .alias("__total");
        let rank = window(
            datafusion::functions_window::expr_fn::row_number(),
            keys.clone(),
            vec![
                ident("count").sort(rare, false),
                ident(field.as_str()).sort(true, false),
            ],
            None,
        )
        .map_err(self.df(span))?
        .alias("__rank");
        let mut select: Vec<DfExpr> = keys.clone();
        select.push(ident(field.as_str()));
        select.push(ident("count"));
        select.push(
            binary_expr(
                binary_expr(
                    lit(100.0),
                    Operator::Multiply,
                    cast(ident("count"), DataType::Float64),
                ),
                Operator::Divide,
                cast(ident("__total"), DataType::Float64),
            )
            .alias("percent"),
        );
        let mut order: Vec<SortExpr> = keys.iter().map(|k| k.clone().sort(true, false)).collect();
        order.push(ident("__rank").sort(true, false));
        counted
            .window(vec![total])
            .and_then(|f| f.window(vec![rank]))
            .and_then(|f| f.filter(ident("__rank").lt_eq(lit(n))))
            .and_then(|f| f.sort(order))
            .and_then(|f| f.select(select))
            .map_err(self.df(span))
    }

    /// TREE: the processes below (DESCENDANTS) or above (ANCESTORS) the rows' processes, as their
    /// creation events (rows with a `process.parent.entity_id`) from every source of the lake, each
    /// with `tree.depth` (0 for the rows' own processes, 1 for children or parents, ...).
    fn tree(
        &self,
        frame: DataFrame,
        ancestors: bool,
        depth: Option<u64>,
        span: Span,
    ) -> Result<DataFrame, HuntError> {
        const ID: &str = "process.entity_id";
        const PARENT: &str = "process.parent.entity_id";
        let depth = depth.unwrap_or(5);
        if depth > MAX_TREE_DEPTH {
            return Err(self.at.error(
                format!("TREE goes at most {MAX_TREE_DEPTH} levels deep"),
                span,
            ));
        }
        for column in [ID, PARENT] {
            if !self.has(column) {
                return Err(self
                    .at
                    .error(format!("TREE needs {column} in the rows (keep it)"), span));
            }
        }
        // Every process creation the query can see: the lake's and raw sources'.
        let mut universe = self.base.base.clone();
        for raw in self.base.raw.values() {
            universe = universe.union(raw.clone()).map_err(self.df(span))?;
        }
        let universe = universe
            .filter(ident(ID).is_not_null().and(ident(PARENT).is_not_null()))
            .map_err(self.df(span))?;
        let bare: Vec<DfExpr> = universe
            .schema()
            .fields()
            .iter()
            .map(|f| ident(f.name()).alias(f.name()))
            .collect();
        let universe = universe.select(bare).map_err(self.df(span))?;
        // The ids each level is looked up by: the rows' own processes first.
        let mut ids = frame
            .select(vec![ident(ID).alias("__id")])
            .and_then(|f| f.filter(ident("__id").is_not_null()))
            .and_then(DataFrame::distinct)
            .map_err(self.df(span))?;
        let mut levels: Option<DataFrame> = None;
        for level in 0..=depth {
            // Level 0 is the rows' own processes; below, children by their parent; above,
            // parents by their own id.
            let look_by = if level > 0 && !ancestors { PARENT } else { ID };
            let found = join_on(
                universe.clone(),
                ids.clone(),
                JoinType::LeftSemi,
                &[look_by],
                &["__id"],
                None,
            )
            .and_then(|f| f.with_column("tree.depth", lit(level as i64)))
            .map_err(self.df(span))?;
            // Going down, the next level's parents are this level's processes (level 0's are
            // the rows' own, whether or not their creation was logged); going up, they are the
            // parents this level's creation events name.
            if ancestors || level > 0 {
                let next = if ancestors { PARENT } else { ID };
                ids = found
                    .clone()
                    .select(vec![ident(next).alias("__id")])
                    .and_then(|f| f.filter(ident("__id").is_not_null()))
                    .and_then(DataFrame::distinct)
                    .map_err(self.df(span))?;
            }
            levels = Some(match levels {
                None => found,
                Some(all) => all.union(found).map_err(self.df(span))?,
            });
        }
        levels.ok_or_else(|| self.at.error("an empty tree", span))
    }

    /// DISSECT and GROK: the parser's parts as columns (replacing columns of the same names).
    #[allow(clippy::too_many_arguments)]
    fn extract(
        &self,
        frame: DataFrame,
        field: &Expr,
        pattern: &str,
        (name, parse): (&str, Parser),
        keys: &[String],
        types: &[Option<String>],
        span: Span,
    ) -> Result<DataFrame, HuntError> {
        let text = cast(self.expr(field)?, DataType::Utf8);
        let mut parts = Vec::new();
        for (index, (key, ty)) in keys.iter().zip(types).enumerate() {
            let parser = functions::parser_udf(name, index, Arc::clone(&parse));
            let mut value = parser.call(vec![text.clone(), lit(pattern), lit(key.as_str())]);
            match ty.as_deref() {
                None | Some("string" | "keyword") => {}
                Some("int" | "integer" | "long") => value = try_cast(value, DataType::Int64),
                Some("float" | "double") => value = try_cast(value, DataType::Float64),
                Some("boolean" | "bool") => value = try_cast(value, DataType::Boolean),
                Some(other) => {
                    return Err(self
                        .at
                        .error(format!("unknown type {other} for {key}"), span))
                }
            }
            parts.push((key, value));
        }
        // All parts from the text as it was before this stage (a key may name the parsed field).
        let mut frame = frame;
        let mut staged = Vec::new();
        for (n, (_, value)) in parts.iter().enumerate() {
            let temp = format!("__part{n}");
            frame = frame
                .with_column(&temp, value.clone())
                .map_err(self.df(span))?;
            staged.push(temp);
        }
        for ((key, _), temp) in parts.iter().zip(&staged) {
            frame = frame
                .with_column(key, ident(temp.as_str()))
                .map_err(self.df(span))?;
        }
        let drop: Vec<&str> = staged.iter().map(String::as_str).collect();
        frame.without(&drop).map_err(self.df(span))
    }

    /// Two sides of a comparison or arithmetic made comparable as ES|QL would: a multi-value is its
    /// only value (null when it holds several), and a text beside a number, a boolean or a time is
    /// read as one (a value from `_fields` whose type no mapping gives).
    fn comparable(&self, l: DfExpr, r: DfExpr, span: Span) -> Result<(DfExpr, DfExpr), HuntError> {
        let single = |e: DfExpr, ty: DataType| -> (DfExpr, DataType) {
            match ty {
                DataType::List(inner) => {
                    let only = when(
                        f_nested::cardinality(e.clone()).eq(lit(1u64)),
                        f_nested::array_element(e, lit(1i64)),
                    )
                    .end()
                    .unwrap_or_else(|_| lit(ScalarValue::Null));
                    (only, inner.data_type().clone())
                }
                other => (e, other),
            }
        };
        let (l, lt) = single(l.clone(), self.type_of(&l, span)?);
        let (r, rt) = single(r.clone(), self.type_of(&r, span)?);
        let target = |other: &DataType| -> Option<DataType> {
            if other.is_numeric() {
                Some(DataType::Float64)
            } else if matches!(other, DataType::Boolean | DataType::Timestamp(..)) {
                Some(other.clone())
            } else {
                None
            }
        };
        Ok(match (is_text(&lt), is_text(&rt)) {
            (true, false) => match target(&rt) {
                Some(t) => (try_cast(l, t), r),
                None => (l, r),
            },
            (false, true) => match target(&lt) {
                Some(t) => (l, try_cast(r, t)),
                None => (l, r),
            },
            _ => (l, r),
        })
    }

    /// The type of a value of this stage (in STATS, aggregates stand for their results).
    fn type_of(&self, value: &DfExpr, span: Span) -> Result<DataType, HuntError> {
        let value = match self.aggregates {
            Some(collected) => {
                let collected = collected.borrow();
                value
                    .clone()
                    .transform_up(|e| {
                        if let DfExpr::Column(c) = &e {
                            if let Some(n) = c.name.strip_prefix("__agg") {
                                if let Some(a) =
                                    n.parse::<usize>().ok().and_then(|n| collected.get(n))
                                {
                                    return Ok(Transformed::yes(a.clone()));
                                }
                            }
                        }
                        Ok(Transformed::no(e))
                    })
                    .map_err(self.df(span))?
                    .data
            }
            None => value.clone(),
        };
        value.get_type(self.frame.schema()).map_err(self.df(span))
    }

    /// A value as a list: lists as they are, a text as its values (`functions::mv_list`).
    fn list(&self, value: DfExpr, span: Span) -> Result<DfExpr, HuntError> {
        let ty = self.type_of(&value, span)?;
        Ok(match ty {
            DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => value,
            _ => functions::mv_list().call(vec![cast(value, DataType::Utf8)]),
        })
    }

    /// An aggregate function call, or `None` when `name` names no aggregate (with these arguments).
    fn aggregate_call(
        &self,
        name: &str,
        args: &[Expr],
        star: bool,
        span: Span,
    ) -> Result<Option<DfExpr>, HuntError> {
        let plain = self.over(self.frame);
        let arg = |n: usize| -> Result<DfExpr, HuntError> {
            args.get(n)
                .ok_or_else(|| self.at.error(format!("{name} needs an argument"), span))
                .and_then(|e| plain.expr(e))
        };
        Ok(Some(match name {
            "count" if star || args.is_empty() => agg::count(lit(1i64)),
            "count" => agg::count(arg(0)?),
            "count_distinct" => agg::count_distinct(arg(0)?),
            "min" => agg::min(arg(0)?),
            "max" => agg::max(arg(0)?),
            "avg" => agg::avg(arg(0)?),
            "sum" => agg::sum(arg(0)?),
            "std_dev" | "stddev" => agg::stddev_pop(arg(0)?),
            "median" => agg::median(arg(0)?),
            "percentile" => {
                let value = arg(0)?;
                let share = match args.get(1).map(|e| &e.kind) {
                    Some(ExprKind::Literal(Literal::Integer(p))) => *p as f64 / 100.0,
                    Some(ExprKind::Literal(Literal::Decimal(p))) => *p / 100.0,
                    _ => {
                        return Err(self
                            .at
                            .error("percentile takes a field and a constant percent", span))
                    }
                };
                agg::percentile_cont(value.sort(true, false), lit(share))
            }
            // VALUES: the distinct values, nulls left out.
            "values" => {
                let value = arg(0)?;
                let is_list = matches!(plain.type_of(&value, span)?, DataType::List(_));
                let gathered = with_filter(
                    agg::array_agg(value.clone())
                        .distinct()
                        .build()
                        .map_err(self.df(span))?,
                    value.is_not_null(),
                );
                // Values of lists are one list of their items, as ES|QL's multi-values are.
                if is_list {
                    f_nested::array_distinct(f_nested::flatten(gathered))
                } else {
                    gathered
                }
            }
            "first" | "last" if args.len() == 2 => {
                let (value, order) = (arg(0)?, arg(1)?);
                if name == "first" {
                    agg::first_value(value, vec![order.sort(true, false)])
                } else {
                    agg::last_value(value, vec![order.sort(true, false)])
                }
            }
            _ => return Ok(None),
        }))
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
                    BinaryOp::And | BinaryOp::Or => binary_expr(l, operator(*op), r),
                    op => {
                        let (l, r) = self.comparable(l, r, span)?;
                        binary_expr(l, operator(*op), r)
                    }
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
                let mut value = self.expr(expr)?;
                if let Some(first) = list.first() {
                    value = self.comparable(value, first.clone(), span)?.0;
                }
                value.in_list(list, *negated)
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
                    if *regex {
                        regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
                            self.at.error(
                                format!(
                                    "{pattern:?} is not a regular expression: {}",
                                    e.to_string().lines().last().unwrap_or("")
                                ),
                                p.span,
                            )
                        })?;
                    }
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
            // `field : "words"` and `match(field, "words")`: the words as a phrase anywhere in
            // the text, any case (the lake has no analyzers; documented in the README).
            ExprKind::Match { field, query } => self.phrase(field, query, span)?,
            ExprKind::Options(_) => {
                return Err(self
                    .at
                    .error("options belong to a function's arguments", span))
            }
            ExprKind::InQuery {
                expr,
                query,
                negated,
            } => {
                let sub = plan_query(self.base, self.at.text, query, self.planning)?;
                let columns = sub.schema().fields().len();
                if columns != 1 {
                    return Err(self.at.error(
                        format!(
                            "an IN subquery gives one column (KEEP it); this one gives {columns}"
                        ),
                        span,
                    ));
                }
                let value = self.expr(expr)?;
                // The subquery's column under a name of its own, so the join it becomes is
                // never ambiguous.
                let only = sub.schema().field(0).name().clone();
                let sub = sub
                    .select(vec![ident(only.as_str()).alias("__in")])
                    .map_err(self.df(span))?;
                let plan = LogicalPlanBuilder::from(sub.into_unoptimized_plan())
                    .alias("__in_subquery")
                    .and_then(LogicalPlanBuilder::build)
                    .map_err(self.df(span))?;
                let plan = Arc::new(plan);
                if *negated {
                    datafusion::logical_expr::not_in_subquery(value, plan)
                } else {
                    datafusion::logical_expr::in_subquery(value, plan)
                }
            }
        })
    }

    fn phrase(&self, field: &Expr, query: &Expr, span: Span) -> Result<DfExpr, HuntError> {
        let ExprKind::Literal(Literal::String(words)) = &query.kind else {
            return Err(self.at.error("a match takes a string", query.span));
        };
        let text = cast(self.expr(field)?, DataType::Utf8);
        let _ = span;
        Ok(f::lower(text).like(lit(format!("%{}%", like_escape(&words.to_lowercase())))))
    }

    fn call(&self, name: &str, args: &[Expr], star: bool, span: Span) -> Result<DfExpr, HuntError> {
        if let Some(collected) = self.aggregates {
            if let Some(aggregate) = self.aggregate_call(name, args, star, span)? {
                let mut collected = collected.borrow_mut();
                let column = format!("__agg{}", collected.len());
                collected.push(aggregate);
                return Ok(ident(column));
            }
        } else if self
            .aggregate_call(name, args, star, span)
            .ok()
            .flatten()
            .is_some()
            && !matches!(name, "first" | "last")
        {
            return Err(self
                .at
                .error(format!("{name} is an aggregate: use it in STATS"), span));
        }
        if star {
            return Err(self
                .at
                .error(format!("{name}(*) is an aggregate: use it in STATS"), span));
        }
        match name {
            "kql" => return self.kql(args, span),
            "match" => {
                return match args {
                    [field, query, ..] => self.phrase(field, query, span),
                    _ => Err(self.at.error("match takes a field and a string", span)),
                }
            }
            "json_extract" => return self.json_extract(args, span),
            _ => {}
        }
        let values = args
            .iter()
            .map(|a| self.expr(a))
            .collect::<Result<Vec<_>, _>>()?;
        let n = values.len();
        let arity = |want: std::ops::RangeInclusive<usize>| -> Result<(), HuntError> {
            if want.contains(&n) {
                Ok(())
            } else if want.start() == want.end() {
                Err(self.at.error(
                    format!("{name} takes {} argument(s), not {n}", want.start()),
                    span,
                ))
            } else {
                Err(self.at.error(
                    format!(
                        "{name} takes {} to {} arguments, not {n}",
                        want.start(),
                        want.end()
                    ),
                    span,
                ))
            }
        };
        let v = |i: usize| {
            values
                .get(i)
                .cloned()
                .unwrap_or_else(|| lit(ScalarValue::Null))
        };
        let text = |i: usize| cast(v(i), DataType::Utf8);
        let list = |i: usize| self.list(v(i), span);
        let udf = |u: datafusion::logical_expr::ScalarUDF, args: Vec<DfExpr>| u.call(args);
        // Functions of one text that DataFusion has no twin for.
        if let Some(function) = functions::of_one_text(name) {
            arity(1..=1)?;
            return Ok(udf(function, vec![text(0)]));
        }
        Ok(match name {
            "now" => {
                arity(0..=0)?;
                lit(ScalarValue::TimestampNanosecond(
                    Some(self.planning.now),
                    Some("UTC".into()),
                ))
            }
            "to_lower" => {
                arity(1..=1)?;
                f::lower(text(0))
            }
            "to_upper" => {
                arity(1..=1)?;
                f::upper(text(0))
            }
            "length" => {
                arity(1..=1)?;
                cast(f::character_length(text(0)), DataType::Int64)
            }
            "starts_with" => {
                arity(2..=2)?;
                f::starts_with(text(0), text(1))
            }
            "ends_with" => {
                arity(2..=2)?;
                f::ends_with(text(0), text(1))
            }
            "contains" => {
                arity(2..=2)?;
                f::strpos(text(0), text(1)).gt(lit(0i64))
            }
            // ES|QL's CONCAT is null when any part is (DataFusion's `concat` skips nulls; `||` not).
            "concat" => {
                arity(1..=usize::MAX)?;
                (0..n)
                    .map(text)
                    .reduce(|a, b| binary_expr(a, Operator::StringConcat, b))
                    .unwrap_or_else(|| lit(""))
            }
            "coalesce" => {
                arity(1..=usize::MAX)?;
                f::coalesce(values.clone())
            }
            "greatest" => {
                arity(1..=64)?;
                f::greatest(values.clone())
            }
            "least" => {
                arity(1..=64)?;
                f::least(values.clone())
            }
            "to_string" | "to_str" | "to_version" => {
                arity(1..=1)?;
                match self.type_of(&v(0), span)? {
                    DataType::List(_) => f_nested::array_to_string(v(0), lit(",")),
                    _ => text(0),
                }
            }
            "to_long" | "to_integer" | "to_int" | "to_unsigned_long" => {
                arity(1..=1)?;
                try_cast(v(0), DataType::Int64)
            }
            "to_double" => {
                arity(1..=1)?;
                try_cast(v(0), DataType::Float64)
            }
            "to_boolean" | "to_bool" => {
                arity(1..=1)?;
                try_cast(v(0), DataType::Boolean)
            }
            "to_datetime" | "to_date" => {
                arity(1..=1)?;
                try_cast(v(0), time_type())
            }
            "abs" => {
                arity(1..=1)?;
                f::abs(v(0))
            }
            "round" => {
                arity(1..=2)?;
                f::round(values.clone())
            }
            "floor" | "ceil" | "sqrt" | "log10" | "exp" => {
                arity(1..=1)?;
                let x = cast(v(0), DataType::Float64);
                match name {
                    "floor" => f::floor(x),
                    "ceil" => f::ceil(x),
                    "sqrt" => f::sqrt(x),
                    "log10" => f::log10(x),
                    _ => f::exp(x),
                }
            }
            "pow" => {
                arity(2..=2)?;
                f::power(cast(v(0), DataType::Float64), cast(v(1), DataType::Float64))
            }
            "replace" => {
                arity(3..=3)?;
                f::regexp_replace(text(0), text(1), java_replacement(v(2)), Some(lit("g")))
            }
            "locate" => {
                arity(2..=3)?;
                cast(f::strpos(text(0), text(1)), DataType::Int64)
            }
            "substring" => {
                arity(2..=3)?;
                if n == 3 {
                    f::substring(text(0), v(1), v(2))
                } else {
                    f::substr(text(0), v(1))
                }
            }
            "left" => {
                arity(2..=2)?;
                f::left(text(0), v(1))
            }
            "right" => {
                arity(2..=2)?;
                f::right(text(0), v(1))
            }
            "reverse" => {
                arity(1..=1)?;
                f::reverse(text(0))
            }
            "repeat" => {
                arity(2..=2)?;
                f::repeat(text(0), v(1))
            }
            "space" => {
                arity(1..=1)?;
                f::repeat(lit(" "), v(0))
            }
            "trim" => {
                arity(1..=1)?;
                f::btrim(vec![text(0)])
            }
            "ltrim" => {
                arity(1..=1)?;
                f::ltrim(vec![text(0)])
            }
            "rtrim" => {
                arity(1..=1)?;
                f::rtrim(vec![text(0)])
            }
            "split" => {
                arity(2..=2)?;
                f_nested::string_to_array(text(0), text(1), lit(ScalarValue::Utf8(None)))
            }
            "st_x" | "st_y" => {
                arity(1..=1)?;
                udf(functions::st_coordinate(name), vec![text(0)])
            }
            "st_distance" => {
                arity(2..=2)?;
                udf(functions::st_distance(), vec![text(0), text(1)])
            }
            "in_set" => {
                arity(2..=2)?;
                let set = match args.get(1).map(|e| &e.kind) {
                    Some(ExprKind::Literal(Literal::String(name))) => name.clone(),
                    _ => return Err(self.at.error("in_set's set is named by a string", span)),
                };
                let sets = self.planning.sets.clone().ok_or_else(|| {
                    self.at.error(
                        "in_set: no sets are loaded (give --warninglists or $SECOPS_WARNINGLISTS)",
                        span,
                    )
                })?;
                let names = sets.names();
                if !names.iter().any(|n| n == &set) {
                    let mut known = names;
                    known.sort();
                    known.truncate(20);
                    return Err(self.at.error(
                        format!("in_set: no set {set:?} (sets: {})", known.join(", ")),
                        span,
                    ));
                }
                udf(functions::in_set(sets, set), vec![text(0)])
            }
            "cidr_match" => {
                arity(2..=256)?;
                udf(functions::cidr_match(n - 1), (0..n).map(text).collect())
            }
            "case" => {
                arity(1..=usize::MAX)?;
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
            "bucket" if n == 4 => {
                // BUCKET(field, count, from, to): the smallest usual span giving at most `count`
                // buckets from `from` to `to` (ES|QL's auto buckets).
                let literal = |i: usize| args.get(i).map(|e| &e.kind);
                let count = match literal(1) {
                    Some(ExprKind::Literal(Literal::Integer(c))) if *c > 0 => *c,
                    _ => {
                        return Err(self
                            .at
                            .error("BUCKET's count is a whole number above 0", span))
                    }
                };
                let time = |i: usize| match literal(i) {
                    Some(ExprKind::Literal(Literal::String(t))) => {
                        let full = if t.len() == 10 {
                            format!("{t}T00:00:00Z")
                        } else {
                            t.clone()
                        };
                        secops_event::Timestamp::parse_rfc3339(&full)
                            .ok()
                            .map(|t| t.unix_nanos())
                    }
                    _ => None,
                };
                let number = |i: usize| match literal(i) {
                    Some(ExprKind::Literal(Literal::Integer(x))) => Some(*x as f64),
                    Some(ExprKind::Literal(Literal::Decimal(x))) => Some(*x),
                    _ => None,
                };
                match ((time(2), time(3)), (number(2), number(3))) {
                    ((Some(from), Some(to)), _) => {
                        let range = (to - from).max(1);
                        let span = auto_time_span(range, count).ok_or_else(|| {
                            self.at.error("BUCKET: the range needs more buckets than a week's span gives (ask for more)", span)
                        })?;
                        f::date_bin(
                            lit(ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(0, 0, span)))),
                            v(0),
                            lit(ScalarValue::TimestampNanosecond(Some(0), Some("UTC".into()))),
                        )
                    }
                    (_, (Some(from), Some(to))) => {
                        let width = nice_width((to - from).abs() / count as f64);
                        binary_expr(
                            f::floor(binary_expr(cast(v(0), DataType::Float64), Operator::Divide, lit(width))),
                            Operator::Multiply,
                            lit(width),
                        )
                    }
                    _ => {
                        return Err(self.at.error(
                            "BUCKET(field, count, from, to): from and to are both times (\"2024-05-14T00:00:00Z\") or both numbers",
                            span,
                        ))
                    }
                }
            }
            "date_trunc" | "bucket" => {
                arity(2..=2)?;
                // ES|QL: date_trunc(span, time); BUCKET(time, span).
                let (interval, time) = if name == "bucket" {
                    (v(1), v(0))
                } else {
                    (v(0), v(1))
                };
                f::date_bin(
                    interval,
                    time,
                    lit(ScalarValue::TimestampNanosecond(
                        Some(0),
                        Some("UTC".into()),
                    )),
                )
            }
            "date_diff" => {
                arity(3..=3)?;
                let unit = match args.first().map(|e| &e.kind) {
                    Some(ExprKind::Literal(Literal::String(u))) => u.clone(),
                    _ => return Err(self.at.error("date_diff's unit is a string", span)),
                };
                let per = diff_unit(&unit).ok_or_else(|| {
                    self.at.error(
                        format!("date_diff unit {unit:?}: use nanoseconds to weeks (months and years vary in length)"),
                        span,
                    )
                })?;
                let nanos = |e: DfExpr| cast(cast(e, time_type()), DataType::Int64);
                binary_expr(
                    binary_expr(nanos(v(2)), Operator::Minus, nanos(v(1))),
                    Operator::Divide,
                    lit(per),
                )
            }
            "date_extract" => {
                arity(2..=2)?;
                let part = match args.first().map(|e| &e.kind) {
                    Some(ExprKind::Literal(Literal::String(p))) => extract_part(p),
                    _ => None,
                }
                .ok_or_else(|| self.at.error("date_extract takes a known part name", span))?;
                cast(f::date_part(lit(part), v(1)), DataType::Int64)
            }
            "date_format" => {
                arity(1..=2)?;
                let (format, time) = if n == 2 {
                    match args.first().map(|e| &e.kind) {
                        Some(ExprKind::Literal(Literal::String(p))) => (java_format(p), v(1)),
                        _ => return Err(self.at.error("date_format's format is a string", span)),
                    }
                } else {
                    ("%Y-%m-%dT%H:%M:%S%.3fZ".to_string(), v(0))
                };
                f::to_char(time, lit(format))
            }
            "mv_count" => {
                arity(1..=1)?;
                cast(f_nested::cardinality(list(0)?), DataType::Int64)
            }
            "mv_first" | "first" => {
                arity(1..=1)?;
                f_nested::array_element(list(0)?, lit(1i64))
            }
            "mv_last" | "last" => {
                arity(1..=1)?;
                f_nested::array_element(list(0)?, lit(-1i64))
            }
            "mv_concat" => {
                arity(2..=2)?;
                f_nested::array_to_string(list(0)?, text(1))
            }
            "mv_dedupe" => {
                arity(1..=1)?;
                f_nested::array_distinct(list(0)?)
            }
            "mv_sort" => {
                arity(1..=2)?;
                f_nested::array_sort(list(0)?, lit("ASC"), lit("NULLS LAST"))
            }
            "mv_min" => {
                arity(1..=1)?;
                f_nested::array_min(list(0)?)
            }
            "mv_max" => {
                arity(1..=1)?;
                f_nested::array_max(list(0)?)
            }
            "mv_contains" => {
                arity(2..=2)?;
                f_nested::array_has(list(0)?, v(1))
            }
            "mv_append" => {
                arity(2..=2)?;
                f_nested::array_concat(vec![list(0)?, list(1)?])
            }
            "mv_intersection" => {
                arity(2..=2)?;
                f_nested::array_intersect(list(0)?, list(1)?)
            }
            "mv_slice" => {
                arity(2..=3)?;
                // ES|QL counts from 0, inclusive at both ends; DataFusion from 1.
                let from = binary_expr(v(1), Operator::Plus, lit(1i64));
                let to = if n == 3 {
                    binary_expr(v(2), Operator::Plus, lit(1i64))
                } else {
                    from.clone()
                };
                f_nested::array_slice(list(0)?, from, to, None)
            }
            other => return Err(self.at.error(format!("unknown function {other}"), span)),
        })
    }

    /// `kql("...")`: Kibana KQL, parsed by our KQL parser, each field resolved as the query's are.
    fn kql(&self, args: &[Expr], span: Span) -> Result<DfExpr, HuntError> {
        let [Expr {
            kind: ExprKind::Literal(Literal::String(text)),
            ..
        }] = args
        else {
            return Err(self.at.error("kql takes one string", span));
        };
        let expr = secops_rules::kql::parse(text)
            .map_err(|e| self.at.error(format!("in the KQL {text:?}: {e}"), span))?;
        self.kql_expr(&expr, span)
    }

    fn kql_expr(&self, e: &secops_rules::Expr, span: Span) -> Result<DfExpr, HuntError> {
        use secops_rules::{CompareOp, Expr as Kql, FieldFunction};
        Ok(match e {
            Kql::And(items) => items
                .iter()
                .map(|i| self.kql_expr(i, span))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .reduce(DfExpr::and)
                .unwrap_or_else(|| lit(true)),
            Kql::Or(items) => items
                .iter()
                .map(|i| self.kql_expr(i, span))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .reduce(DfExpr::or)
                .unwrap_or_else(|| lit(false)),
            Kql::Not(inner) => datafusion::logical_expr::not(self.kql_expr(inner, span)?),
            Kql::Exists { field } => self.field(&Name(field.path.clone()), span)?.is_not_null(),
            Kql::Compare { field, op, value } => {
                let mut subject = self.field(&Name(field.path.clone()), span)?;
                match field.function {
                    Some(FieldFunction::Length) => {
                        subject = cast(
                            f::character_length(cast(subject, DataType::Utf8)),
                            DataType::Int64,
                        );
                    }
                    Some(FieldFunction::Entropy) => {
                        subject = functions::entropy().call(vec![cast(subject, DataType::Utf8)]);
                    }
                    None => {}
                }
                let numeric = matches!(
                    self.type_of(&subject, span),
                    Ok(DataType::Int64 | DataType::Float64 | DataType::Int32)
                );
                let number = value.text.parse::<f64>().ok().filter(|_| !value.quoted);
                let constant = match (numeric, number) {
                    (true, Some(x)) if x.fract() == 0.0 => lit(x as i64),
                    (true, Some(x)) => lit(x),
                    _ => lit(value.text.clone()),
                };
                let as_text = || cast(subject.clone(), DataType::Utf8);
                match op {
                    CompareOp::Match => {
                        if let Some(pieces) = &value.wildcard {
                            as_text().like(lit(like_of_pieces(pieces)))
                        } else if !value.quoted
                            && value.text.contains('/')
                            && secops_entity::inventory::Cidr::parse(&value.text).is_some()
                        {
                            functions::cidr_match(1).call(vec![as_text(), lit(value.text.clone())])
                        } else if numeric && number.is_some() {
                            subject.eq(constant)
                        } else {
                            as_text().eq(lit(value.text.clone()))
                        }
                    }
                    CompareOp::Lt | CompareOp::Le | CompareOp::Gt | CompareOp::Ge => {
                        let (subject, constant) = match (numeric, number) {
                            (false, Some(x)) => (try_cast(subject, DataType::Float64), lit(x)),
                            _ => (subject, constant),
                        };
                        match op {
                            CompareOp::Lt => subject.lt(constant),
                            CompareOp::Le => subject.lt_eq(constant),
                            CompareOp::Gt => subject.gt(constant),
                            _ => subject.gt_eq(constant),
                        }
                    }
                    other => {
                        return Err(self
                            .at
                            .error(format!("KQL has no {other:?} comparison"), span))
                    }
                }
            }
        })
    }

    /// `json_extract(text, path)`: the value at a dotted path (`$.` optional) of a JSON text; over
    /// `_source` (Elastic's whole document) it reads the event's fields.
    fn json_extract(&self, args: &[Expr], span: Span) -> Result<DfExpr, HuntError> {
        let [subject, Expr {
            kind: ExprKind::Literal(Literal::String(path)),
            ..
        }] = args
        else {
            return Err(self
                .at
                .error("json_extract takes a text and a constant path", span));
        };
        let path = path.strip_prefix("$.").unwrap_or(path);
        if matches!(&subject.kind, ExprKind::Field(f) if f.as_str() == "_source") {
            let resolved = self.field(&Name(path.to_string()), span);
            return Ok(match resolved {
                Ok(value) => cast(value, DataType::Utf8),
                Err(_) => fields::json(&[path], fields::FieldType::Text),
            });
        }
        let text = cast(self.expr(subject)?, DataType::Utf8);
        Ok(fields::json_of(text, path))
    }
}

/// The two aggregations that compute STATS whose aggregates are one `count_distinct(x)` (any number
/// of times) beside `count`, `sum`, `min` and `max` without filters: first by the keys and `x`
/// (`__distinct`) with partial figures, then by the keys, the distinct count counting the `x`s.
/// `None` when the aggregates are of another shape.
#[allow(clippy::type_complexity)]
fn two_phase(aggregates: &[DfExpr]) -> Option<((DfExpr, Vec<DfExpr>), Vec<DfExpr>)> {
    let mut distinct: Option<DfExpr> = None;
    let mut first = Vec::new();
    let mut second = Vec::new();
    for (i, e) in aggregates.iter().enumerate() {
        let DfExpr::AggregateFunction(call) = e else {
            return None;
        };
        let params = &call.params;
        if params.filter.is_some() || !params.order_by.is_empty() {
            return None;
        }
        let name = call.func.name().to_ascii_lowercase();
        let out = format!("__agg{i}");
        if params.distinct {
            let [arg] = params.args.as_slice() else {
                return None;
            };
            if name != "count" || distinct.as_ref().is_some_and(|d| d != arg) {
                return None;
            }
            distinct = Some(arg.clone());
            second.push(agg::count(ident("__distinct")).alias(out));
            continue;
        }
        let part = format!("__part{i}");
        let merged = match name.as_str() {
            "count" | "sum" => agg::sum(ident(part.as_str())),
            "min" => agg::min(ident(part.as_str())),
            "max" => agg::max(ident(part.as_str())),
            _ => return None,
        };
        first.push(e.clone().alias(part.as_str()));
        second.push(merged.alias(out));
    }
    Some(((distinct?, first), second))
}

/// ES|QL's VALUES and per-aggregate WHERE: a filter on an aggregate call.
fn with_filter(aggregate: DfExpr, condition: DfExpr) -> DfExpr {
    match aggregate {
        DfExpr::AggregateFunction(mut call) => {
            call.params.filter = Some(Box::new(match call.params.filter.take() {
                Some(earlier) => earlier.as_ref().clone().and(condition),
                None => condition,
            }));
            DfExpr::AggregateFunction(call)
        }
        DfExpr::Alias(alias) => with_filter(*alias.expr, condition).alias(alias.name),
        other => other,
    }
}

/// STREAM of lag and lead alone, planned as one window over all rows in group-then-order order
/// instead of a window per group: a row's shifted value is kept when the row it came from has the
/// same group keys (sorted by group, the rows between them do too), else null. The same values as
/// `PARTITION BY` gives, without the per-group state DataFusion's window keeps (millions of
/// groups, such as source and destination pairs, made it the slowest part of a beaconing hunt).
struct Shifts {
    keys: Vec<DfExpr>,
    order: Vec<SortExpr>,
    /// The window columns: each figure's shifted value, and each (direction, offset)'s shifted keys.
    windows: Vec<DfExpr>,
    /// Each figure: its name, its shifted value's column, its direction and offset.
    figures: Vec<(String, String, bool, i64)>,
}

impl Shifts {
    fn new(keys: Vec<DfExpr>, order: Vec<SortExpr>) -> Shifts {
        let mut by_group: Vec<SortExpr> = keys.iter().map(|k| k.clone().sort(true, true)).collect();
        by_group.extend(order);
        Shifts {
            keys,
            order: by_group,
            windows: Vec::new(),
            figures: Vec::new(),
        }
    }

    fn shift(&self, lead: bool, value: DfExpr, offset: i64) -> datafusion::error::Result<DfExpr> {
        let function = if lead {
            datafusion::functions_window::expr_fn::lead(value, Some(offset), None)
        } else {
            datafusion::functions_window::expr_fn::lag(value, Some(offset), None)
        };
        window(function, Vec::new(), self.order.clone(), None)
    }

    fn add(
        &mut self,
        lead: bool,
        value: DfExpr,
        offset: i64,
        name: String,
    ) -> datafusion::error::Result<()> {
        let column = format!("__shift{}", self.figures.len());
        self.windows
            .push(self.shift(lead, value, offset)?.alias(&column));
        // The keys shifted the same way once, for every figure shifted that way.
        let keys_shifted = self
            .figures
            .iter()
            .any(|&(_, _, l, o)| (l, o) == (lead, offset));
        if !keys_shifted {
            for (i, key) in self.keys.clone().into_iter().enumerate() {
                let shifted = self.shift(lead, key, offset)?;
                self.windows
                    .push(shifted.alias(Shifts::key_column(lead, offset, i)));
            }
        }
        self.figures.push((name, column, lead, offset));
        Ok(())
    }

    fn key_column(lead: bool, offset: i64, i: usize) -> String {
        format!(
            "__shift_{}{offset}_key{i}",
            if lead { "lead" } else { "lag" }
        )
    }

    fn apply(self, frame: DataFrame) -> datafusion::error::Result<DataFrame> {
        let frame = frame.window(self.windows)?;
        let helpers: Vec<String> = frame
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .filter(|n| n.starts_with("__shift"))
            .collect();
        let mut values = Vec::new();
        for (name, column, lead, offset) in &self.figures {
            let same_group = self
                .keys
                .iter()
                .enumerate()
                .map(|(i, key)| {
                    binary_expr(
                        ident(Shifts::key_column(*lead, *offset, i)),
                        Operator::IsNotDistinctFrom,
                        key.clone(),
                    )
                })
                .reduce(DfExpr::and)
                .unwrap_or_else(|| lit(true));
            values.push(when(same_group, ident(column)).end()?.alias(name));
        }
        let mut dropped: Vec<&str> = helpers.iter().map(String::as_str).collect();
        dropped.extend(self.figures.iter().map(|(name, ..)| name.as_str()));
        let keep: Vec<DfExpr> = frame
            .schema()
            .iter()
            .filter(|(_, f)| !dropped.contains(&f.name().as_str()))
            .map(|(q, f)| DfExpr::Column(Column::from((q, f))))
            .chain(values)
            .collect();
        frame.select(keep)
    }
}

/// Dropping columns by their bare names. (DataFusion's `drop_columns` reads `user.name` as
/// column `name` of a relation `user`.)
trait Without: Sized {
    fn without(self, names: &[&str]) -> datafusion::error::Result<Self>;
}

impl Without for DataFrame {
    fn without(self, names: &[&str]) -> datafusion::error::Result<DataFrame> {
        if names.is_empty() {
            return Ok(self);
        }
        let keep: Vec<DfExpr> = self
            .schema()
            .iter()
            .filter(|(_, f)| !names.contains(&f.name().as_str()))
            .map(|(q, f)| DfExpr::Column(Column::from((q, f))))
            .collect();
        self.select(keep)
    }
}

/// The first row of each combination of `keys` in `order` (DEDUP, ENRICH's entry per key).
fn first_per(
    frame: DataFrame,
    keys: Vec<DfExpr>,
    order: Vec<SortExpr>,
) -> datafusion::error::Result<DataFrame> {
    let rank = window(
        datafusion::functions_window::expr_fn::row_number(),
        keys,
        order,
        None,
    )?
    .alias("__rank");
    frame
        .window(vec![rank])
        .and_then(|f| f.filter(ident("__rank").eq(lit(1u64))))
        .and_then(|f| f.without(&["__rank"]))
}

/// Joins two relations on columns named by their bare (dotted) names (null keys match nothing).
fn join_on(
    left: DataFrame,
    right: DataFrame,
    join_type: JoinType,
    left_keys: &[&str],
    right_keys: &[&str],
    filter: Option<DfExpr>,
) -> datafusion::error::Result<DataFrame> {
    join_keys(
        left,
        right,
        join_type,
        (left_keys, right_keys),
        filter,
        NullEquality::NullEqualsNothing,
    )
}

/// [`join_on`], saying whether null keys match each other (as STATS groups them).
fn join_keys(
    left: DataFrame,
    right: DataFrame,
    join_type: JoinType,
    (left_keys, right_keys): (&[&str], &[&str]),
    filter: Option<DfExpr>,
    nulls: NullEquality,
) -> datafusion::error::Result<DataFrame> {
    let (state, left) = left.into_parts();
    let right = right.into_unoptimized_plan();
    let plan = LogicalPlanBuilder::from(left)
        .join_detailed(
            right,
            join_type,
            (
                left_keys
                    .iter()
                    .map(|k| Column::new_unqualified(*k))
                    .collect::<Vec<_>>(),
                right_keys
                    .iter()
                    .map(|k| Column::new_unqualified(*k))
                    .collect::<Vec<_>>(),
            ),
            filter,
            nulls,
        )?
        .build()?;
    Ok(DataFrame::new(state, plan))
}

/// The smallest of the usual bucket spans (1 s to 7 days) giving at most `count` buckets over
/// `range` nanoseconds; none when even a week's would give more.
fn auto_time_span(range: i64, count: i64) -> Option<i64> {
    const SECOND: i64 = 1_000_000_000;
    [
        1, 5, 10, 30, 60, 300, 600, 1_800, 3_600, 10_800, 43_200, 86_400, 604_800,
    ]
    .into_iter()
    .map(|s| s * SECOND)
    .find(|span| (range + span - 1) / span <= count)
}

/// The smallest width of 1, 2 or 5 times a power of ten at least `raw` (1 for nothing).
fn nice_width(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|w| *w >= raw)
        .unwrap_or(10.0 * power)
}

/// The time bounds of a condition's top-level `@timestamp` comparisons: `(true, x)` for
/// `@timestamp >= x` (or `>`), `(false, x)` for `<` and `<=`. The caller turns each into a bound on
/// the day partitions (`dt`, the UTC day of `@timestamp`); constant bounds fold to literals, and the
/// listing table then skips whole days.
fn day_bounds(condition: &DfExpr) -> Vec<(bool, DfExpr)> {
    let mut out = Vec::new();
    let mut conjuncts = vec![condition];
    while let Some(e) = conjuncts.pop() {
        let DfExpr::BinaryExpr(b) = e else {
            continue;
        };
        if b.op == Operator::And {
            conjuncts.push(&b.left);
            conjuncts.push(&b.right);
            continue;
        }
        let is_time = |x: &DfExpr| matches!(x, DfExpr::Column(c) if c.name == "@timestamp");
        let (op, bound) = if is_time(&b.left) {
            (b.op, b.right.as_ref())
        } else if is_time(&b.right) {
            let flipped = match b.op {
                Operator::Gt => Operator::Lt,
                Operator::GtEq => Operator::LtEq,
                Operator::Lt => Operator::Gt,
                Operator::LtEq => Operator::GtEq,
                other => other,
            };
            (flipped, b.left.as_ref())
        } else {
            continue;
        };
        match op {
            Operator::Gt | Operator::GtEq => out.push((true, bound.clone())),
            Operator::Lt | Operator::LtEq => out.push((false, bound.clone())),
            _ => {}
        }
    }
    out
}

/// How deep TREE may go (each level is a join over the process creation events).
pub const MAX_TREE_DEPTH: u64 = 16;

/// A window function (or an aggregate used as one) over partitions in an order.
fn window(
    function: DfExpr,
    partition: Vec<DfExpr>,
    order: Vec<SortExpr>,
    frame: Option<WindowFrame>,
) -> datafusion::error::Result<DfExpr> {
    let function = match function {
        DfExpr::AggregateFunction(call) => DfExpr::WindowFunction(Box::new(
            datafusion::logical_expr::expr::WindowFunction::new(
                datafusion::logical_expr::WindowFunctionDefinition::AggregateUDF(call.func),
                call.params.args,
            ),
        )),
        other => other,
    };
    // No ORDER BY at all (not an empty one) gives the whole-partition frame.
    let builder = if order.is_empty() {
        function.partition_by(partition)
    } else {
        function.partition_by(partition).order_by(order)
    };
    match frame {
        Some(frame) => builder.window_frame(frame).build(),
        None => builder.build(),
    }
}

/// A time unit in nanoseconds (fixed-length units only).
fn unit_nanos(unit: TimeUnit) -> Option<i64> {
    const S: i64 = 1_000_000_000;
    Some(match unit {
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Second => S,
        TimeUnit::Minute => 60 * S,
        TimeUnit::Hour => 3600 * S,
        TimeUnit::Day => 86_400 * S,
        TimeUnit::Week => 7 * 86_400 * S,
        _ => return None,
    })
}

fn is_text(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
    )
}

fn time_type() -> DataType {
    DataType::Timestamp(ArrowTimeUnit::Nanosecond, Some(Arc::from("UTC")))
}

/// A date_diff unit in nanoseconds.
fn diff_unit(unit: &str) -> Option<i64> {
    const S: i64 = 1_000_000_000;
    Some(match unit.to_ascii_lowercase().as_str() {
        "nanosecond" | "nanoseconds" | "ns" => 1,
        "microsecond" | "microseconds" | "mcs" => 1_000,
        "millisecond" | "milliseconds" | "ms" => 1_000_000,
        "second" | "seconds" | "ss" | "s" => S,
        "minute" | "minutes" | "mi" | "n" => 60 * S,
        "hour" | "hours" | "hh" => 3600 * S,
        "day" | "days" | "dd" | "d" => 86_400 * S,
        "week" | "weeks" | "wk" | "ww" => 7 * 86_400 * S,
        _ => return None,
    })
}

/// A date_extract part (Java ChronoField names) as DataFusion's date_part name.
fn extract_part(part: &str) -> Option<&'static str> {
    Some(match part.to_ascii_uppercase().as_str() {
        "YEAR" => "year",
        "MONTH_OF_YEAR" => "month",
        "DAY_OF_MONTH" => "day",
        "DAY_OF_WEEK" => "dow",
        "DAY_OF_YEAR" => "doy",
        "HOUR_OF_DAY" => "hour",
        "MINUTE_OF_HOUR" => "minute",
        "SECOND_OF_MINUTE" => "second",
        "ALIGNED_WEEK_OF_YEAR" => "week",
        _ => return None,
    })
}

/// A Java date pattern (`yyyy-MM-dd HH:mm:ss`) as a chrono one (`%Y-%m-%d %H:%M:%S`).
fn java_format(pattern: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut run = 1;
        while i + run < chars.len() && chars[i + run] == c {
            run += 1;
        }
        let piece = match (c, run) {
            ('y' | 'u', 2) => "%y".to_string(),
            ('y' | 'u', _) => "%Y".to_string(),
            ('M', 1 | 2) => "%m".to_string(),
            ('M', 3) => "%b".to_string(),
            ('M', _) => "%B".to_string(),
            ('d', _) => "%d".to_string(),
            ('H', _) => "%H".to_string(),
            ('h', _) => "%I".to_string(),
            ('m', _) => "%M".to_string(),
            ('s', _) => "%S".to_string(),
            ('S', n) => format!("%{n}f"),
            ('a', _) => "%p".to_string(),
            ('E', 1..=3) => "%a".to_string(),
            ('E', _) => "%A".to_string(),
            ('Z' | 'X' | 'x', _) => "%z".to_string(),
            ('\'', _) => {
                // Quoted literal text.
                let mut j = i + 1;
                let mut literal = String::new();
                while j < chars.len() && chars[j] != '\'' {
                    literal.push(chars[j]);
                    j += 1;
                }
                i = j + 1;
                out.push_str(&literal.replace('%', "%%"));
                continue;
            }
            ('%', _) => "%%".repeat(run),
            (other, n) => other.to_string().repeat(n),
        };
        out.push_str(&piece);
        i += run;
    }
    out
}

/// A Java regex replacement (`$1`) as the regex crate's (`${1}`), for a constant.
fn java_replacement(value: DfExpr) -> DfExpr {
    match value {
        DfExpr::Literal(ScalarValue::Utf8(Some(text)), meta) => {
            let mut out = String::new();
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                        let mut digits = String::new();
                        while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                            digits.push(d);
                            chars.next();
                        }
                        out.push_str(&format!("${{{digits}}}"));
                    }
                    '\\' => match chars.next() {
                        Some('$') => out.push_str("$$"),
                        Some(other) => out.push(other),
                        None => out.push('\\'),
                    },
                    '$' => out.push_str("$$"),
                    c => out.push(c),
                }
            }
            DfExpr::Literal(ScalarValue::Utf8(Some(out)), meta)
        }
        other => cast(other, DataType::Utf8),
    }
}

/// KQL wildcard pieces as a LIKE pattern.
fn like_of_pieces(pieces: &[secops_rules::Piece]) -> String {
    let mut out = String::new();
    for p in pieces {
        match p {
            secops_rules::Piece::Text(t) => out.push_str(&like_escape(t)),
            secops_rules::Piece::Any => out.push('%'),
            secops_rules::Piece::One => out.push('_'),
        }
    }
    out
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

/// A DataFusion error without its list of every valid field (the lake has dozens).
pub(crate) fn short(e: &datafusion::error::DataFusionError) -> String {
    let text = e.to_string();
    let text = match text.find("Valid fields are") {
        Some(at) => text[..at]
            .trim_end_matches(['.', ' ', '\\', 'n', '\n'])
            .to_string(),
        None => text,
    };
    text.replace("Schema error: ", "")
        .replace("Error during planning: ", "")
        .replace("External error: ", "")
}

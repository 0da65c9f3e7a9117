//! The query as a tree. Spans (byte offsets into the query text) say where each stage and expression
//! was written; they take no part in equality, so a query printed and parsed again equals the first.

use std::fmt;

/// Where something was written: byte offsets into the query text, end exclusive.
#[derive(Debug, Clone, Copy, Default, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The line and column (both from 1, columns in characters) of the span's start in `text`.
    pub fn line_column(&self, text: &str) -> (usize, usize) {
        let before = text.get(..self.start.min(text.len())).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }
}

/// Spans are positions, not content: two trees that say the same thing are equal wherever written.
impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

/// A whole query: stages separated by `|`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub stages: Vec<Stage>,
}

/// One stage: a command and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub command: Command,
    pub span: Span,
}

/// A field name (`process.name`, `@timestamp`, `Esql.count`), or in KEEP and DROP a pattern
/// (`process.*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(pub String);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `name = expression` (EVAL, ROW, STATS ... BY), or an expression alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Assign {
    pub name: Option<Name>,
    pub expr: Expr,
}

/// One aggregate of STATS: `[name =] expression [WHERE condition]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub name: Option<Name>,
    pub expr: Expr,
    pub filter: Option<Expr>,
}

/// How JOIN keeps rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    /// Rows with a match, once per match, with the subquery's columns.
    Inner,
    /// Every row, with the subquery's columns where there is a match.
    Left,
    /// Rows without a match.
    Anti,
    /// Rows with a match, once.
    Semi,
}

impl JoinKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JoinKind::Inner => "inner",
            JoinKind::Left => "left",
            JoinKind::Anti => "anti",
            JoinKind::Semi => "semi",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    First,
    Last,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub order: Option<Order>,
    pub nulls: Option<Nulls>,
}

/// What a stage does.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `FROM source, source... [METADATA field, ...]`: sources as written (index patterns, lake
    /// sources, files).
    From {
        sources: Vec<String>,
        metadata: Vec<Name>,
    },
    /// `ROW a = 1, b = "x"`: one row of literals.
    Row(Vec<Assign>),
    Where(Expr),
    Eval(Vec<Assign>),
    Keep(Vec<Name>),
    Drop(Vec<Name>),
    /// `RENAME old AS new, ...`.
    Rename(Vec<(Name, Name)>),
    /// `STATS aggregates [BY keys]`, or `INLINE STATS` (every row kept, with its group's figures).
    Stats {
        inline: bool,
        aggregates: Vec<Aggregate>,
        by: Vec<Assign>,
    },
    Sort(Vec<SortKey>),
    Limit(u64),
    /// `DISSECT field "pattern" [APPEND_SEPARATOR = "x"]`.
    Dissect {
        field: Expr,
        pattern: String,
        separator: Option<String>,
    },
    /// `GROK field "pattern"`.
    Grok {
        field: Expr,
        pattern: String,
    },
    /// `ENRICH policy [ON field] [WITH [name =] field, ...]`.
    Enrich {
        policy: String,
        on: Option<Name>,
        with: Vec<(Option<Name>, Name)>,
    },
    MvExpand(Name),
    /// `LOOKUP JOIN table ON field, ...`.
    LookupJoin {
        table: String,
        on: Vec<Name>,
    },
    /// `JOIN [kind=]inner|left|anti|semi (subquery) ON key, ... [WITHIN span]`: rows of the
    /// subquery with the same keys (and, with WITHIN, `@timestamp`s at most the span apart).
    Join {
        kind: JoinKind,
        query: Box<Query>,
        on: Vec<Name>,
        within: Option<Expr>,
    },
    /// `STREAM name = lag(x) | lead(x) | row_number() | running aggregate, ... [BY keys] [SORT keys]`:
    /// previous-row and running figures per group, rows in order.
    Stream {
        items: Vec<Assign>,
        by: Vec<Name>,
        sort: Vec<SortKey>,
    },
    /// `TOP n field [BY keys]`, `RARE n field [BY keys]`: the n most or least common values, with
    /// their counts (per group).
    Top {
        rare: bool,
        count: u64,
        field: Name,
        by: Vec<Name>,
    },
    /// `DEDUP field, ...`: the first row (by time, when rows have one) of each combination.
    Dedup(Vec<Name>),
    /// `TREE descendants|ancestors [DEPTH n]`: the processes below or above the rows' processes, over
    /// `process.entity_id` and `process.parent.entity_id`, with their depth.
    Tree {
        ancestors: bool,
        depth: Option<u64>,
    },
    /// `LET name = (query)`: a query named for the FROMs after it (subqueries included). LETs come
    /// before the query's FROM.
    Let {
        name: Name,
        query: Box<Query>,
    },
    /// `UNION (query), ...`: the rows so far, then each query's; columns matched by name (a column
    /// one side lacks is null there).
    Union(Vec<Query>),
    /// `TIMECHART [SPAN = span] aggregates [BY keys]`: the aggregates per time bucket of
    /// `@timestamp` (and key), every bucket from the first to the last present for every key, counts
    /// of an empty bucket 0.
    Timechart {
        span: Option<Expr>,
        aggregates: Vec<Aggregate>,
        by: Vec<Name>,
    },
    /// `SEQUENCE "by key with maxspan=5m [category where condition] [...] until [...]"`: the rows
    /// that form an EQL sequence, in the EQL of the rules (a leading `sequence` may be written), run
    /// by the detection engine's sequence matcher; each row with its sequence's number and its step.
    Sequence(String),
    /// `COMPLETION [name =] prompt WITH { "key": value, ... }`: a call to a language model. It parses
    /// (the corpus has it) and is refused when planned.
    Completion {
        name: Option<Name>,
        prompt: Expr,
        options: Vec<(String, Literal)>,
    },
}

impl Command {
    /// The command's keyword, as printed.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::From { .. } => "FROM",
            Command::Row(_) => "ROW",
            Command::Where(_) => "WHERE",
            Command::Eval(_) => "EVAL",
            Command::Keep(_) => "KEEP",
            Command::Drop(_) => "DROP",
            Command::Rename(_) => "RENAME",
            Command::Stats { inline: false, .. } => "STATS",
            Command::Stats { inline: true, .. } => "INLINE STATS",
            Command::Sort(_) => "SORT",
            Command::Limit(_) => "LIMIT",
            Command::Dissect { .. } => "DISSECT",
            Command::Grok { .. } => "GROK",
            Command::Enrich { .. } => "ENRICH",
            Command::MvExpand(_) => "MV_EXPAND",
            Command::LookupJoin { .. } => "LOOKUP JOIN",
            Command::Completion { .. } => "COMPLETION",
            Command::Join { .. } => "JOIN",
            Command::Stream { .. } => "STREAM",
            Command::Top { rare: false, .. } => "TOP",
            Command::Top { rare: true, .. } => "RARE",
            Command::Dedup(_) => "DEDUP",
            Command::Tree { .. } => "TREE",
            Command::Let { .. } => "LET",
            Command::Union(_) => "UNION",
            Command::Timechart { .. } => "TIMECHART",
            Command::Sequence(_) => "SEQUENCE",
        }
    }
}

/// A time span's unit, whatever spelling it was written in (`day`, `days`, `d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl TimeUnit {
    /// The unit a word after a number names (lower case), if any.
    pub fn parse(word: &str) -> Option<TimeUnit> {
        Some(match word {
            "millisecond" | "milliseconds" | "ms" => TimeUnit::Millisecond,
            "second" | "seconds" | "sec" | "s" => TimeUnit::Second,
            "minute" | "minutes" | "min" | "m" => TimeUnit::Minute,
            "hour" | "hours" | "h" => TimeUnit::Hour,
            "day" | "days" | "d" => TimeUnit::Day,
            "week" | "weeks" | "w" => TimeUnit::Week,
            "month" | "months" | "mo" => TimeUnit::Month,
            "quarter" | "quarters" | "q" => TimeUnit::Quarter,
            "year" | "years" | "yr" | "y" => TimeUnit::Year,
            _ => return None,
        })
    }
}

/// A constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Integer(i64),
    Decimal(f64),
    String(String),
}

/// Binary operators, loosest first within each group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    /// `=~`: equal, ignoring case.
    CaseEq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "OR",
            BinaryOp::And => "AND",
            BinaryOp::Eq => "==",
            BinaryOp::CaseEq => "=~",
            BinaryOp::NotEq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
        }
    }

    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq
            | BinaryOp::CaseEq
            | BinaryOp::NotEq
            | BinaryOp::Lt
            | BinaryOp::LtEq
            | BinaryOp::Gt
            | BinaryOp::GtEq => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 6,
        }
    }
}

/// An expression and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// A time span: `7 days`, `1 hour` (the unit as written, lower case).
    Duration {
        amount: Literal,
        unit: String,
    },
    Field(Name),
    /// `?`, `?name` or `?1`: a value given with the query.
    Param(Option<String>),
    /// `name(args)`; `count(*)` has `star`. Names are kept in lower case.
    Call {
        name: String,
        args: Vec<Expr>,
        star: bool,
    },
    Not(Box<Expr>),
    Negate(Box<Expr>),
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `expr [NOT] IN (a, b, ...)`.
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `expr [NOT] LIKE pattern` or `RLIKE` (a pattern or a list of them in parentheses).
    Like {
        expr: Box<Expr>,
        patterns: Vec<Expr>,
        regex: bool,
        negated: bool,
    },
    /// `expr IS [NOT] NULL`.
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    /// `expr::type`.
    Cast {
        expr: Box<Expr>,
        to: String,
    },
    /// `field : "query"`: full-text match.
    Match {
        field: Box<Expr>,
        query: Box<Expr>,
    },
    /// `expr [NOT] IN (FROM ... | ...)`: the value is among the subquery's single column.
    InQuery {
        expr: Box<Expr>,
        query: Box<Query>,
        negated: bool,
    },
    /// `{ "name": constant, ... }`: a function's named options (`match(f, "x", {"fuzziness": 1})`).
    Options(Vec<(String, Literal)>),
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::print::name(f, &self.0)
    }
}

impl Query {
    /// This query and every subquery in it (JOIN's, and IN's in WHERE and EVAL), depth first.
    pub fn visit_queries(&self, f: &mut dyn FnMut(&Query)) {
        f(self);
        for stage in &self.stages {
            let mut exprs: Vec<&Expr> = Vec::new();
            match &stage.command {
                Command::Join { query, .. } | Command::Let { query, .. } => query.visit_queries(f),
                Command::Union(queries) => queries.iter().for_each(|q| q.visit_queries(f)),
                Command::Where(e) => exprs.push(e),
                Command::Eval(assigns) => exprs.extend(assigns.iter().map(|a| &a.expr)),
                _ => {}
            }
            let mut nested: Vec<&Query> = Vec::new();
            for e in exprs {
                collect_in_queries(e, &mut nested);
            }
            for q in nested {
                q.visit_queries(f);
            }
        }
    }
}

/// The subqueries of IN inside an expression.
fn collect_in_queries<'a>(e: &'a Expr, out: &mut Vec<&'a Query>) {
    if let ExprKind::InQuery { expr, query, .. } = &e.kind {
        out.push(query);
        collect_in_queries(expr, out);
        return;
    }
    match &e.kind {
        ExprKind::Call { args, .. } => args.iter().for_each(|a| collect_in_queries(a, out)),
        ExprKind::Not(x) | ExprKind::Negate(x) => collect_in_queries(x, out),
        ExprKind::Binary { left, right, .. } => {
            collect_in_queries(left, out);
            collect_in_queries(right, out);
        }
        ExprKind::In { expr, list, .. } => {
            collect_in_queries(expr, out);
            list.iter().for_each(|x| collect_in_queries(x, out));
        }
        ExprKind::IsNull { expr, .. } | ExprKind::Cast { expr, .. } => {
            collect_in_queries(expr, out);
        }
        _ => {}
    }
}

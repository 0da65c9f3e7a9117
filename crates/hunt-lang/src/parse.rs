//! The parser: recursive descent over the characters, with the lexing done where the grammar knows
//! what comes next (a FROM source such as `logs-endpoint.events.process-*` is not an expression).
//! Every error carries the span where it was found and the stage it was in. Nothing is skipped: an
//! unknown command, an unknown time unit or trailing text is an error.

use crate::ast::{
    Aggregate, Assign, BinaryOp, Command, Expr, ExprKind, JoinKind, Literal, Name, Nulls, Order,
    Query, SortKey, Span, Stage, TimeUnit,
};

/// Why a query could not be read, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
    pub span: Span,
    /// The stage (from 1) and its command, when the error is inside one.
    pub stage: Option<(usize, String)>,
}

impl ParseError {
    /// The error as a person reads it: `line 3, column 9 (stage 2, WHERE): expected ...`.
    pub fn describe(&self, text: &str) -> String {
        let (line, column) = self.span.line_column(text);
        match &self.stage {
            Some((n, command)) => format!(
                "line {line}, column {column} (stage {n}, {command}): {}",
                self.message
            ),
            None => format!("line {line}, column {column}: {}", self.message),
        }
    }
}

/// Words that are operators or clause keywords inside a stage, never field names unless quoted.
pub(crate) const RESERVED: &[&str] = &[
    "and", "or", "not", "in", "like", "rlike", "is", "null", "true", "false", "by", "where", "as",
    "on", "with", "asc", "desc", "nulls", "metadata",
];

/// Parses a whole query.
pub fn parse(text: &str) -> Result<Query> {
    let mut parser = Parser {
        text,
        pos: 0,
        stage: None,
    };
    parser.query(false)
}

/// The first command word of a text, after spaces and comments, lower case (`from`, `row`): what
/// tells an ES|QL query from EQL or SQL written beside it (`process where ...`, `select ...`).
pub fn first_command(text: &str) -> String {
    let mut parser = Parser {
        text,
        pos: 0,
        stage: None,
    };
    if parser.skip().is_err() {
        return String::new();
    }
    parser.word().to_ascii_lowercase()
}

/// Whether a text is an ES|QL query by its first command (`FROM` or `ROW`).
pub fn is_esql(text: &str) -> bool {
    matches!(first_command(text).as_str(), "from" | "row")
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    stage: Option<(usize, String)>,
}

type Result<T> = std::result::Result<T, ParseError>;

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '@'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '@'
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn error<T>(&self, message: impl Into<String>, span: Span) -> Result<T> {
        Err(ParseError {
            message: message.into(),
            span,
            stage: self.stage.clone(),
        })
    }

    fn here(&self) -> Span {
        let len = self.peek().map_or(0, char::len_utf8);
        Span::new(self.pos, self.pos + len)
    }

    /// What stands at the current position, for messages.
    fn found(&self) -> String {
        let rest = self.rest();
        if rest.is_empty() {
            return "the end of the query".into();
        }
        let word: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace())
            .take(20)
            .collect();
        format!("{word:?}")
    }

    /// Skips spaces and comments (`// ...` to the end of the line, `/* ... */`).
    fn skip(&mut self) -> Result<()> {
        loop {
            let rest = self.rest();
            if let Some(c) = rest.chars().next().filter(|c| c.is_whitespace()) {
                self.pos += c.len_utf8();
            } else if rest.starts_with("//") {
                self.pos += rest.find('\n').unwrap_or(rest.len());
            } else if let Some(body) = rest.strip_prefix("/*") {
                match body.find("*/") {
                    Some(end) => self.pos += end + 4,
                    None => {
                        let span = Span::new(self.pos, self.text.len());
                        return self.error("a comment that is never closed (*/)", span);
                    }
                }
            } else {
                return Ok(());
            }
        }
    }

    /// The word (letters, digits, `_`, `@`) at the position, without moving.
    fn word(&self) -> &'a str {
        let rest = self.rest();
        let end = rest
            .char_indices()
            .find(|(_, c)| !is_name_char(*c))
            .map_or(rest.len(), |(i, _)| i);
        &rest[..end]
    }

    /// Whether the next word is `keyword` (any case), without moving.
    fn at_keyword(&mut self, keyword: &str) -> Result<bool> {
        self.skip()?;
        Ok(self.word().eq_ignore_ascii_case(keyword))
    }

    /// Takes `keyword` if it is next.
    fn keyword(&mut self, keyword: &str) -> Result<bool> {
        if self.at_keyword(keyword)? {
            self.pos += keyword.len();
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<()> {
        if self.keyword(keyword)? {
            Ok(())
        } else {
            self.error(
                format!(
                    "expected {} but found {}",
                    keyword.to_uppercase(),
                    self.found()
                ),
                self.here(),
            )
        }
    }

    /// Takes `symbol` if it is next.
    fn symbol(&mut self, symbol: &str) -> Result<bool> {
        self.skip()?;
        if self.rest().starts_with(symbol) {
            self.pos += symbol.len();
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn expect_symbol(&mut self, symbol: &str) -> Result<()> {
        if self.symbol(symbol)? {
            Ok(())
        } else {
            self.error(
                format!("expected {symbol:?} but found {}", self.found()),
                self.here(),
            )
        }
    }

    /// `=` as an assignment (not `==`).
    fn assign_sign(&mut self) -> Result<bool> {
        self.skip()?;
        if self.rest().starts_with('=') && !self.rest().starts_with("==") {
            self.pos += 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// A query; `nested` (a subquery in parentheses) ends before its `)`.
    fn query(&mut self, nested: bool) -> Result<Query> {
        let outer = self.stage.clone();
        let mut stages = Vec::new();
        loop {
            self.skip()?;
            let start = self.pos;
            self.stage = None;
            let keyword = self.word().to_ascii_lowercase();
            if keyword.is_empty() {
                let what = if stages.is_empty() {
                    "a query starts with a command such as FROM"
                } else {
                    "a stage starts with a command"
                };
                return self.error(format!("{what}; found {}", self.found()), self.here());
            }
            let keyword_span = Span::new(start, start + keyword.len());
            self.stage = Some((stages.len() + 1, keyword.to_uppercase()));
            self.pos += keyword.len();
            let command = self.command(&keyword, keyword_span)?;
            self.stage = Some((stages.len() + 1, command.keyword().to_string()));
            self.skip()?;
            stages.push(Stage {
                command,
                span: Span::new(start, self.pos),
            });
            if self.rest().is_empty() || (nested && self.rest().starts_with(')')) {
                break;
            }
            if !self.symbol("|")? {
                return self.error(
                    format!(
                        "expected \"|\" or the end of the query after the {} stage, found {}",
                        stages.last().map_or("", |s| s.command.keyword()),
                        self.found()
                    ),
                    self.here(),
                );
            }
        }
        if nested {
            self.stage = outer;
        }
        Ok(Query { stages })
    }

    /// `( query )`.
    fn subquery(&mut self) -> Result<Query> {
        self.expect_symbol("(")?;
        let query = self.query(true)?;
        self.expect_symbol(")")?;
        Ok(query)
    }

    fn command(&mut self, keyword: &str, span: Span) -> Result<Command> {
        Ok(match keyword {
            "from" => self.from()?,
            "row" => Command::Row(self.assigns()?),
            "where" => Command::Where(self.expr()?),
            "eval" => Command::Eval(self.assigns()?),
            "keep" => Command::Keep(self.names(true)?),
            "drop" => Command::Drop(self.names(true)?),
            "rename" => self.rename()?,
            "stats" => self.stats(false)?,
            "inline" => {
                self.expect_keyword("stats")?;
                self.stats(true)?
            }
            "sort" => self.sort()?,
            "limit" => Command::Limit(self.count()?),
            "dissect" => {
                let field = self.primary()?;
                let pattern = self.string()?;
                let separator = if self.keyword("append_separator")? {
                    self.expect_symbol("=")?;
                    Some(self.string()?)
                } else {
                    None
                };
                Command::Dissect {
                    field,
                    pattern,
                    separator,
                }
            }
            "grok" => {
                let field = self.primary()?;
                let pattern = self.string()?;
                Command::Grok { field, pattern }
            }
            "enrich" => self.enrich()?,
            "mv_expand" => Command::MvExpand(self.name(false)?),
            "lookup" => {
                self.expect_keyword("join")?;
                let table = self.source()?;
                self.expect_keyword("on")?;
                Command::LookupJoin {
                    table,
                    on: self.names(false)?,
                }
            }
            "completion" => self.completion()?,
            "join" => self.join()?,
            "stream" => self.stream()?,
            "top" | "rare" => {
                let count = self.count()?;
                let field = self.name(false)?;
                let by = if self.keyword("by")? {
                    self.names(false)?
                } else {
                    Vec::new()
                };
                Command::Top {
                    rare: keyword == "rare",
                    count,
                    field,
                    by,
                }
            }
            "dedup" => Command::Dedup(self.names(false)?),
            "let" => {
                let name = self.name(false)?;
                self.expect_symbol("=")?;
                Command::Let {
                    name,
                    query: Box::new(self.subquery()?),
                }
            }
            "union" => {
                let mut queries = vec![self.subquery()?];
                while self.symbol(",")? {
                    queries.push(self.subquery()?);
                }
                Command::Union(queries)
            }
            "timechart" => self.timechart()?,
            "sequence" => Command::Sequence(self.string()?),
            "tree" => {
                let ancestors = if self.keyword("ancestors")? {
                    true
                } else if self.keyword("descendants")? {
                    false
                } else {
                    return self.error(
                        format!(
                            "expected DESCENDANTS or ANCESTORS but found {}",
                            self.found()
                        ),
                        self.here(),
                    );
                };
                let depth = if self.keyword("depth")? {
                    Some(self.count()?)
                } else {
                    None
                };
                Command::Tree { ancestors, depth }
            }
            other => {
                return self.error(format!("unknown command {:?}", other.to_uppercase()), span)
            }
        })
    }

    /// A source as written: an index pattern (`logs-endpoint.events.process-*`, `.alerts-security.*`,
    /// `cluster:logs-*`), a lake source, or a quoted path.
    fn source(&mut self) -> Result<String> {
        self.skip()?;
        if matches!(self.peek(), Some('"')) {
            return self.string();
        }
        let rest = self.rest();
        let end = rest
            .char_indices()
            .find(|(_, c)| c.is_whitespace() || matches!(c, ',' | '|' | '(' | ')'))
            .map_or(rest.len(), |(i, _)| i);
        if end == 0 {
            return self.error(
                format!("expected a source but found {}", self.found()),
                self.here(),
            );
        }
        let source = rest[..end].to_string();
        self.pos += end;
        Ok(source)
    }

    fn from(&mut self) -> Result<Command> {
        let mut sources = vec![self.source()?];
        while self.symbol(",")? {
            sources.push(self.source()?);
        }
        let metadata = if self.keyword("metadata")? {
            self.names(false)?
        } else {
            Vec::new()
        };
        Ok(Command::From { sources, metadata })
    }

    fn join(&mut self) -> Result<Command> {
        let kind = if self.keyword("kind")? {
            self.expect_symbol("=")?;
            self.join_kind()?
        } else {
            self.skip()?;
            if matches!(self.peek(), Some('(')) {
                JoinKind::Inner
            } else {
                self.join_kind()?
            }
        };
        let query = Box::new(self.subquery()?);
        self.expect_keyword("on")?;
        let on = self.names(false)?;
        let within = if self.keyword("within")? {
            Some(self.additive()?)
        } else {
            None
        };
        Ok(Command::Join {
            kind,
            query,
            on,
            within,
        })
    }

    fn join_kind(&mut self) -> Result<JoinKind> {
        for (word, kind) in [
            ("inner", JoinKind::Inner),
            ("left", JoinKind::Left),
            ("anti", JoinKind::Anti),
            ("semi", JoinKind::Semi),
        ] {
            if self.keyword(word)? {
                return Ok(kind);
            }
        }
        self.error(
            format!(
                "expected a join kind (inner, left, anti, semi) but found {}",
                self.found()
            ),
            self.here(),
        )
    }

    fn stream(&mut self) -> Result<Command> {
        let items = self.assigns()?;
        let by = if self.keyword("by")? {
            self.names(false)?
        } else {
            Vec::new()
        };
        let sort = if self.keyword("sort")? {
            match self.sort()? {
                Command::Sort(keys) => keys,
                _ => Vec::new(),
            }
        } else {
            Vec::new()
        };
        Ok(Command::Stream { items, by, sort })
    }

    fn rename(&mut self) -> Result<Command> {
        let mut pairs = Vec::new();
        loop {
            let first = self.name(false)?;
            if self.keyword("as")? {
                pairs.push((first, self.name(false)?));
            } else if self.assign_sign()? {
                // `RENAME new = old`
                let old = self.name(false)?;
                pairs.push((old, first));
            } else {
                return self.error(
                    format!("expected AS after {first} but found {}", self.found()),
                    self.here(),
                );
            }
            if !self.symbol(",")? {
                return Ok(Command::Rename(pairs));
            }
        }
    }

    fn stats(&mut self, inline: bool) -> Result<Command> {
        let mut aggregates = Vec::new();
        if !self.at_keyword("by")? && !self.at_end_of_stage()? {
            loop {
                let Assign { name, expr } = self.assign()?;
                let filter = if self.keyword("where")? {
                    Some(self.expr()?)
                } else {
                    None
                };
                aggregates.push(Aggregate { name, expr, filter });
                if !self.symbol(",")? {
                    break;
                }
            }
        }
        let by = if self.keyword("by")? {
            self.assigns()?
        } else {
            Vec::new()
        };
        if aggregates.is_empty() && by.is_empty() {
            return self.error("STATS needs an aggregate or BY", self.here());
        }
        Ok(Command::Stats {
            inline,
            aggregates,
            by,
        })
    }

    fn timechart(&mut self) -> Result<Command> {
        let span = if self.keyword("span")? {
            self.expect_symbol("=")?;
            Some(self.primary()?)
        } else {
            None
        };
        let Command::Stats { aggregates, by, .. } = self.stats(false)? else {
            return self.error("TIMECHART takes aggregates", self.here());
        };
        if aggregates.is_empty() {
            return self.error("TIMECHART needs an aggregate (count(*), ...)", self.here());
        }
        let mut keys = Vec::new();
        for key in by {
            match (key.name, key.expr.kind) {
                (None, ExprKind::Field(name)) => keys.push(name),
                _ => {
                    return self.error(
                        "TIMECHART groups BY fields (the time bucket is its own)",
                        key.expr.span,
                    )
                }
            }
        }
        Ok(Command::Timechart {
            span,
            aggregates,
            by: keys,
        })
    }

    fn at_end_of_stage(&mut self) -> Result<bool> {
        self.skip()?;
        Ok(self.rest().is_empty() || self.rest().starts_with('|'))
    }

    fn sort(&mut self) -> Result<Command> {
        let mut keys = Vec::new();
        loop {
            let expr = self.expr()?;
            let order = if self.keyword("asc")? {
                Some(Order::Asc)
            } else if self.keyword("desc")? {
                Some(Order::Desc)
            } else {
                None
            };
            let nulls = if self.keyword("nulls")? {
                if self.keyword("first")? {
                    Some(Nulls::First)
                } else {
                    self.expect_keyword("last")?;
                    Some(Nulls::Last)
                }
            } else {
                None
            };
            keys.push(SortKey { expr, order, nulls });
            if !self.symbol(",")? {
                return Ok(Command::Sort(keys));
            }
        }
    }

    fn count(&mut self) -> Result<u64> {
        self.skip()?;
        let start = self.pos;
        let digits = self.rest().chars().take_while(char::is_ascii_digit).count();
        self.pos += digits;
        self.text[start..self.pos].parse().or_else(|_| {
            self.error(
                format!("expected a row count but found {}", self.found()),
                Span::new(start, self.pos.max(start + 1)),
            )
        })
    }

    fn enrich(&mut self) -> Result<Command> {
        let policy = self.source()?;
        let on = if self.keyword("on")? {
            Some(self.name(false)?)
        } else {
            None
        };
        let mut with = Vec::new();
        if self.keyword("with")? {
            loop {
                let first = self.name(false)?;
                if self.assign_sign()? {
                    with.push((Some(first), self.name(false)?));
                } else {
                    with.push((None, first));
                }
                if !self.symbol(",")? {
                    break;
                }
            }
        }
        Ok(Command::Enrich { policy, on, with })
    }

    fn completion(&mut self) -> Result<Command> {
        let Assign { name, expr } = self.assign()?;
        let mut options = Vec::new();
        if self.keyword("with")? {
            options = self.options()?;
        }
        Ok(Command::Completion {
            name,
            prompt: expr,
            options,
        })
    }

    /// `{ "name": constant, ... }`.
    fn options(&mut self) -> Result<Vec<(String, Literal)>> {
        self.expect_symbol("{")?;
        let mut options = Vec::new();
        if self.symbol("}")? {
            return Ok(options);
        }
        loop {
            let key = self.string()?;
            self.expect_symbol(":")?;
            let value = self.unary()?;
            let value = match value.kind {
                ExprKind::Literal(l) => l,
                ExprKind::Negate(inner) => match inner.kind {
                    ExprKind::Literal(Literal::Integer(i)) => Literal::Integer(-i),
                    ExprKind::Literal(Literal::Decimal(d)) => Literal::Decimal(-d),
                    _ => return self.error("an option's value is a constant", value.span),
                },
                _ => return self.error("an option's value is a constant", value.span),
            };
            options.push((key, value));
            if !self.symbol(",")? {
                break;
            }
        }
        self.expect_symbol("}")?;
        Ok(options)
    }

    fn assigns(&mut self) -> Result<Vec<Assign>> {
        let mut list = vec![self.assign()?];
        while self.symbol(",")? {
            list.push(self.assign()?);
        }
        Ok(list)
    }

    /// `name = expr`, or an expression alone.
    fn assign(&mut self) -> Result<Assign> {
        self.skip()?;
        let save = self.pos;
        if let Ok(name) = self.name(false) {
            if self.assign_sign()? {
                return Ok(Assign {
                    name: Some(name),
                    expr: self.expr()?,
                });
            }
        }
        self.pos = save;
        Ok(Assign {
            name: None,
            expr: self.expr()?,
        })
    }

    fn names(&mut self, patterns: bool) -> Result<Vec<Name>> {
        let mut names = vec![self.name(patterns)?];
        while self.symbol(",")? {
            names.push(self.name(patterns)?);
        }
        Ok(names)
    }

    /// A field name: dotted segments of letters, digits, `_` and `@`, or `` `quoted` `` ones; with
    /// `patterns`, `*` may stand in them.
    fn name(&mut self, patterns: bool) -> Result<Name> {
        self.skip()?;
        let start = self.pos;
        let mut out = String::new();
        loop {
            match self.peek() {
                Some('`') => {
                    self.bump();
                    loop {
                        match self.bump() {
                            Some('`') if self.peek() == Some('`') => {
                                self.bump();
                                out.push('`');
                            }
                            Some('`') => break,
                            Some(c) => out.push(c),
                            None => {
                                return self.error(
                                    "a quoted name that is never closed (`)",
                                    Span::new(start, self.pos),
                                )
                            }
                        }
                    }
                }
                Some(c) if is_name_char(c) || (patterns && c == '*') => {
                    while let Some(c) = self
                        .peek()
                        .filter(|c| is_name_char(*c) || (patterns && *c == '*'))
                    {
                        out.push(c);
                        self.bump();
                    }
                }
                _ => break,
            }
            // Another segment follows a dot directly.
            let next = self.peek_at(1);
            if self.peek() == Some('.')
                && next.is_some_and(|c| is_name_char(c) || c == '`' || (patterns && c == '*'))
            {
                self.bump();
                out.push('.');
            } else {
                break;
            }
        }
        let plain_start = self.text[start..].chars().next();
        if out.is_empty()
            || plain_start.is_some_and(|c| c.is_ascii_digit())
            || (plain_start != Some('`') && RESERVED.contains(&out.to_ascii_lowercase().as_str()))
        {
            self.pos = start;
            return self.error(
                format!("expected a field name but found {}", self.found()),
                self.here(),
            );
        }
        Ok(Name(out))
    }

    /// A string constant: `"..."` with `\` escapes, or `"""..."""` taken as written.
    fn string(&mut self) -> Result<String> {
        self.skip()?;
        let start = self.pos;
        if self.rest().starts_with("\"\"\"") {
            self.pos += 3;
            let Some(end) = self.rest().find("\"\"\"") else {
                return self.error(
                    "a string that is never closed (\"\"\")",
                    Span::new(start, self.text.len()),
                );
            };
            // Quotes right before the closing three belong to the string.
            let mut end = end;
            while self.rest()[end + 3..].starts_with('"') {
                end += 1;
            }
            let value = self.rest()[..end].to_string();
            self.pos += end + 3;
            return Ok(value);
        }
        if self.peek() != Some('"') {
            return self.error(
                format!("expected a string but found {}", self.found()),
                self.here(),
            );
        }
        self.bump();
        let mut value = String::new();
        loop {
            match self.bump() {
                Some('"') => return Ok(value),
                Some('\\') => match self.bump() {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some('r') => value.push('\r'),
                    Some('"') => value.push('"'),
                    Some('\\') => value.push('\\'),
                    Some(other) => {
                        // An escape ES|QL does not define keeps its backslash (regexes write `\d`).
                        value.push('\\');
                        value.push(other);
                    }
                    None => break,
                },
                Some('\n') => {
                    return self.error(
                        "a string that runs past the end of its line (use \"\"\"...\"\"\" for text over lines)",
                        Span::new(start, self.pos),
                    )
                }
                Some(c) => value.push(c),
                None => break,
            }
        }
        self.error(
            "a string that is never closed (\")",
            Span::new(start, self.pos),
        )
    }

    // ---- expressions -------------------------------------------------------------------------

    pub(crate) fn expr(&mut self) -> Result<Expr> {
        self.or()
    }

    fn or(&mut self) -> Result<Expr> {
        let mut left = self.and()?;
        while self.keyword("or")? {
            let right = self.and()?;
            left = binary(BinaryOp::Or, left, right);
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr> {
        let mut left = self.not()?;
        while self.keyword("and")? {
            let right = self.not()?;
            left = binary(BinaryOp::And, left, right);
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr> {
        self.skip()?;
        let start = self.pos;
        if self.keyword("not")? {
            let inner = self.not()?;
            let span = Span::new(start, inner.span.end);
            return Ok(Expr::new(ExprKind::Not(Box::new(inner)), span));
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr> {
        let left = self.additive()?;
        let start = left.span.start;
        self.skip()?;
        let comparison = [
            ("==", BinaryOp::Eq),
            ("=~", BinaryOp::CaseEq),
            ("!=", BinaryOp::NotEq),
            ("<=", BinaryOp::LtEq),
            (">=", BinaryOp::GtEq),
            ("<", BinaryOp::Lt),
            (">", BinaryOp::Gt),
        ];
        for (symbol, op) in comparison {
            if self.symbol(symbol)? {
                let right = self.additive()?;
                return Ok(binary(op, left, right));
            }
        }
        if self.rest().starts_with('=') {
            return self.error(
                "\"=\" assigns (in EVAL, STATS and BY); to compare, write \"==\"",
                self.here(),
            );
        }
        if self.rest().starts_with(':') && !self.rest().starts_with("::") {
            self.pos += 1;
            let query = self.additive()?;
            let span = Span::new(start, query.span.end);
            return Ok(Expr::new(
                ExprKind::Match {
                    field: Box::new(left),
                    query: Box::new(query),
                },
                span,
            ));
        }
        let save = self.pos;
        let negated = self.keyword("not")?;
        if self.keyword("in")? {
            self.skip()?;
            let save_in = self.pos;
            if self.symbol("(")? {
                self.skip()?;
                let word = self.word().to_ascii_lowercase();
                self.pos = save_in;
                if word == "from" {
                    let query = Box::new(self.subquery()?);
                    return Ok(Expr::new(
                        ExprKind::InQuery {
                            expr: Box::new(left),
                            query,
                            negated,
                        },
                        Span::new(start, self.pos),
                    ));
                }
            }
            self.expect_symbol("(")?;
            let mut list = vec![self.expr()?];
            while self.symbol(",")? {
                list.push(self.expr()?);
            }
            self.expect_symbol(")")?;
            return Ok(Expr::new(
                ExprKind::In {
                    expr: Box::new(left),
                    list,
                    negated,
                },
                Span::new(start, self.pos),
            ));
        }
        for (keyword, regex) in [("like", false), ("rlike", true)] {
            if self.keyword(keyword)? {
                let patterns = if self.symbol("(")? {
                    let mut list = vec![self.expr()?];
                    while self.symbol(",")? {
                        list.push(self.expr()?);
                    }
                    self.expect_symbol(")")?;
                    list
                } else {
                    vec![self.additive()?]
                };
                return Ok(Expr::new(
                    ExprKind::Like {
                        expr: Box::new(left),
                        patterns,
                        regex,
                        negated,
                    },
                    Span::new(start, self.pos),
                ));
            }
        }
        if negated {
            // `a NOT b` is nothing: put the NOT back for the message.
            self.pos = save;
            return self.error(
                format!(
                    "expected IN, LIKE or RLIKE after NOT, found {}",
                    self.found()
                ),
                self.here(),
            );
        }
        if self.keyword("is")? {
            let negated = self.keyword("not")?;
            self.expect_keyword("null")?;
            return Ok(Expr::new(
                ExprKind::IsNull {
                    expr: Box::new(left),
                    negated,
                },
                Span::new(start, self.pos),
            ));
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr> {
        let mut left = self.multiplicative()?;
        loop {
            self.skip()?;
            let op = match self.peek() {
                Some('+') => BinaryOp::Add,
                Some('-') => BinaryOp::Sub,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.multiplicative()?;
            left = binary(op, left, right);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr> {
        let mut left = self.unary()?;
        loop {
            self.skip()?;
            let op = match self.peek() {
                Some('*') => BinaryOp::Mul,
                Some('/') if !self.rest().starts_with("//") && !self.rest().starts_with("/*") => {
                    BinaryOp::Div
                }
                Some('%') => BinaryOp::Mod,
                _ => return Ok(left),
            };
            self.bump();
            let right = self.unary()?;
            left = binary(op, left, right);
        }
    }

    fn unary(&mut self) -> Result<Expr> {
        self.skip()?;
        let start = self.pos;
        if self.peek() == Some('-') {
            self.bump();
            let inner = self.unary()?;
            let span = Span::new(start, inner.span.end);
            return Ok(Expr::new(ExprKind::Negate(Box::new(inner)), span));
        }
        if self.peek() == Some('+') {
            self.bump();
            return self.unary();
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr> {
        let mut expr = self.primary()?;
        while self.symbol("::")? {
            self.skip()?;
            let to = self.word().to_ascii_lowercase();
            if to.is_empty() {
                return self.error(
                    format!("expected a type after :: but found {}", self.found()),
                    self.here(),
                );
            }
            self.pos += to.len();
            let span = Span::new(expr.span.start, self.pos);
            expr = Expr::new(
                ExprKind::Cast {
                    expr: Box::new(expr),
                    to,
                },
                span,
            );
        }
        Ok(expr)
    }

    pub(crate) fn primary(&mut self) -> Result<Expr> {
        self.skip()?;
        let start = self.pos;
        let Some(c) = self.peek() else {
            return self.error("expected an expression but the query ends", self.here());
        };
        if c == '(' {
            self.bump();
            let inner = self.expr()?;
            self.expect_symbol(")")?;
            return Ok(Expr::new(inner.kind, Span::new(start, self.pos)));
        }
        if c == '{' {
            let options = self.options()?;
            return Ok(Expr::new(
                ExprKind::Options(options),
                Span::new(start, self.pos),
            ));
        }
        if c == '"' {
            let value = self.string()?;
            return Ok(Expr::new(
                ExprKind::Literal(Literal::String(value)),
                Span::new(start, self.pos),
            ));
        }
        if c.is_ascii_digit() || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) {
            return self.number();
        }
        if c == '?' {
            self.bump();
            let name = self.word();
            let name = (!name.is_empty()).then(|| name.to_string());
            self.pos += name.as_ref().map_or(0, String::len);
            return Ok(Expr::new(ExprKind::Param(name), Span::new(start, self.pos)));
        }
        let word = self.word().to_ascii_lowercase();
        match word.as_str() {
            "null" => {
                self.pos += 4;
                return Ok(literal(Literal::Null, start, self.pos));
            }
            "true" | "false" => {
                self.pos += word.len();
                return Ok(literal(Literal::Bool(word == "true"), start, self.pos));
            }
            _ => {}
        }
        if is_name_start(c) && !word.is_empty() {
            // A call: a plain word directly followed (spaces allowed) by `(`.
            let after = self.pos + word.len();
            let call = self.text[after..].trim_start().starts_with('(');
            if call && !RESERVED.contains(&word.as_str()) {
                self.pos = after;
                self.expect_symbol("(")?;
                let mut args = Vec::new();
                let mut star = false;
                if self.symbol("*")? {
                    star = true;
                } else if !self.at_symbol(")")? {
                    args.push(self.expr()?);
                    while self.symbol(",")? {
                        args.push(self.expr()?);
                    }
                }
                self.expect_symbol(")")?;
                return Ok(Expr::new(
                    ExprKind::Call {
                        name: word,
                        args,
                        star,
                    },
                    Span::new(start, self.pos),
                ));
            }
        }
        if is_name_start(c) || c == '`' {
            let name = self.name(false)?;
            return Ok(Expr::new(ExprKind::Field(name), Span::new(start, self.pos)));
        }
        self.error(
            format!("expected an expression but found {}", self.found()),
            self.here(),
        )
    }

    fn at_symbol(&mut self, symbol: &str) -> Result<bool> {
        self.skip()?;
        Ok(self.rest().starts_with(symbol))
    }

    /// An integer or decimal, and when a time unit follows, a duration.
    fn number(&mut self) -> Result<Expr> {
        let start = self.pos;
        let rest = self.rest();
        let mut end = rest.chars().take_while(char::is_ascii_digit).count();
        let mut decimal = false;
        if rest[end..].starts_with('.') && rest[end + 1..].starts_with(|c: char| c.is_ascii_digit())
        {
            decimal = true;
            end += 1 + rest[end + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .count();
        }
        let exponent = rest[end..].strip_prefix(['e', 'E']).and_then(|e| {
            let sign = usize::from(e.starts_with(['+', '-']));
            let digits = e[sign..].chars().take_while(char::is_ascii_digit).count();
            (digits > 0).then_some(1 + sign + digits)
        });
        if let Some(len) = exponent {
            decimal = true;
            end += len;
        }
        let text = &rest[..end];
        self.pos += end;
        let span = Span::new(start, self.pos);
        let value = if decimal {
            text.parse().map(Literal::Decimal).ok()
        } else {
            text.parse()
                .map(Literal::Integer)
                .ok()
                .or_else(|| text.parse().map(Literal::Decimal).ok())
        };
        let Some(value) = value else {
            return self.error(format!("{text:?} is not a number"), span);
        };
        // A unit right after the number: a time span.
        let save = self.pos;
        self.skip()?;
        let unit = self.word().to_ascii_lowercase();
        let follows_call = self.text[self.pos + unit.len()..]
            .trim_start()
            .starts_with('(');
        if TimeUnit::parse(&unit).is_some() && !follows_call {
            self.pos += unit.len();
            return Ok(Expr::new(
                ExprKind::Duration {
                    amount: value,
                    unit,
                },
                Span::new(start, self.pos),
            ));
        }
        self.pos = save;
        Ok(Expr::new(ExprKind::Literal(value), span))
    }
}

fn literal(value: Literal, start: usize, end: usize) -> Expr {
    Expr::new(ExprKind::Literal(value), Span::new(start, end))
}

fn binary(op: BinaryOp, left: Expr, right: Expr) -> Expr {
    let span = Span::new(left.span.start, right.span.end);
    Expr::new(
        ExprKind::Binary {
            op,
            left: Box::new(left),
            right: Box::new(right),
        },
        span,
    )
}

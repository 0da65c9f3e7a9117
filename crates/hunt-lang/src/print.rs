//! The printer: one canonical text per tree (commands and operators in upper case, functions in lower
//! case, one stage per line, parentheses only where precedence needs them), which parses back to the
//! same tree.

use std::fmt::{self, Write as _};

use crate::ast::{
    Aggregate, Assign, BinaryOp, Command, Expr, ExprKind, Literal, Nulls, Order, Query, SortKey,
};
use crate::parse::RESERVED;

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, stage) in self.stages.iter().enumerate() {
            if n > 0 {
                f.write_str("\n| ")?;
            }
            write!(f, "{}", stage.command)?;
        }
        Ok(())
    }
}

/// A field name, quoted with backticks when it is not a plain dotted name.
pub(crate) fn name(f: &mut dyn fmt::Write, text: &str) -> fmt::Result {
    let plain = !text.is_empty()
        && text.split('.').all(|segment| {
            segment
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '@' || c == '*')
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '*'))
        })
        && !RESERVED.contains(&text.to_ascii_lowercase().as_str());
    if plain {
        f.write_str(text)
    } else {
        write!(f, "`{}`", text.replace('`', "``"))
    }
}

fn string(f: &mut dyn fmt::Write, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

fn sort_keys(f: &mut fmt::Formatter<'_>, keys: &[SortKey]) -> fmt::Result {
    list(f, keys, |f, k: &SortKey| {
        write!(f, "{}", k.expr)?;
        match k.order {
            Some(Order::Asc) => f.write_str(" ASC")?,
            Some(Order::Desc) => f.write_str(" DESC")?,
            None => {}
        }
        match k.nulls {
            Some(Nulls::First) => f.write_str(" NULLS FIRST"),
            Some(Nulls::Last) => f.write_str(" NULLS LAST"),
            None => Ok(()),
        }
    })
}

/// A subquery inside parentheses: its stages on one line.
fn nested(f: &mut fmt::Formatter<'_>, query: &Query) -> fmt::Result {
    for (n, stage) in query.stages.iter().enumerate() {
        if n > 0 {
            f.write_str(" | ")?;
        }
        write!(f, "{}", stage.command)?;
    }
    Ok(())
}

/// STATS's and TIMECHART's aggregates: `name = expr WHERE filter, ...`.
fn aggregate_list(f: &mut fmt::Formatter<'_>, aggregates: &[Aggregate]) -> fmt::Result {
    list(f, aggregates, |f, a: &Aggregate| {
        if let Some(n) = &a.name {
            write!(f, "{n} = ")?;
        }
        write!(f, "{}", a.expr)?;
        if let Some(w) = &a.filter {
            write!(f, " WHERE {w}")?;
        }
        Ok(())
    })
}

fn list<T>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    mut each: impl FnMut(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            f.write_str(", ")?;
        }
        each(f, item)?;
    }
    Ok(())
}

fn assign(f: &mut fmt::Formatter<'_>, a: &Assign) -> fmt::Result {
    if let Some(n) = &a.name {
        write!(f, "{n} = ")?;
    }
    write!(f, "{}", a.expr)
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        match self {
            Command::From { sources, metadata } => {
                f.write_char(' ')?;
                list(f, sources, |f, s| {
                    let plain = !s.is_empty()
                        && !s
                            .chars()
                            .any(|c| c.is_whitespace() || matches!(c, ',' | '|' | '(' | ')' | '"'));
                    if plain {
                        f.write_str(s)
                    } else {
                        string(f, s)
                    }
                })?;
                if !metadata.is_empty() {
                    f.write_str(" METADATA ")?;
                    list(f, metadata, |f, n| write!(f, "{n}"))?;
                }
                Ok(())
            }
            Command::Row(items) | Command::Eval(items) => {
                f.write_char(' ')?;
                list(f, items, assign)
            }
            Command::Where(e) => write!(f, " {e}"),
            Command::Keep(names) | Command::Drop(names) => {
                f.write_char(' ')?;
                list(f, names, |f, n| write!(f, "{n}"))
            }
            Command::Rename(pairs) => {
                f.write_char(' ')?;
                list(f, pairs, |f, (old, new)| write!(f, "{old} AS {new}"))
            }
            Command::Stats { aggregates, by, .. } => {
                if !aggregates.is_empty() {
                    f.write_char(' ')?;
                    aggregate_list(f, aggregates)?;
                }
                if !by.is_empty() {
                    f.write_str(" BY ")?;
                    list(f, by, assign)?;
                }
                Ok(())
            }
            Command::Sort(keys) => {
                f.write_char(' ')?;
                sort_keys(f, keys)
            }
            Command::Join {
                kind,
                query,
                on,
                within,
            } => {
                write!(f, " kind={} (", kind.as_str())?;
                nested(f, query)?;
                f.write_str(") ON ")?;
                list(f, on, |f, n| write!(f, "{n}"))?;
                if let Some(w) = within {
                    write!(f, " WITHIN {w}")?;
                }
                Ok(())
            }
            Command::Stream { items, by, sort } => {
                f.write_char(' ')?;
                list(f, items, assign)?;
                if !by.is_empty() {
                    f.write_str(" BY ")?;
                    list(f, by, |f, n| write!(f, "{n}"))?;
                }
                if !sort.is_empty() {
                    f.write_str(" SORT ")?;
                    sort_keys(f, sort)?;
                }
                Ok(())
            }
            Command::Top {
                count, field, by, ..
            } => {
                write!(f, " {count} {field}")?;
                if !by.is_empty() {
                    f.write_str(" BY ")?;
                    list(f, by, |f, n| write!(f, "{n}"))?;
                }
                Ok(())
            }
            Command::Let { name, query } => {
                write!(f, " {name} = (")?;
                nested(f, query)?;
                f.write_char(')')
            }
            Command::Union(queries) => {
                f.write_char(' ')?;
                list(f, queries, |f, q| {
                    f.write_char('(')?;
                    nested(f, q)?;
                    f.write_char(')')
                })
            }
            Command::Timechart {
                span,
                aggregates,
                by,
            } => {
                if let Some(span) = span {
                    write!(f, " SPAN = {span}")?;
                }
                f.write_char(' ')?;
                aggregate_list(f, aggregates)?;
                if !by.is_empty() {
                    f.write_str(" BY ")?;
                    list(f, by, |f, n| write!(f, "{n}"))?;
                }
                Ok(())
            }
            Command::Dedup(names) => {
                f.write_char(' ')?;
                list(f, names, |f, n| write!(f, "{n}"))
            }
            Command::Tree { ancestors, depth } => {
                f.write_str(if *ancestors {
                    " ANCESTORS"
                } else {
                    " DESCENDANTS"
                })?;
                if let Some(d) = depth {
                    write!(f, " DEPTH {d}")?;
                }
                Ok(())
            }
            Command::Limit(n) => write!(f, " {n}"),
            Command::Sequence(eql) => {
                f.write_str(" ")?;
                string(f, eql)
            }
            Command::Dissect {
                field,
                pattern,
                separator,
            } => {
                write!(f, " {} ", Operand(field, PRIMARY))?;
                string(f, pattern)?;
                if let Some(s) = separator {
                    f.write_str(" APPEND_SEPARATOR = ")?;
                    string(f, s)?;
                }
                Ok(())
            }
            Command::Grok { field, pattern } => {
                write!(f, " {} ", Operand(field, PRIMARY))?;
                string(f, pattern)
            }
            Command::Enrich { policy, on, with } => {
                write!(f, " {policy}")?;
                if let Some(on) = on {
                    write!(f, " ON {on}")?;
                }
                if !with.is_empty() {
                    f.write_str(" WITH ")?;
                    list(f, with, |f, (new, field)| {
                        if let Some(new) = new {
                            write!(f, "{new} = ")?;
                        }
                        write!(f, "{field}")
                    })?;
                }
                Ok(())
            }
            Command::MvExpand(n) => write!(f, " {n}"),
            Command::LookupJoin { table, on } => {
                write!(f, " {table} ON ")?;
                list(f, on, |f, n| write!(f, "{n}"))
            }
            Command::Completion {
                name,
                prompt,
                options,
            } => {
                f.write_char(' ')?;
                if let Some(n) = name {
                    write!(f, "{n} = ")?;
                }
                write!(f, "{prompt}")?;
                if !options.is_empty() {
                    let options = Expr::new(ExprKind::Options(options.clone()), prompt.span);
                    write!(f, " WITH {options}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Bool(b) => f.write_str(if *b { "TRUE" } else { "FALSE" }),
            Literal::Integer(i) => write!(f, "{i}"),
            // `{:?}` keeps the digits that read back as the same number, and always a point or
            // an exponent, so a decimal stays a decimal.
            Literal::Decimal(d) => write!(f, "{d:?}"),
            Literal::String(s) => string(f, s),
        }
    }
}

// Binding levels: an operand printed where a tighter level is needed gets parentheses.
const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const PREDICATE: u8 = 4;
const ADDITIVE: u8 = 5;
const MULTIPLICATIVE: u8 = 6;
const NEGATE: u8 = 7;
const CAST: u8 = 8;
const PRIMARY: u8 = 9;

fn level(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => match op {
            BinaryOp::Or => OR,
            BinaryOp::And => AND,
            BinaryOp::Add | BinaryOp::Sub => ADDITIVE,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => MULTIPLICATIVE,
            _ => PREDICATE,
        },
        ExprKind::Not(_) => NOT,
        ExprKind::In { .. }
        | ExprKind::Like { .. }
        | ExprKind::IsNull { .. }
        | ExprKind::Match { .. }
        | ExprKind::InQuery { .. } => PREDICATE,
        ExprKind::Negate(_) => NEGATE,
        ExprKind::Cast { .. } => CAST,
        // A negative constant prints with its sign: it binds like a negation.
        ExprKind::Literal(Literal::Integer(i)) if *i < 0 => NEGATE,
        ExprKind::Literal(Literal::Decimal(d)) if d.is_sign_negative() => NEGATE,
        _ => PRIMARY,
    }
}

/// An expression printed where `need` is the loosest level that may stand without parentheses.
struct Operand<'a>(&'a Expr, u8);

impl fmt::Display for Operand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if level(self.0) < self.1 {
            write!(f, "({})", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

fn exprs(f: &mut fmt::Formatter<'_>, items: &[Expr]) -> fmt::Result {
    list(f, items, |f, e| write!(f, "{e}"))
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Literal(l) => write!(f, "{l}"),
            ExprKind::Duration { amount, unit } => write!(f, "{amount} {unit}"),
            ExprKind::Field(n) => write!(f, "{n}"),
            ExprKind::Param(None) => f.write_char('?'),
            ExprKind::Param(Some(p)) => write!(f, "?{p}"),
            ExprKind::Call { name, args, star } => {
                write!(f, "{name}(")?;
                if *star {
                    f.write_char('*')?;
                } else {
                    exprs(f, args)?;
                }
                f.write_char(')')
            }
            ExprKind::Not(inner) => write!(f, "NOT {}", Operand(inner, NOT)),
            ExprKind::Negate(inner) => write!(f, "-{}", Operand(inner, NEGATE + 1)),
            ExprKind::Binary { op, left, right } => {
                let own = level(self);
                // Comparisons do not chain: both sides bind tighter. The others group to the left.
                let (l, r) = if own == PREDICATE {
                    (ADDITIVE, ADDITIVE)
                } else {
                    (own, own + 1)
                };
                write!(
                    f,
                    "{} {} {}",
                    Operand(left, l),
                    op.symbol(),
                    Operand(right, r)
                )
            }
            ExprKind::In {
                expr,
                list: items,
                negated,
            } => {
                write!(f, "{} ", Operand(expr, ADDITIVE))?;
                if *negated {
                    f.write_str("NOT ")?;
                }
                f.write_str("IN (")?;
                exprs(f, items)?;
                f.write_char(')')
            }
            ExprKind::Like {
                expr,
                patterns,
                regex,
                negated,
            } => {
                write!(f, "{} ", Operand(expr, ADDITIVE))?;
                if *negated {
                    f.write_str("NOT ")?;
                }
                f.write_str(if *regex { "RLIKE " } else { "LIKE " })?;
                match patterns.as_slice() {
                    [one] => write!(f, "{}", Operand(one, ADDITIVE)),
                    many => {
                        f.write_char('(')?;
                        exprs(f, many)?;
                        f.write_char(')')
                    }
                }
            }
            ExprKind::IsNull { expr, negated } => write!(
                f,
                "{} IS {}NULL",
                Operand(expr, ADDITIVE),
                if *negated { "NOT " } else { "" }
            ),
            ExprKind::Cast { expr, to } => write!(f, "{}::{to}", Operand(expr, CAST)),
            ExprKind::Options(options) => {
                f.write_str("{ ")?;
                list(f, options, |f, (k, v)| {
                    string(f, k)?;
                    write!(f, ": {v}")
                })?;
                f.write_str(" }")
            }
            ExprKind::Match { field, query } => write!(
                f,
                "{} : {}",
                Operand(field, ADDITIVE),
                Operand(query, ADDITIVE)
            ),
            ExprKind::InQuery {
                expr,
                query,
                negated,
            } => {
                write!(f, "{} ", Operand(expr, ADDITIVE))?;
                if *negated {
                    f.write_str("NOT ")?;
                }
                f.write_str("IN (")?;
                nested(f, query)?;
                f.write_char(')')
            }
        }
    }
}

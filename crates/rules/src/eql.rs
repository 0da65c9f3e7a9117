//! The EQL subset: single-event queries (`process where cond`), and sequences
//! (`sequence by f with maxspan=5m [q1] [q2] with runs=3 until [q3]`). Conditions support `==`, `!=`, `<`,
//! `<=`, `>`, `>=`, `:` (case-insensitive, wildcards), `in` / `in~`, `like` / `like~`, `and`/`or`/`not`,
//! parentheses, the functions `startsWith`, `endsWith`, `stringContains` (each with a `~`
//! case-insensitive form) and `cidrMatch`, and the value functions `length(field)` and `entropy(field)`
//! (Shannon bits per character) on the left of a comparison. Strings compare case-sensitively unless the operator says
//! otherwise, as in Elastic's EQL.
//!
//! ```
//! use secops_rules::eql::{parse, EqlQuery};
//! let q = parse(r#"sequence by source.ip with maxspan=10m
//!   [authentication where event.outcome == "failure"] with runs=3
//!   [authentication where event.outcome == "success"]
//! until [authentication where event.action : "ssh_disconnect"]"#).unwrap();
//! let EqlQuery::Sequence(s) = q else { panic!() };
//! assert_eq!(s.steps.len(), 4); // runs=3 expands to three steps
//! assert!(s.until.is_some());
//! ```

use crate::expr::{CompareOp, Expr, Field, FieldFunction, Literal, Piece};
use crate::{Duration, QueryError, Span};

#[derive(Debug, Clone, PartialEq)]
pub enum EqlQuery {
    Event(EventQuery),
    Sequence(Sequence),
}

/// `category where condition`; `any` matches every category.
#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    /// `None` for `any`.
    pub category: Option<String>,
    pub condition: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub maxspan: Option<Duration>,
    /// One step per event, `runs` already expanded. Each step's join key is the sequence's `by` fields
    /// followed by its own.
    pub steps: Vec<Step>,
    pub until: Option<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub query: EventQuery,
    pub by: Vec<Field>,
}

/// Parses an EQL query.
pub fn parse(text: &str) -> Result<EqlQuery, QueryError> {
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        text,
    };
    let query = if p.eat_word("sequence") {
        EqlQuery::Sequence(p.sequence()?)
    } else {
        EqlQuery::Event(p.event_query()?)
    };
    match p.peek() {
        None => Ok(query),
        Some(t) => Err(p.err(t.span, format!("unexpected {}", t.tok.describe()))),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(String),
    Op(&'static str),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("{w:?}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Num(n) => format!("number {n}"),
            Tok::Op(o) => format!("'{o}'"),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::Comma => "','".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    span: Span,
}

fn lex(text: &str) -> Result<Vec<Token>, QueryError> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let single = |tok| Token {
            tok,
            span: Span::new(start, start + 1),
        };
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' | b')' | b'[' | b']' | b',' => {
                out.push(single(match c {
                    b'(' => Tok::LParen,
                    b')' => Tok::RParen,
                    b'[' => Tok::LBracket,
                    b']' => Tok::RBracket,
                    _ => Tok::Comma,
                }));
                i += 1;
            }
            b'"' => {
                let mut value = String::new();
                let mut chars = text[i + 1..].char_indices();
                let mut end = None;
                while let Some((j, ch)) = chars.next() {
                    match ch {
                        '\\' => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, 't')) => value.push('\t'),
                            Some((_, 'r')) => value.push('\r'),
                            Some((_, other)) => value.push(other),
                            None => break,
                        },
                        '"' => {
                            end = Some(i + 1 + j + 1);
                            break;
                        }
                        ch => value.push(ch),
                    }
                }
                let end = end.ok_or_else(|| {
                    QueryError::new(
                        text,
                        Span::new(start, text.len()),
                        "unterminated string".into(),
                    )
                })?;
                out.push(Token {
                    tok: Tok::Str(value),
                    span: Span::new(start, end),
                });
                i = end;
            }
            b'=' | b'!' | b'<' | b'>' | b':' => {
                let two = text.get(i..i + 2).unwrap_or("");
                let op: &'static str = match two {
                    "==" => "==",
                    "!=" => "!=",
                    "<=" => "<=",
                    ">=" => ">=",
                    _ => match c {
                        b'<' => "<",
                        b'>' => ">",
                        b':' => ":",
                        b'=' => "=",
                        _ => {
                            return Err(QueryError::new(
                                text,
                                Span::new(start, start + 1),
                                "unexpected '!'".into(),
                            ))
                        }
                    },
                };
                out.push(Token {
                    tok: Tok::Op(op),
                    span: Span::new(start, start + op.len()),
                });
                i += op.len();
            }
            b'0'..=b'9' | b'-' => {
                let mut j = i + 1;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'.') {
                    j += 1;
                }
                out.push(Token {
                    tok: Tok::Num(text[i..j].to_string()),
                    span: Span::new(start, j),
                });
                i = j;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'@' || c == b'`' => {
                if c == b'`' {
                    // `backquoted field names` may hold any character but a backquote
                    let close = text[i + 1..].find('`').ok_or_else(|| {
                        QueryError::new(
                            text,
                            Span::new(start, text.len()),
                            "unterminated `field`".into(),
                        )
                    })?;
                    out.push(Token {
                        tok: Tok::Word(text[i + 1..i + 1 + close].to_string()),
                        span: Span::new(start, i + close + 2),
                    });
                    i += close + 2;
                    continue;
                }
                let mut j = i + 1;
                while j < bytes.len()
                    && (bytes[j].is_ascii_alphanumeric()
                        || matches!(bytes[j], b'_' | b'.' | b'@' | b'-'))
                {
                    j += 1;
                }
                // `like~`, `in~`, `startsWith~`: the tilde belongs to the word
                if j < bytes.len() && bytes[j] == b'~' {
                    j += 1;
                }
                out.push(Token {
                    tok: Tok::Word(text[i..j].to_string()),
                    span: Span::new(start, j),
                });
                i = j;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(QueryError::new(
                    text,
                    Span::new(start, start + ch.len_utf8()),
                    format!("unexpected character {ch:?}"),
                ));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn end(&self) -> Span {
        Span::new(self.text.len(), self.text.len())
    }
    fn here(&self) -> Span {
        self.peek().map_or(self.end(), |t| t.span)
    }
    fn err(&self, span: Span, message: String) -> QueryError {
        QueryError::new(self.text, span, message)
    }
    fn eat(&mut self, tok: &Tok) -> bool {
        if self.peek().is_some_and(|t| t.tok == *tok) {
            self.pos += 1;
            return true;
        }
        false
    }
    fn eat_word(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(word))
        {
            self.pos += 1;
            return true;
        }
        false
    }
    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), QueryError> {
        if self.eat(&tok) {
            return Ok(());
        }
        let found = self
            .peek()
            .map_or("the end of the query".to_string(), |t| t.tok.describe());
        Err(self.err(self.here(), format!("expected {what}, found {found}")))
    }

    fn sequence(&mut self) -> Result<Sequence, QueryError> {
        let mut by = Vec::new();
        let mut maxspan = None;
        loop {
            if self.eat_word("by") {
                by = self.fields()?;
            } else if self.eat_word("with") {
                let (name, value, span) = self.setting()?;
                if name != "maxspan" {
                    return Err(self.err(
                        span,
                        format!("expected maxspan=<duration> after `with`, found {name}"),
                    ));
                }
                maxspan = Some(
                    value
                        .parse::<Duration>()
                        .map_err(|e| self.err(span, e.to_string()))?,
                );
            } else {
                break;
            }
        }
        let mut steps = Vec::new();
        let mut until = None;
        while self.peek().is_some_and(|t| t.tok == Tok::LBracket) {
            let (query, step_by, runs) = self.step()?;
            if step_by.len() + by.len()
                != steps
                    .first()
                    .map_or(step_by.len() + by.len(), |s: &Step| s.by.len())
            {
                return Err(self.err(
                    self.here(),
                    "every step must join on the same number of fields".into(),
                ));
            }
            let mut joined = by.clone();
            joined.extend(step_by);
            for _ in 0..runs {
                steps.push(Step {
                    query: query.clone(),
                    by: joined.clone(),
                });
            }
        }
        if self.eat_word("until") {
            let (query, step_by, _) = self.step()?;
            let mut joined = by.clone();
            joined.extend(step_by);
            until = Some(Step { query, by: joined });
        }
        if steps.len() < 2 {
            return Err(self.err(
                self.here(),
                "a sequence needs at least two steps ([...] [...])".into(),
            ));
        }
        Ok(Sequence {
            maxspan,
            steps,
            until,
        })
    }

    /// `[query] [by f, g] [with runs=N]`
    fn step(&mut self) -> Result<(EventQuery, Vec<Field>, u32), QueryError> {
        self.expect(Tok::LBracket, "'['")?;
        let query = self.event_query()?;
        self.expect(Tok::RBracket, "']'")?;
        let mut by = Vec::new();
        let mut runs = 1;
        loop {
            if self.eat_word("by") {
                by = self.fields()?;
            } else if self
                .peek()
                .is_some_and(|t| matches!(&t.tok, Tok::Word(w) if w == "with"))
                && matches!(self.tokens.get(self.pos + 1), Some(Token { tok: Tok::Word(w), .. }) if w == "runs")
            {
                self.pos += 1;
                let (_, value, span) = self.setting()?;
                runs = value
                    .parse::<u32>()
                    .ok()
                    .filter(|r| (1..=100).contains(r))
                    .ok_or_else(|| self.err(span, format!("runs must be 1 to 100, not {value}")))?;
            } else {
                break;
            }
        }
        Ok((query, by, runs))
    }

    /// `name=value` (a duration or a number)
    fn setting(&mut self) -> Result<(String, String, Span), QueryError> {
        let Some(Token {
            tok: Tok::Word(name),
            span,
        }) = self.next()
        else {
            return Err(self.err(self.here(), "expected maxspan= or runs=".into()));
        };
        self.expect(Tok::Op("="), "'='")?;
        match self.next() {
            Some(Token {
                tok: Tok::Num(v),
                span: vspan,
            }) => Ok((name, v, span.to(vspan))),
            _ => Err(self.err(span, format!("expected a value after {name}="))),
        }
    }

    fn fields(&mut self) -> Result<Vec<Field>, QueryError> {
        let mut fields = vec![self.field()?];
        while self.eat(&Tok::Comma) {
            fields.push(self.field()?);
        }
        Ok(fields)
    }

    fn field(&mut self) -> Result<Field, QueryError> {
        match self.next() {
            Some(Token {
                tok: Tok::Word(w),
                span,
            }) => Ok(Field {
                path: w,
                span,
                function: None,
            }),
            other => Err(self.err(
                other.map_or(self.end(), |t| t.span),
                "expected a field name".into(),
            )),
        }
    }

    fn event_query(&mut self) -> Result<EventQuery, QueryError> {
        let Some(Token {
            tok: Tok::Word(category),
            span,
        }) = self.next()
        else {
            return Err(self.err(
                self.here(),
                "expected an event category (or `any`) before `where`".into(),
            ));
        };
        if !self.eat_word("where") {
            return Err(self.err(
                self.here(),
                format!("expected `where` after the category {category}"),
            ));
        }
        let condition = self.or()?;
        let _ = span;
        let category = (!category.eq_ignore_ascii_case("any")).then_some(category);
        Ok(EventQuery {
            category,
            condition,
        })
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and()?];
        while self.eat_word("or") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.not()?];
        while self.eat_word("and") {
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not(&mut self) -> Result<Expr, QueryError> {
        if self.eat_word("not") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        if self.eat(&Tok::LParen) {
            let inner = self.or()?;
            self.expect(Tok::RParen, "')'")?;
            return Ok(inner);
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, QueryError> {
        let mut field = self.field()?;
        if self.peek().is_some_and(|t| t.tok == Tok::LParen) {
            let value_function = match field.path.as_str() {
                "length" => Some(FieldFunction::Length),
                "entropy" => Some(FieldFunction::Entropy),
                _ => None,
            };
            let Some(function) = value_function else {
                return self.function(field);
            };
            // `length(field) > 60`: the comparison tests the function of the field.
            self.expect(Tok::LParen, "'('")?;
            let inner = self.field()?;
            self.expect(Tok::RParen, "')'")?;
            field = Field {
                path: inner.path,
                span: field.span.to(inner.span),
                function: Some(function),
            };
        }
        let Some(op_token) = self.next() else {
            return Err(self.err(
                self.end(),
                format!("expected an operator after {}", field.path),
            ));
        };
        let op = match &op_token.tok {
            Tok::Op(o) => *o,
            Tok::Word(w) => match w.as_str() {
                "in" => "in",
                "in~" => "in~",
                "like" => "like",
                "like~" => "like~",
                _ => {
                    return Err(self.err(
                        op_token.span,
                        format!("expected an operator after {}, found {w:?}", field.path),
                    ))
                }
            },
            other => {
                return Err(self.err(
                    op_token.span,
                    format!(
                        "expected an operator after {}, found {}",
                        field.path,
                        other.describe()
                    ),
                ))
            }
        };
        let values = self.values()?;
        let build = |op: CompareOp, value: Literal| Expr::Compare {
            field: field.clone(),
            op,
            value,
        };
        let each = |ops: &dyn Fn(&Literal) -> CompareOp| -> Expr {
            let items: Vec<Expr> = values.iter().map(|v| build(ops(v), v.clone())).collect();
            if items.len() == 1 {
                items.into_iter().next().unwrap_or(Expr::Or(Vec::new()))
            } else {
                Expr::Or(items)
            }
        };
        let single = |this: &Self| -> Result<Literal, QueryError> {
            match values.as_slice() {
                [one] => Ok(one.clone()),
                _ => Err(this.err(op_token.span, format!("'{op}' takes one value"))),
            }
        };
        Ok(match op {
            "==" => build(
                CompareOp::Equals {
                    case_insensitive: false,
                },
                single(self)?,
            ),
            "!=" => Expr::Not(Box::new(build(
                CompareOp::Equals {
                    case_insensitive: false,
                },
                single(self)?,
            ))),
            "<" => build(CompareOp::Lt, single(self)?),
            "<=" => build(CompareOp::Le, single(self)?),
            ">" => build(CompareOp::Gt, single(self)?),
            ">=" => build(CompareOp::Ge, single(self)?),
            ":" => each(&|v| {
                if v.wildcard.is_some() {
                    CompareOp::Like {
                        case_insensitive: true,
                    }
                } else {
                    CompareOp::Equals {
                        case_insensitive: true,
                    }
                }
            }),
            "in" => each(&|_| CompareOp::Equals {
                case_insensitive: false,
            }),
            "in~" => each(&|_| CompareOp::Equals {
                case_insensitive: true,
            }),
            "like" => each(&|_| CompareOp::Like {
                case_insensitive: false,
            }),
            _ => each(&|_| CompareOp::Like {
                case_insensitive: true,
            }),
        })
    }

    /// `startsWith(field, "a", ...)` and friends; the field was read as the function name.
    fn function(&mut self, name: Field) -> Result<Expr, QueryError> {
        self.expect(Tok::LParen, "'('")?;
        let field = self.field()?;
        let mut values = Vec::new();
        while self.eat(&Tok::Comma) {
            values.push(self.value()?);
        }
        self.expect(Tok::RParen, "')'")?;
        if values.is_empty() {
            return Err(self.err(
                name.span,
                format!("{} needs a field and at least one value", name.path),
            ));
        }
        let ci = name.path.ends_with('~');
        let op = match name.path.trim_end_matches('~') {
            "startsWith" => CompareOp::StartsWith { case_insensitive: ci },
            "endsWith" => CompareOp::EndsWith { case_insensitive: ci },
            "stringContains" => CompareOp::Contains { case_insensitive: ci },
            "cidrMatch" if !ci => CompareOp::InCidr,
            other => return Err(self.err(name.span, format!("unknown function {other}; supported: startsWith, endsWith, stringContains, cidrMatch"))),
        };
        let items: Vec<Expr> = values
            .into_iter()
            .map(|value| Expr::Compare {
                field: field.clone(),
                op,
                value,
            })
            .collect();
        Ok(if items.len() == 1 {
            items.into_iter().next().unwrap_or(Expr::Or(Vec::new()))
        } else {
            Expr::Or(items)
        })
    }

    /// One value, or a parenthesized list.
    fn values(&mut self) -> Result<Vec<Literal>, QueryError> {
        if self.eat(&Tok::LParen) {
            let mut values = vec![self.value()?];
            while self.eat(&Tok::Comma) {
                values.push(self.value()?);
            }
            self.expect(Tok::RParen, "')'")?;
            return Ok(values);
        }
        Ok(vec![self.value()?])
    }

    fn value(&mut self) -> Result<Literal, QueryError> {
        match self.next() {
            Some(Token {
                tok: Tok::Str(s),
                span,
            }) => {
                let wildcard = wildcard_pieces(&s);
                Ok(Literal {
                    text: s,
                    quoted: true,
                    wildcard,
                    span,
                })
            }
            Some(Token {
                tok: Tok::Num(n),
                span,
            }) => Ok(Literal {
                text: n,
                quoted: false,
                wildcard: None,
                span,
            }),
            Some(Token {
                tok: Tok::Word(w),
                span,
            }) if matches!(w.as_str(), "true" | "false") => Ok(Literal {
                text: w,
                quoted: false,
                wildcard: None,
                span,
            }),
            Some(t) => Err(self.err(
                t.span,
                format!("expected a value, found {}", t.tok.describe()),
            )),
            None => Err(self.err(
                self.end(),
                "expected a value, found the end of the query".into(),
            )),
        }
    }
}

/// `*` and `?` in an EQL string are wildcards for `:` and `like`.
fn wildcard_pieces(text: &str) -> Option<Vec<Piece>> {
    text.contains(['*', '?']).then(|| Piece::parse(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(text: &str) -> EventQuery {
        match parse(text).unwrap() {
            EqlQuery::Event(e) => e,
            other => panic!("{other:?}"),
        }
    }

    fn ops(expr: &Expr) -> Vec<CompareOp> {
        match expr {
            Expr::And(items) | Expr::Or(items) => items.iter().flat_map(ops).collect(),
            Expr::Not(inner) => ops(inner),
            Expr::Compare { op, .. } => vec![*op],
            Expr::Exists { .. } => vec![],
        }
    }

    #[test]
    fn single_event_queries_with_every_operator() {
        let q = event(
            r#"process where process.name == "cmd.exe" and process.args : "*whoami*" and user.name in~ ("ADMIN", "root") and process.pid >= 4 and not host.name like~ "dc*" and startsWith~(process.executable, "C:\\Windows\\") and cidrMatch(source.ip, "10.0.0.0/8", "192.168.0.0/16")"#,
        );
        assert_eq!(q.category.as_deref(), Some("process"));
        let found = ops(&q.condition);
        assert_eq!(
            found,
            [
                CompareOp::Equals {
                    case_insensitive: false
                },
                CompareOp::Like {
                    case_insensitive: true
                },
                CompareOp::Equals {
                    case_insensitive: true
                },
                CompareOp::Equals {
                    case_insensitive: true
                },
                CompareOp::Ge,
                CompareOp::Like {
                    case_insensitive: true
                },
                CompareOp::StartsWith {
                    case_insensitive: true
                },
                CompareOp::InCidr,
                CompareOp::InCidr,
            ]
        );
        assert!(event("any where true == true").category.is_none());
    }

    #[test]
    fn sequences_expand_runs_and_join_keys() {
        let EqlQuery::Sequence(s) = parse(
            r#"sequence by source.ip with maxspan=5m [authentication where event.outcome == "failure"] by user.name with runs=2 [authentication where event.outcome == "success"] by user.name until [any where event.action == "logout"] by user.name"#,
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(s.maxspan.map(|d| d.to_string()).as_deref(), Some("5m"));
        assert_eq!(s.steps.len(), 3);
        let keys: Vec<&str> = s.steps[0].by.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(keys, ["source.ip", "user.name"]);
        assert_eq!(s.until.map(|u| u.by.len()), Some(2));
    }

    #[test]
    fn errors_name_the_place() {
        let cases = [
            ("process where", "expected a field name", 13),
            ("process process.name == 1", "expected `where`", 8),
            ("process where a === 1", "expected a value, found '='", 18),
            ("sequence [a where b == 1]", "at least two steps", 25),
            (
                "sequence with maxspan=5x [a where b == 1] [a where b == 2]",
                "invalid duration",
                14,
            ),
            (
                "sequence [a where b == 1] by x [a where b == 2]",
                "same number of fields",
                47,
            ),
            ("a where b == \"open", "unterminated string", 13),
            ("a where frobnicate(b, 1)", "unknown function frobnicate", 8),
            (
                "sequence [a where b == 1] with runs=0 [a where b == 2]",
                "runs must be 1 to 100",
                31,
            ),
        ];
        for (query, message, offset) in cases {
            let err = parse(query)
                .err()
                .unwrap_or_else(|| panic!("{query} parsed"));
            assert!(err.message.contains(message), "{query}: {err}");
            assert_eq!(err.span.start, offset, "{query}: {err}");
        }
    }
}

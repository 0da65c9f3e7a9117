//! The KQL subset: `field:value`, quoted phrases, `*`/`?` wildcards, `and`/`or`/`not`, parentheses, ranges
//! (`field >= 10`), `field:*` (exists), value lists `field:(a or b)`, CIDR values (`source.ip:10.0.0.0/8`).
//! Free-text terms without a field are not part of the subset and are rejected.
//!
//! ```
//! use secops_rules::kql;
//! let expr = kql::parse(r#"event.outcome:failure and not user.name:(root or "admin*")"#).unwrap();
//! assert_eq!(expr.fields().len(), 3);
//! assert!(kql::parse("event.outcome:").is_err());
//! ```

use crate::expr::{CompareOp, Expr, Field, Literal, Piece};
use crate::{QueryError, Span};

/// Parses a KQL query.
pub fn parse(text: &str) -> Result<Expr, QueryError> {
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        position: 0,
        text,
    };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some(token) => Err(QueryError::new(
            text,
            token.span,
            format!("unexpected {}", token.kind.describe()),
        )),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    LParen,
    RParen,
    Colon,
    Range(CompareOp),
    And,
    Or,
    Not,
    /// A value or field name; `quoted` tells phrases from bare words.
    Word {
        text: String,
        quoted: bool,
        wildcard: Option<Vec<Piece>>,
    },
}

impl Kind {
    fn describe(&self) -> String {
        match self {
            Kind::LParen => "'('".into(),
            Kind::RParen => "')'".into(),
            Kind::Colon => "':'".into(),
            Kind::Range(_) => "a comparison".into(),
            Kind::And => "'and'".into(),
            Kind::Or => "'or'".into(),
            Kind::Not => "'not'".into(),
            Kind::Word { text, .. } => format!("{text:?}"),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    span: Span,
}

/// Characters that end a bare word unless escaped with `\`.
fn is_special(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | ':' | '<' | '>' | '"' | '{' | '}')
}

fn lex(text: &str) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        let single = |kind| Token {
            kind,
            span: Span::new(start, start + 1),
        };
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ':' => {
                chars.next();
                tokens.push(single(match c {
                    '(' => Kind::LParen,
                    ')' => Kind::RParen,
                    _ => Kind::Colon,
                }));
            }
            '<' | '>' => {
                chars.next();
                let equal = chars.next_if(|&(_, c)| c == '=').is_some();
                let op = match (c, equal) {
                    ('<', false) => CompareOp::Lt,
                    ('<', true) => CompareOp::Le,
                    ('>', false) => CompareOp::Gt,
                    _ => CompareOp::Ge,
                };
                tokens.push(Token {
                    kind: Kind::Range(op),
                    span: Span::new(start, start + 1 + usize::from(equal)),
                });
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some((_, escaped)) => value.push(escaped),
                            None => break,
                        },
                        '"' => {
                            end = Some(i + 1);
                            break;
                        }
                        c => value.push(c),
                    }
                }
                let end = end.ok_or_else(|| {
                    QueryError::new(
                        text,
                        Span::new(start, text.len()),
                        "unterminated quoted string".into(),
                    )
                })?;
                tokens.push(Token {
                    kind: Kind::Word {
                        text: value,
                        quoted: true,
                        wildcard: None,
                    },
                    span: Span::new(start, end),
                });
            }
            '{' | '}' => {
                return Err(QueryError::new(
                    text,
                    Span::new(start, start + 1),
                    "nested field queries ({...}) are not supported".into(),
                ));
            }
            _ => tokens.push(bare_word(text, &mut chars)?),
        }
    }
    Ok(tokens)
}

fn bare_word(
    text: &str,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<Token, QueryError> {
    let start = chars.peek().map_or(text.len(), |&(i, _)| i);
    let mut value = String::new();
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut wild = false;
    let mut end = start;
    while let Some(&(i, c)) = chars.peek() {
        if is_special(c) {
            break;
        }
        chars.next();
        end = i + c.len_utf8();
        match c {
            '\\' => {
                let Some((j, escaped)) = chars.next() else {
                    return Err(QueryError::new(
                        text,
                        Span::new(i, end),
                        "a backslash must escape a character".into(),
                    ));
                };
                end = j + escaped.len_utf8();
                value.push(escaped);
                current.push(escaped);
            }
            '*' | '?' => {
                wild = true;
                value.push(c);
                if !current.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut current)));
                }
                pieces.push(if c == '*' { Piece::Any } else { Piece::One });
            }
            c => {
                value.push(c);
                current.push(c);
            }
        }
    }
    if !current.is_empty() {
        pieces.push(Piece::Text(current));
    }
    let span = Span::new(start, end);
    let kind = match value.to_ascii_lowercase().as_str() {
        "and" if !wild => Kind::And,
        "or" if !wild => Kind::Or,
        "not" if !wild => Kind::Not,
        _ => Kind::Word {
            text: value,
            quoted: false,
            wildcard: wild.then_some(pieces),
        },
    };
    Ok(Token { kind, span })
}

struct Parser<'a> {
    tokens: Vec<Token>,
    position: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn eat(&mut self, kind: &Kind) -> bool {
        if self.peek().is_some_and(|t| t.kind == *kind) {
            self.position += 1;
            return true;
        }
        false
    }

    fn end_span(&self) -> Span {
        Span::new(self.text.len(), self.text.len())
    }

    fn error(&self, span: Span, message: impl Into<String>) -> QueryError {
        QueryError::new(self.text, span, message.into())
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and()?];
        while self.eat(&Kind::Or) {
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
        while self.eat(&Kind::And) {
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn not(&mut self) -> Result<Expr, QueryError> {
        if self.eat(&Kind::Not) {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        let Some(token) = self.next() else {
            return Err(self.error(
                self.end_span(),
                "expected a condition, found the end of the query",
            ));
        };
        match token.kind {
            Kind::LParen => {
                let inner = self.or()?;
                if !self.eat(&Kind::RParen) {
                    let span = self.peek().map_or(self.end_span(), |t| t.span);
                    return Err(self.error(span, "expected ')'"));
                }
                Ok(inner)
            }
            Kind::Word {
                text,
                quoted: false,
                wildcard: None,
            } => self.field_test(Field {
                path: text,
                span: token.span,
                function: None,
            }),
            other => Err(self.error(
                token.span,
                format!(
                    "expected a field name, found {} (terms without a field are not supported)",
                    other.describe()
                ),
            )),
        }
    }

    fn field_test(&mut self, field: Field) -> Result<Expr, QueryError> {
        match self.next() {
            Some(Token {
                kind: Kind::Colon, ..
            }) => self.value_expr(&field),
            Some(Token {
                kind: Kind::Range(op),
                span,
            }) => {
                let value = self.literal(&field)?;
                if value.wildcard.is_some() {
                    return Err(
                        self.error(value.span.to(span), "a range bound cannot hold wildcards")
                    );
                }
                Ok(Expr::Compare { field, op, value })
            }
            Some(token) => Err(self.error(
                token.span,
                format!("expected ':' or a comparison after field {}", field.path),
            )),
            None => Err(self.error(
                self.end_span(),
                format!("expected ':' after field {}", field.path),
            )),
        }
    }

    fn value_expr(&mut self, field: &Field) -> Result<Expr, QueryError> {
        if self.eat(&Kind::LParen) {
            let expr = self.value_or(field)?;
            if !self.eat(&Kind::RParen) {
                let span = self.peek().map_or(self.end_span(), |t| t.span);
                return Err(self.error(span, "expected ')' to close the value list"));
            }
            return Ok(expr);
        }
        let value = self.literal(field)?;
        if !value.quoted && value.text == "*" {
            return Ok(Expr::Exists {
                field: field.clone(),
            });
        }
        Ok(Expr::Compare {
            field: field.clone(),
            op: CompareOp::Match,
            value,
        })
    }

    /// Inside `field:( ... )`: values joined by `or`, `and`, `not`, parentheses.
    fn value_or(&mut self, field: &Field) -> Result<Expr, QueryError> {
        let mut items = vec![self.value_and(field)?];
        while self.eat(&Kind::Or) {
            items.push(self.value_and(field)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn value_and(&mut self, field: &Field) -> Result<Expr, QueryError> {
        let mut items = vec![self.value_not(field)?];
        while self.eat(&Kind::And) {
            items.push(self.value_not(field)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn value_not(&mut self, field: &Field) -> Result<Expr, QueryError> {
        if self.eat(&Kind::Not) {
            return Ok(Expr::Not(Box::new(self.value_not(field)?)));
        }
        if self.eat(&Kind::LParen) {
            let inner = self.value_or(field)?;
            if !self.eat(&Kind::RParen) {
                let span = self.peek().map_or(self.end_span(), |t| t.span);
                return Err(self.error(span, "expected ')'"));
            }
            return Ok(inner);
        }
        let value = self.literal(field)?;
        Ok(Expr::Compare {
            field: field.clone(),
            op: CompareOp::Match,
            value,
        })
    }

    fn literal(&mut self, field: &Field) -> Result<Literal, QueryError> {
        match self.next() {
            Some(Token {
                kind:
                    Kind::Word {
                        text,
                        quoted,
                        wildcard,
                    },
                span,
            }) => Ok(Literal {
                text,
                quoted,
                wildcard,
                span,
            }),
            Some(token) => Err(self.error(
                token.span,
                format!(
                    "expected a value for field {}, found {}",
                    field.path,
                    token.kind.describe()
                ),
            )),
            None => Err(self.error(
                self.end_span(),
                format!("expected a value for field {}", field.path),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compare(path: &str, text: &str) -> Expr {
        Expr::Compare {
            field: Field {
                path: path.into(),
                span: Span::default(),
                function: None,
            },
            op: CompareOp::Match,
            value: Literal {
                text: text.into(),
                quoted: false,
                wildcard: None,
                span: Span::default(),
            },
        }
    }

    /// The AST with spans cleared and quoting kept, for comparisons.
    fn shape(expr: &Expr) -> String {
        match expr {
            Expr::And(items) => format!(
                "and({})",
                items.iter().map(shape).collect::<Vec<_>>().join(", ")
            ),
            Expr::Or(items) => format!(
                "or({})",
                items.iter().map(shape).collect::<Vec<_>>().join(", ")
            ),
            Expr::Not(inner) => format!("not({})", shape(inner)),
            Expr::Exists { field } => format!("{}:*", field.path),
            Expr::Compare { field, op, value } => {
                let op = match op {
                    CompareOp::Match => ":",
                    CompareOp::Lt => "<",
                    CompareOp::Le => "<=",
                    CompareOp::Gt => ">",
                    CompareOp::Ge => ">=",
                    other => panic!("KQL never makes {other:?}"),
                };
                let wild = if value.wildcard.is_some() { "~" } else { "" };
                let quote = if value.quoted { "\"" } else { "" };
                format!("{}{op}{wild}{quote}{}{quote}", field.path, value.text)
            }
        }
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let e = parse("a:1 or b:2 and not c:3").unwrap();
        assert_eq!(shape(&e), "or(a:1, and(b:2, not(c:3)))");
        let e = parse("(a:1 or b:2) and c:3").unwrap();
        assert_eq!(shape(&e), "and(or(a:1, b:2), c:3)");
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(
            shape(&parse("a:1 AND NOT b:2 Or c:3").unwrap()),
            "or(and(a:1, not(b:2)), c:3)"
        );
    }

    #[test]
    fn value_lists_exists_wildcards_phrases_and_ranges() {
        let e = parse(r#"event.action:("ssh_login" or ssh_invalid_user) and source.ip:* and user.name:adm*n? and process.command_line:"a * b" and event.count >= 5"#).unwrap();
        assert_eq!(
            shape(&e),
            r#"and(or(event.action:"ssh_login", event.action:ssh_invalid_user), source.ip:*, user.name:~adm*n?, process.command_line:"a * b", event.count>=5)"#
        );
    }

    #[test]
    fn escapes_make_specials_literal() {
        let e = parse(r"file.path:C\:\\Windows\\\*.exe").unwrap();
        assert_eq!(shape(&e), r"file.path:C:\Windows\*.exe");
        assert_eq!(
            e,
            compare("file.path", r"C:\Windows\*.exe").with_spans_of(&e)
        );
    }

    #[test]
    fn cidr_values_are_plain_words() {
        assert_eq!(
            shape(&parse("source.ip:10.0.0.0/8").unwrap()),
            "source.ip:10.0.0.0/8"
        );
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases = [
            (
                "event.outcome:",
                "expected a value for field event.outcome",
                14,
            ),
            (
                "a:1 and",
                "expected a condition, found the end of the query",
                7,
            ),
            ("a:1 b:2", "unexpected \"b\"", 4),
            ("failure", "expected ':' after field failure", 7),
            ("\"failure\"", "expected a field name, found \"failure\"", 0),
            ("a:\"open", "unterminated quoted string", 2),
            ("(a:1", "expected ')'", 4),
            ("a >= x*", "a range bound cannot hold wildcards", 2),
            ("a:{b:1}", "nested field queries", 2),
        ];
        for (query, message, offset) in cases {
            let err = parse(query)
                .err()
                .unwrap_or_else(|| panic!("{query} parsed"));
            assert!(err.message.contains(message), "{query}: {err}");
            assert_eq!(err.span.start, offset, "{query}: {err}");
        }
    }

    impl Expr {
        /// Test helper: this expression with the spans of `other` (same shape).
        fn with_spans_of(self, other: &Expr) -> Expr {
            match (self, other) {
                (
                    Expr::Compare { op, value, .. },
                    Expr::Compare {
                        field: f2,
                        value: v2,
                        ..
                    },
                ) => Expr::Compare {
                    field: f2.clone(),
                    op,
                    value: Literal {
                        span: v2.span,
                        ..value
                    },
                },
                (e, _) => e,
            }
        }
    }
}

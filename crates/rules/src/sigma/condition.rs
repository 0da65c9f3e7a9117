//! The Sigma condition grammar (shared/reference/detection-as-code.md section 2.4):
//!
//! ```text
//! condition := or_expr
//! or_expr   := and_expr ("or" and_expr)*
//! and_expr  := not_expr ("and" not_expr)*
//! not_expr  := "not" not_expr | primary
//! primary   := "(" or_expr ")" | ("1" | "any" | "all") "of" (PATTERN | "them") | IDENT
//! ```
//!
//! Identifiers are resolved while parsing: a [`Condition`] refers to search identifiers by index, and
//! `x of pattern` lists the identifiers the pattern matched (identifiers starting with `_` only when the
//! pattern does too; `them` never includes them). Errors carry the byte span of the token at fault.

use crate::Span;

/// A parsed condition over a rule's search identifiers (indices into its list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Ident(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Word(String),
}

/// Why a condition does not parse, and where in its text (a byte span; at the end for what is
/// missing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConditionError {
    pub message: String,
    pub span: Span,
}

/// Parses `text` against the rule's identifiers.
pub fn parse(text: &str, identifiers: &[String]) -> Result<Condition, ConditionError> {
    if let Some(bar) = text.find('|') {
        return Err(ConditionError {
            message: format!(
                "condition {text:?} uses a legacy aggregation ('| count() by ...'); \
                 Sigma 2 expresses it as a correlation rule"
            ),
            span: Span::new(bar, text.len()),
        });
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        position: 0,
        identifiers,
        end: text.len(),
    };
    let condition = parser.or_expr()?;
    match parser.tokens.get(parser.position) {
        None => Ok(condition),
        Some((token, span)) => Err(ConditionError {
            message: format!(
                "condition {text:?}: unexpected {} after a complete expression",
                describe(token)
            ),
            span: *span,
        }),
    }
}

fn tokenize(text: &str) -> Result<Vec<(Token, Span)>, ConditionError> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut word_start = 0;
    for (at, c) in text.char_indices() {
        match c {
            '(' | ')' | ' ' | '\t' | '\n' | '\r' => {
                if !word.is_empty() {
                    tokens.push((
                        Token::Word(std::mem::take(&mut word)),
                        Span::new(word_start, at),
                    ));
                }
                match c {
                    '(' => tokens.push((Token::Open, Span::new(at, at + 1))),
                    ')' => tokens.push((Token::Close, Span::new(at, at + 1))),
                    _ => {}
                }
            }
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '*' | '.') => {
                if word.is_empty() {
                    word_start = at;
                }
                word.push(c);
            }
            other => {
                return Err(ConditionError {
                    message: format!("condition {text:?}: unexpected character {other:?}"),
                    span: Span::new(at, at + other.len_utf8()),
                })
            }
        }
    }
    if !word.is_empty() {
        tokens.push((Token::Word(word), Span::new(word_start, text.len())));
    }
    if tokens.is_empty() {
        return Err(ConditionError {
            message: "the condition is empty".into(),
            span: Span::new(0, text.len()),
        });
    }
    Ok(tokens)
}

fn describe(token: &Token) -> String {
    match token {
        Token::Open => "'('".into(),
        Token::Close => "')'".into(),
        Token::Word(w) => format!("'{w}'"),
    }
}

struct Parser<'a> {
    tokens: Vec<(Token, Span)>,
    position: usize,
    identifiers: &'a [String],
    /// The text's length: where errors about what is missing point.
    end: usize,
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<&str> {
        match self.tokens.get(self.position) {
            Some((Token::Word(w), _)) => Some(w.as_str()),
            _ => None,
        }
    }

    /// The span of the token at `position`, or the end of the text.
    fn span_at(&self, position: usize) -> Span {
        self.tokens
            .get(position)
            .map_or(Span::new(self.end, self.end), |(_, span)| *span)
    }

    fn error(&self, position: usize, message: impl Into<String>) -> ConditionError {
        ConditionError {
            message: message.into(),
            span: self.span_at(position),
        }
    }

    fn or_expr(&mut self) -> Result<Condition, ConditionError> {
        let mut items = vec![self.and_expr()?];
        while self.peek_word() == Some("or") {
            self.position += 1;
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Condition::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Condition, ConditionError> {
        let mut items = vec![self.not_expr()?];
        while self.peek_word() == Some("and") {
            self.position += 1;
            items.push(self.not_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Condition::And(items)
        })
    }

    fn not_expr(&mut self) -> Result<Condition, ConditionError> {
        if self.peek_word() == Some("not") {
            self.position += 1;
            return Ok(Condition::Not(Box::new(self.not_expr()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition, ConditionError> {
        let here = self.position;
        let (token, _) = self.tokens.get(here).cloned().ok_or_else(|| {
            self.error(
                here,
                "the condition ends where an identifier, 'not' or '(' should follow",
            )
        })?;
        self.position += 1;
        match token {
            Token::Open => {
                let inner = self.or_expr()?;
                match self.tokens.get(self.position) {
                    Some((Token::Close, _)) => {
                        self.position += 1;
                        Ok(inner)
                    }
                    _ => Err(self.error(here, "a '(' is not closed")),
                }
            }
            Token::Close => Err(self.error(here, "unexpected ')'")),
            Token::Word(word) => match word.as_str() {
                "and" | "or" | "of" | "them" => Err(self.error(
                    here,
                    format!("unexpected '{word}' where an identifier, 'not' or '(' should be"),
                )),
                "near" => Err(self.error(
                    here,
                    "'near' (legacy temporal proximity) is not supported; \
                     Sigma 2 expresses it as a temporal correlation rule",
                )),
                "1" | "any" | "all" if self.peek_word() == Some("of") => {
                    self.position += 1;
                    let target = match self.tokens.get(self.position) {
                        Some((Token::Word(w), _)) => w.clone(),
                        _ => {
                            return Err(self.error(
                                self.position,
                                format!("'{word} of' needs a pattern or 'them'"),
                            ))
                        }
                    };
                    self.position += 1;
                    let matched = self
                        .matching(&target)
                        .map_err(|message| self.error(self.position - 1, message))?;
                    let items = matched
                        .into_iter()
                        .map(Condition::Ident)
                        .collect::<Vec<_>>();
                    Ok(match (word.as_str(), items.len()) {
                        (_, 1) => items.into_iter().next().unwrap_or(Condition::Or(vec![])),
                        ("all", _) => Condition::And(items),
                        _ => Condition::Or(items),
                    })
                }
                name => match self.identifiers.iter().position(|i| i == name) {
                    Some(index) => Ok(Condition::Ident(index)),
                    None => Err(self.error(
                        here,
                        format!("the condition names '{name}', which is not a search identifier"),
                    )),
                },
            },
        }
    }

    /// The identifiers a `x of` target names, in detection order.
    fn matching(&self, target: &str) -> Result<Vec<usize>, String> {
        let matched: Vec<usize> = self
            .identifiers
            .iter()
            .enumerate()
            .filter(|(_, name)| {
                if target == "them" {
                    !name.starts_with('_')
                } else {
                    (!name.starts_with('_') || target.starts_with('_')) && wildcard(target, name)
                }
            })
            .map(|(i, _)| i)
            .collect();
        if matched.is_empty() {
            return Err(format!("'of {target}' matches no search identifier"));
        }
        Ok(matched)
    }
}

/// Full match of `name` against a pattern where `*` is any run of characters.
fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((prefix, rest)) => {
            let Some(tail) = name.strip_prefix(prefix) else {
                return false;
            };
            if rest.is_empty() {
                return true;
            }
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| wildcard(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precedence_not_binds_tighter_than_and_than_or() {
        let ids = ids(&["a", "b", "c"]);
        let c = parse("a or not b and c", &ids).unwrap();
        assert_eq!(
            c,
            Condition::Or(vec![
                Condition::Ident(0),
                Condition::And(vec![
                    Condition::Not(Box::new(Condition::Ident(1))),
                    Condition::Ident(2)
                ])
            ])
        );
    }

    #[test]
    fn of_patterns_skip_underscore_identifiers_unless_asked() {
        let ids = ids(&["selection_a", "selection_b", "_selection_c", "filter"]);
        assert_eq!(
            parse("all of selection_*", &ids).unwrap(),
            Condition::And(vec![Condition::Ident(0), Condition::Ident(1)])
        );
        assert_eq!(
            parse("1 of them", &ids).unwrap(),
            Condition::Or(vec![
                Condition::Ident(0),
                Condition::Ident(1),
                Condition::Ident(3)
            ])
        );
        assert_eq!(parse("1 of _sel*", &ids).unwrap(), Condition::Ident(2));
        assert_eq!(
            parse("any of *", &ids).unwrap(),
            Condition::Or(vec![
                Condition::Ident(0),
                Condition::Ident(1),
                Condition::Ident(3)
            ])
        );
    }

    #[test]
    fn parentheses_group() {
        let ids = ids(&["a", "b", "c"]);
        assert_eq!(
            parse("(a or b) and not (c)", &ids).unwrap(),
            Condition::And(vec![
                Condition::Or(vec![Condition::Ident(0), Condition::Ident(1)]),
                Condition::Not(Box::new(Condition::Ident(2)))
            ])
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let ids = ids(&["selection"]);
        for (text, needle) in [
            ("selection | count() by src > 5", "legacy aggregation"),
            ("selection and", "ends"),
            ("selection or missing", "'missing'"),
            ("(selection", "not closed"),
            ("selection)", "unexpected ')'"),
            ("1 of filter_*", "matches no search identifier"),
            ("selection near other", "unexpected 'near'"),
            ("", "empty"),
        ] {
            let error = parse(text, &ids).unwrap_err();
            assert!(error.message.contains(needle), "{text:?}: {error}");
        }
    }

    #[test]
    fn errors_point_at_the_token_at_fault() {
        let ids = ids(&["selection", "filter"]);
        let at = |text: &str| -> String {
            let e = parse(text, &ids).unwrap_err();
            text[e.span.start..e.span.end].to_string()
        };
        assert_eq!(at("selection and not missing"), "missing");
        assert_eq!(at("selection or (filter"), "(");
        assert_eq!(at("selection ) filter"), ")");
        assert_eq!(at("1 of nomatch_*"), "nomatch_*");
        assert_eq!(at("selection and ä"), "ä");
        let e = parse("selection and", &ids).unwrap_err();
        assert_eq!(e.span, Span::new(13, 13));
    }
}

//! The condition AST shared by the query languages: boolean structure over field tests.

use crate::Span;

/// A boolean condition over one event's fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// The field is present (KQL `field:*`).
    Exists {
        field: Field,
    },
    /// `field <op> value`.
    Compare {
        field: Field,
        op: CompareOp,
        value: Literal,
    },
}

/// A field path as written (`source.ip`, `Event.EventData.CommandLine`), optionally under a value
/// function (EQL `length(dns.question.name)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub path: String,
    pub span: Span,
    pub function: Option<FieldFunction>,
}

/// A function of a field's value that a comparison tests instead of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldFunction {
    /// Characters of the text.
    Length,
    /// Shannon entropy of the text, in bits per character.
    Entropy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// KQL `:`: exact for quoted values, wildcard for unquoted ones with `*`/`?`, CIDR on IP fields,
    /// numeric equality for numbers. Case-sensitive, as on Elastic keyword fields.
    Match,
    Lt,
    Le,
    Gt,
    Ge,
    /// EQL `==` (case-sensitive) and `:` on values without wildcards (case-insensitive): exact equality;
    /// numbers, booleans and addresses compare as such.
    Equals {
        case_insensitive: bool,
    },
    /// EQL `like` / `like~`, and `:` with `*`/`?`: the literal's wildcard pieces must match.
    Like {
        case_insensitive: bool,
    },
    StartsWith {
        case_insensitive: bool,
    },
    EndsWith {
        case_insensitive: bool,
    },
    Contains {
        case_insensitive: bool,
    },
    /// EQL `cidrMatch`: the field holds an address inside the literal's block.
    InCidr,
}

/// A value as written: unescaped text, and its wildcard pieces when it is an unquoted pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    pub text: String,
    pub quoted: bool,
    /// `Some` when the value holds an unescaped `*` or `?` (never for quoted values).
    pub wildcard: Option<Vec<Piece>>,
    pub span: Span,
}

/// One piece of a wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// `*`: any run of characters, possibly empty.
    Any,
    /// `?`: exactly one character.
    One,
}

impl Piece {
    /// Splits text at `*` and `?` into wildcard pieces (no escapes: for EQL strings and exception values).
    pub fn parse(text: &str) -> Vec<Piece> {
        let mut pieces = Vec::new();
        let mut current = String::new();
        for c in text.chars() {
            match c {
                '*' | '?' => {
                    if !current.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut current)));
                    }
                    pieces.push(if c == '*' { Piece::Any } else { Piece::One });
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            pieces.push(Piece::Text(current));
        }
        pieces
    }
}

impl Expr {
    /// Every field the condition reads, in order of appearance.
    pub fn fields(&self) -> Vec<&Field> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a Field>) {
        match self {
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| e.collect_fields(out)),
            Expr::Not(inner) => inner.collect_fields(out),
            Expr::Exists { field } | Expr::Compare { field, .. } => out.push(field),
        }
    }
}

/// Shannon entropy in bits per character (0 for empty text): EQL `entropy(...)` and the hunt
/// language's `entropy()`.
pub fn entropy(text: &str) -> f64 {
    let mut counts: std::collections::HashMap<char, u32> = std::collections::HashMap::new();
    let mut total = 0u32;
    for c in text.chars() {
        *counts.entry(c).or_default() += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    let n = f64::from(total);
    counts
        .values()
        .map(|&c| f64::from(c) / n)
        .map(|p| -p * p.log2())
        .sum()
}

//! Errors with locations: a query error points into the query text; a rule error names the file, the key
//! and the line.

use std::fmt;
use std::path::PathBuf;

use crate::Span;

/// A query that does not parse, with the span of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct QueryError {
    pub message: String,
    pub span: Span,
    /// 1-based, within the query text.
    pub line: usize,
    pub column: usize,
}

impl QueryError {
    pub fn new(text: &str, span: Span, message: String) -> Self {
        let (line, column) = span.line_col(text);
        QueryError {
            message,
            span,
            line,
            column,
        }
    }
}

/// A rule file that cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub file: PathBuf,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// The TOML key the problem is about (`rule.threshold.window`), when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for RuleError {}

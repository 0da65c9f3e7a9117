//! The hunt language: an ES|QL-shaped pipe language (`FROM ... | WHERE ... | STATS ... BY ...`), read by
//! a hand-written recursive-descent parser that keeps spans and names the stage and column of every
//! error, and printed back canonically so that parse, print, parse gives the same tree.
//!
//! Read in this order: `ast.rs` (the tree: stages, commands, expressions, spans that take no part in
//! equality), `parse.rs` (the parser), `print.rs` (the printer). This crate has no query engine: the
//! planner that runs a query lives in the hunt crate, so the parser, its fuzz target and `hunt
//! validate`'s parsing build without it.
//!
//! ```
//! let query = secops_hunt_lang::parse(
//!     "from logs-endpoint.events.process-* | where @timestamp > now() - 7 days\n\
//!      | stats hosts = count_distinct(host.id) by process.executable | where hosts <= 2",
//! )?;
//! assert_eq!(query.stages.len(), 4);
//! let printed = query.to_string();
//! assert!(printed.starts_with("FROM logs-endpoint.events.process-*\n| WHERE @timestamp > now() - 7 days"));
//! assert_eq!(secops_hunt_lang::parse(&printed)?, query);
//! # Ok::<(), secops_hunt_lang::ParseError>(())
//! ```

pub mod ast;
pub mod files;
pub mod hunt_file;
pub mod parse;
pub mod print;
pub mod promote;

pub use ast::{Command, Expr, ExprKind, Literal, Name, Query, Span, Stage};
pub use hunt_file::{HuntFile, HuntTest, Problem};
pub use parse::{first_command, is_esql, parse, ParseError};

/// The version of the language this crate reads. Saved hunts record the version they were written
/// for; a later version that changes the meaning of a query bumps it.
pub const LANGUAGE_VERSION: u32 = 1;

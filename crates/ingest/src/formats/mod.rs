//! One parser per log format. Each fills ECS fields and keeps the source's own fields.

pub mod apache_access;
pub mod apache_error;
pub mod cef;
pub mod cloudtrail;
pub mod evtx;
pub mod json;
mod json_document;
pub mod linux_auth;
pub mod syslog;
pub mod windows;
pub mod zeek;

mod util;

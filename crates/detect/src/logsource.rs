//! Which events a rule may see, from its `[rule.log_source]` (Sigma's product / service / category).
//!
//! | log source | events |
//! | --- | --- |
//! | `product = "linux"` | `event.module = system` (syslog) |
//! | `product = "windows"`, `"aws"`, `"zeek"`, other | `event.module` of that name (`aws` for CloudTrail) |
//! | `service` on linux | `process.name` equal to it (`sshd`, `sudo`, `cron`), or `auth` / `syslog` datasets |
//! | `service` elsewhere | `event.dataset = <module>.<service>` (`windows.security`, `aws.cloudtrail`, `zeek.dns`) |
//! | `category = "webserver"` | web access logs (`apache.access`, `zeek.http`) |
//! | other `category` | `event.category` equal to it |

use secops_event::{Event, Value};
use secops_rules::LogSource;

/// The fields log sources are told apart by, read once per event for every rule's filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct SourceKeys<'a> {
    pub module: Option<&'a str>,
    pub dataset: Option<&'a str>,
    pub process_name: Option<&'a str>,
    pub category: Option<&'a Value>,
}

impl<'a> SourceKeys<'a> {
    pub fn of(event: &'a Event) -> Self {
        SourceKeys {
            module: event.get_str("event.module"),
            dataset: event.get_str("event.dataset"),
            process_name: event.get_str("process.name"),
            category: event.get("event.category"),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LogSourceFilter {
    module: Option<String>,
    linux: bool,
    service: Option<String>,
    category: Option<String>,
}

impl LogSourceFilter {
    pub fn new(source: &LogSource) -> Self {
        let product = source.product.as_deref().map(str::to_ascii_lowercase);
        let module = product.as_deref().map(|p| match p {
            "linux" => "system".to_string(),
            other => other.to_string(),
        });
        LogSourceFilter {
            linux: product.as_deref() == Some("linux"),
            module,
            service: source.service.as_deref().map(str::to_ascii_lowercase),
            category: source.category.as_deref().map(str::to_ascii_lowercase),
        }
    }

    /// The event fields the filter fixes (what every event the rule sees has in common).
    pub fn fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.module.is_some() {
            out.push("event.module");
        }
        if let Some(service) = &self.service {
            match (self.linux, service.as_str()) {
                (true, "auth" | "syslog") | (false, _) => out.push("event.dataset"),
                (true, _) => out.push("process.name"),
            }
        }
        match self.category.as_deref() {
            Some("webserver") => out.push("event.dataset"),
            Some(_) => out.push("event.category"),
            None => {}
        }
        out
    }

    pub fn matches(&self, event: &Event) -> bool {
        self.matches_keys(&SourceKeys::of(event))
    }

    /// [`LogSourceFilter::matches`] over the fields read once for all rules.
    pub fn matches_keys(&self, keys: &SourceKeys<'_>) -> bool {
        let module = keys.module;
        if let Some(wanted) = &self.module {
            if module != Some(wanted.as_str()) {
                return false;
            }
        }
        if let Some(service) = &self.service {
            let dataset = keys.dataset.unwrap_or("");
            let ok = if self.linux {
                match service.as_str() {
                    "auth" => dataset == "system.auth",
                    "syslog" => dataset.starts_with("system."),
                    name => keys.process_name == Some(name),
                }
            } else {
                dataset.split_once('.').is_some_and(|(_, s)| s == service)
            };
            if !ok {
                return false;
            }
        }
        match self.category.as_deref() {
            None => true,
            Some("webserver") => matches!(keys.dataset, Some("apache.access" | "zeek.http")),
            Some(category) => match keys.category {
                Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(category)),
                Some(value) => value.as_str() == Some(category),
                None => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secops_event::{Location, Provenance};

    #[test]
    fn a_category_matches_a_single_value_or_any_element_of_the_ecs_list() {
        let filter = LogSourceFilter::new(&LogSource {
            category: Some("authentication".into()),
            ..LogSource::default()
        });
        let event = |category: Value| {
            let mut e = Event::new(Provenance::new("t", Location::Line(1)));
            e.insert("event.category", category);
            e
        };
        assert!(filter.matches(&event("authentication".into())));
        assert!(filter.matches(&event(Value::Array(vec![
            "session".into(),
            "authentication".into()
        ]))));
        assert!(!filter.matches(&event(Value::Array(vec!["session".into()]))));
        assert!(!filter.matches(&event("process".into())));
    }
}

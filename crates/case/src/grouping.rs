//! Grouping related alerts into one case: alerts that share an entity (host, user or source address)
//! and come within a window of each other belong together, transitively.

use secops_alert::AlertDocument;
use secops_store::AlertRecord;

/// The entity fields grouping looks at, as alert documents and their events name them.
pub const ENTITY_FIELDS: &[&str] = &["host.name", "user.name", "source.ip"];

/// The alerts in groups (each a list of alert ids, by first event), with entities taken from `fields`
/// and `window` in nanoseconds. Alerts with none of the fields stand alone.
pub fn group(alerts: &[AlertRecord], fields: &[&str], window: i64) -> Vec<Vec<i64>> {
    let entities: Vec<Vec<(String, String)>> = alerts.iter().map(|a| entities(a, fields)).collect();
    let mut parent: Vec<usize> = (0..alerts.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for i in 0..alerts.len() {
        for j in i + 1..alerts.len() {
            let near = alerts[i].first_seen <= alerts[j].last_seen.saturating_add(window)
                && alerts[j].first_seen <= alerts[i].last_seen.saturating_add(window);
            if near && entities[i].iter().any(|e| entities[j].contains(e)) {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for i in 0..alerts.len() {
        let r = root(&mut parent, i);
        match groups.iter_mut().find(|(root, _)| *root == r) {
            Some((_, members)) => members.push(i),
            None => groups.push((r, vec![i])),
        }
    }
    let mut out: Vec<Vec<i64>> = groups
        .into_iter()
        .map(|(_, mut members)| {
            members.sort_by_key(|&i| (alerts[i].first_seen, alerts[i].id));
            members.into_iter().map(|i| alerts[i].id).collect()
        })
        .collect();
    out.sort_by_key(|g| {
        g.first()
            .and_then(|id| alerts.iter().find(|a| a.id == *id))
            .map(|a| (a.first_seen, a.id))
    });
    out
}

/// The (field, value) pairs of an alert: its document's fields and its events' fields.
fn entities(alert: &AlertRecord, fields: &[&str]) -> Vec<(String, String)> {
    let Ok(doc) = AlertDocument::parse(&alert.document) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for object in doc.objects() {
        for field in fields {
            if let Some(value) = object.get(*field).and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }) {
                let pair = (field.to_string(), value);
                if !out.contains(&pair) {
                    out.push(pair);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use secops_store::AlertStatus;

    /// A stored alert whose document has `fields` besides the ones every document has.
    fn alert(id: i64, first: i64, fields: serde_json::Value) -> AlertRecord {
        let mut doc = serde_json::json!({
            "@timestamp": "2024-05-14T09:21:13Z", "alert.id": format!("a{id}"),
            "alert.first": "2024-05-14T09:21:13Z", "rule.id": "r", "rule.name": "R",
        });
        if let (Some(doc), Some(fields)) = (doc.as_object_mut(), fields.as_object()) {
            doc.extend(fields.clone());
        }
        AlertRecord {
            id,
            rule_id: "r".into(),
            rule_name: "R".into(),
            rule_version: 1,
            severity: "high".into(),
            risk_score: 73,
            group_key: String::new(),
            first_seen: first,
            last_seen: first,
            event_count: 1,
            status: AlertStatus::Open,
            resolution: None,
            case_id: None,
            created_at: 0,
            updated_at: 0,
            document: doc.to_string(),
            assignee: None,
            tags: Vec::new(),
        }
    }

    #[test]
    fn alerts_sharing_an_entity_within_the_window_group_transitively() {
        let hour = 3_600_000_000_000;
        let alerts = vec![
            alert(1, 0, serde_json::json!({"source.ip": "203.0.113.7"})),
            // Shares the source with 1, and the user with 3.
            alert(
                2,
                hour / 2,
                serde_json::json!({"events": [{"source.ip": "203.0.113.7", "user.name": "root"}]}),
            ),
            alert(3, hour, serde_json::json!({"user.name": "root"})),
            // Same source, but a day later.
            alert(
                4,
                24 * hour,
                serde_json::json!({"source.ip": "203.0.113.7"}),
            ),
            // Nothing to group by.
            alert(5, 0, serde_json::json!({"message": "x"})),
        ];
        let groups = group(&alerts, ENTITY_FIELDS, hour);
        assert_eq!(groups, vec![vec![1, 2, 3], vec![5], vec![4]]);
    }
}

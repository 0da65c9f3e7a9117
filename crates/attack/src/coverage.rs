//! Rules per technique against the ATT&CK matrix: the Navigator layer (format 4.5), a terminal matrix,
//! an HTML heatmap, and the techniques no rule covers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde::Serialize;

use crate::{Catalogue, Tactic, Technique};

/// One rule's claim on ATT&CK.
#[derive(Debug, Clone)]
pub struct RuleMapping {
    pub id: String,
    pub name: String,
    /// Whether the rule carries passing tests of its own (shown in the layer's metadata).
    pub tested: bool,
    /// `(tactic shortname, technique or sub-technique id)`; no tactic: every tactic of the technique.
    pub techniques: Vec<(Option<String>, String)>,
}

/// Coverage of a rule set.
#[derive(Debug)]
pub struct Coverage<'c> {
    catalogue: &'c Catalogue,
    rules: Vec<RuleMapping>,
    /// `(tactic shortname, technique id)` -> indices of the rules that map it directly.
    cells: BTreeMap<(String, String), BTreeSet<usize>>,
    /// Technique ids rules name that the catalogue lacks, revokes or deprecates, with the rules.
    pub unknown: BTreeMap<String, BTreeSet<usize>>,
}

/// The Navigator's layer document.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Layer {
    pub name: String,
    pub versions: LayerVersions,
    pub domain: String,
    pub description: String,
    pub sorting: u8,
    pub layout: LayerLayout,
    pub hide_disabled: bool,
    pub techniques: Vec<LayerTechnique>,
    pub gradient: Gradient,
    pub legend_items: Vec<LegendItem>,
    pub show_tactic_row_background: bool,
    pub tactic_row_background: String,
    pub select_techniques_across_tactics: bool,
    pub select_subtechniques_with_parent: bool,
    pub select_visible_techniques: bool,
    pub metadata: Vec<NameValue>,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerVersions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attack: Option<String>,
    pub navigator: String,
    pub layer: String,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LayerLayout {
    pub layout: String,
    #[serde(rename = "showID")]
    pub show_id: bool,
    pub show_name: bool,
    pub show_aggregate_scores: bool,
    pub count_unscored: bool,
    pub aggregate_function: String,
    pub expanded_subtechniques: String,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LayerTechnique {
    #[serde(rename = "techniqueID")]
    pub technique_id: String,
    pub tactic: String,
    pub score: u32,
    pub comment: String,
    pub enabled: bool,
    pub metadata: Vec<NameValue>,
    pub show_subtechniques: bool,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Gradient {
    pub colors: Vec<String>,
    pub min_value: u32,
    pub max_value: u32,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LegendItem {
    pub label: String,
    pub color: String,
}

#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NameValue {
    pub name: String,
    pub value: String,
}

/// Cell colours from no rule to many: the layer's gradient and the heatmap's.
const COLORS: [&str; 4] = ["#ffffff", "#c6dbef", "#6baed6", "#08519c"];
/// Rules listed per technique in the layer's metadata before "and N more".
const LISTED: usize = 25;

impl<'c> Coverage<'c> {
    pub fn new(catalogue: &'c Catalogue, rules: Vec<RuleMapping>) -> Coverage<'c> {
        let mut cells: BTreeMap<(String, String), BTreeSet<usize>> = BTreeMap::new();
        let mut unknown: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
        for (index, rule) in rules.iter().enumerate() {
            for (tactic, id) in &rule.techniques {
                let Some(technique) = catalogue.technique(id).filter(|t| t.is_live()) else {
                    unknown.entry(id.clone()).or_default().insert(index);
                    continue;
                };
                let tactic = tactic
                    .as_deref()
                    .and_then(|t| catalogue.tactic(t))
                    .map(|t| t.shortname.as_str())
                    .filter(|s| technique.tactics.iter().any(|t| t == s));
                let tactics: Vec<&str> = match tactic {
                    Some(t) => vec![t],
                    // No tactic, or one the technique does not serve: under each of its tactics.
                    None => technique.tactics.iter().map(String::as_str).collect(),
                };
                for t in tactics {
                    cells
                        .entry((t.to_string(), technique.id.clone()))
                        .or_default()
                        .insert(index);
                }
            }
        }
        Coverage {
            catalogue,
            rules,
            cells,
            unknown,
        }
    }

    pub fn rules(&self) -> &[RuleMapping] {
        &self.rules
    }

    /// Rules mapping exactly this technique (or sub-technique) under the tactic.
    pub fn direct(&self, tactic: &str, technique: &str) -> Vec<usize> {
        self.cells
            .get(&(tactic.to_string(), technique.to_string()))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Rules mapping the technique or any of its sub-techniques under the tactic.
    pub fn covering(&self, tactic: &str, technique: &str) -> Vec<usize> {
        let mut all: BTreeSet<usize> = self.direct(tactic, technique).into_iter().collect();
        let prefix = format!("{technique}.");
        for (_, rules) in self
            .cells
            .range((tactic.to_string(), prefix.clone())..)
            .take_while(|((t, id), _)| t == tactic && id.starts_with(&prefix))
        {
            all.extend(rules.iter().copied());
        }
        all.into_iter().collect()
    }

    /// Per tactic (matrix order): its live techniques on the platforms (all when empty), each with
    /// the number of rules covering it.
    pub fn matrix(&self, platforms: &[String]) -> Vec<(&'c Tactic, Vec<(&'c Technique, usize)>)> {
        self.catalogue
            .tactics
            .iter()
            .map(|tactic| {
                let cells = self
                    .catalogue
                    .tactic_techniques(&tactic.shortname, platforms)
                    .into_iter()
                    .map(|t| (t, self.covering(&tactic.shortname, &t.id).len()))
                    .collect();
                (tactic, cells)
            })
            .collect()
    }

    /// Live techniques on the platforms that no rule covers, per tactic.
    pub fn gaps(&self, platforms: &[String]) -> Vec<(&'c Tactic, Vec<&'c Technique>)> {
        self.matrix(platforms)
            .into_iter()
            .map(|(tactic, cells)| {
                let missing = cells
                    .into_iter()
                    .filter(|(_, n)| *n == 0)
                    .map(|(t, _)| t)
                    .collect();
                (tactic, missing)
            })
            .collect()
    }

    /// The ATT&CK Navigator layer (format 4.5): one entry per covered technique and tactic, scored by
    /// the number of rules, with the rules named in its metadata.
    pub fn layer(&self, name: &str, description: &str) -> Layer {
        let mut techniques = Vec::new();
        let mut max = 1;
        // Parents of covered sub-techniques get an entry too (scored with them), shown expanded.
        let covered_parents: BTreeSet<(String, String)> = self
            .cells
            .keys()
            .filter_map(|(tactic, id)| {
                let (parent, _) = id.split_once('.')?;
                Some((tactic.clone(), parent.to_string()))
            })
            .collect();
        let mut keys: BTreeSet<(String, String)> = self.cells.keys().cloned().collect();
        keys.extend(covered_parents.iter().cloned());
        for (tactic, id) in keys {
            let rules = if id.contains('.') {
                self.direct(&tactic, &id)
            } else {
                self.covering(&tactic, &id)
            };
            if rules.is_empty() {
                continue;
            }
            let score = rules.len() as u32;
            max = max.max(score);
            let tested = rules.iter().filter(|&&r| self.rules[r].tested).count();
            let mut metadata: Vec<NameValue> = rules
                .iter()
                .take(LISTED)
                .map(|&r| NameValue {
                    name: "rule".into(),
                    value: format!("{} ({})", self.rules[r].name, self.rules[r].id),
                })
                .collect();
            if rules.len() > LISTED {
                metadata.push(NameValue {
                    name: "rule".into(),
                    value: format!("and {} more", rules.len() - LISTED),
                });
            }
            techniques.push(LayerTechnique {
                show_subtechniques: covered_parents.contains(&(tactic.clone(), id.clone())),
                technique_id: id,
                tactic,
                score,
                comment: format!("{} rules, {tested} with tests", rules.len()),
                enabled: true,
                metadata,
            });
        }
        Layer {
            name: name.to_string(),
            versions: LayerVersions {
                attack: self
                    .catalogue
                    .version
                    .as_deref()
                    .and_then(|v| v.split('.').next())
                    .map(str::to_string),
                navigator: "5.1.0".into(),
                layer: "4.5".into(),
            },
            domain: "enterprise-attack".into(),
            description: description.to_string(),
            sorting: 3,
            layout: LayerLayout {
                layout: "side".into(),
                show_id: true,
                show_name: true,
                show_aggregate_scores: false,
                count_unscored: false,
                aggregate_function: "average".into(),
                expanded_subtechniques: "annotated".into(),
            },
            hide_disabled: false,
            techniques,
            gradient: Gradient {
                colors: COLORS[1..].iter().map(|c| c.to_string()).collect(),
                min_value: 1,
                max_value: max.max(2),
            },
            legend_items: vec![
                LegendItem {
                    label: "no rule".into(),
                    color: COLORS[0].into(),
                },
                LegendItem {
                    label: "one rule".into(),
                    color: COLORS[1].into(),
                },
                LegendItem {
                    label: format!("{max} rules"),
                    color: COLORS[3].into(),
                },
            ],
            show_tactic_row_background: false,
            tactic_row_background: "#dddddd".into(),
            select_techniques_across_tactics: true,
            select_subtechniques_with_parent: false,
            select_visible_techniques: false,
            metadata: vec![
                NameValue {
                    name: "rules".into(),
                    value: self.rules.len().to_string(),
                },
                NameValue {
                    name: "generated by".into(),
                    value: "secops coverage".into(),
                },
            ],
        }
    }

    /// The matrix for a terminal: per tactic, a line of counts, then its techniques as `T1110 4` cells
    /// (uncovered ones as `T1111 ·`), wrapped at `width`; with `color`, cells are shaded by count.
    pub fn matrix_text(&self, platforms: &[String], width: usize, color: bool) -> String {
        let mut out = String::new();
        for (tactic, cells) in self.matrix(platforms) {
            let covered = cells.iter().filter(|(_, n)| *n > 0).count();
            let _ = writeln!(
                out,
                "{} ({})  {covered}/{} techniques covered",
                tactic.name,
                tactic.id,
                cells.len()
            );
            let mut line = String::from("  ");
            let mut visible = 2;
            for (technique, n) in cells {
                let count = if n == 0 {
                    "·".to_string()
                } else {
                    n.to_string()
                };
                let cell = format!("{} {count:<3}", technique.id);
                let cell_width = cell.chars().count() + 1;
                if visible + cell_width > width.max(20) {
                    let _ = writeln!(out, "{}", line.trim_end());
                    line = String::from("  ");
                    visible = 2;
                }
                if color {
                    let shade = match n {
                        0 => "2",
                        1..=2 => "33",
                        3..=9 => "32",
                        _ => "1;32",
                    };
                    let _ = write!(line, "\x1b[{shade}m{cell}\x1b[0m ");
                } else {
                    let _ = write!(line, "{cell} ");
                }
                visible += cell_width;
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }

    /// A Markdown table for reviews and CI artefacts: per tactic, each covered technique with its rules
    /// and how many of them carry tests; then the count of uncovered techniques.
    pub fn markdown(&self, platforms: &[String]) -> String {
        let mut out = String::from("| tactic | technique | rules | tested | rule names |\n| --- | --- | ---: | ---: | --- |\n");
        let mut uncovered = 0;
        for (tactic, cells) in self.matrix(platforms) {
            for (technique, n) in cells {
                if n == 0 {
                    uncovered += 1;
                    continue;
                }
                let rules = self.covering(&tactic.shortname, &technique.id);
                let tested = rules.iter().filter(|&&r| self.rules[r].tested).count();
                let mut names: Vec<String> = rules
                    .iter()
                    .take(5)
                    .map(|&r| markdown_cell(&self.rules[r].name))
                    .collect();
                if rules.len() > 5 {
                    names.push(format!("and {} more", rules.len() - 5));
                }
                let _ = writeln!(
                    out,
                    "| {} | {} {} | {n} | {tested} | {} |",
                    markdown_cell(&tactic.name),
                    technique.id,
                    markdown_cell(&technique.name),
                    names.join("; ")
                );
            }
        }
        let _ = writeln!(out, "\n{uncovered} technique cells have no rule.");
        out
    }

    /// A self-contained HTML heatmap: tactics as columns, techniques shaded by the number of rules,
    /// each naming its rules on hover.
    pub fn html(&self, title: &str, platforms: &[String]) -> String {
        let matrix = self.matrix(platforms);
        let max = matrix
            .iter()
            .flat_map(|(_, cells)| cells.iter().map(|(_, n)| *n))
            .max()
            .unwrap_or(0)
            .max(1);
        let total: usize = matrix.iter().map(|(_, c)| c.len()).sum();
        let covered: usize = matrix
            .iter()
            .map(|(_, c)| c.iter().filter(|(_, n)| *n > 0).count())
            .sum();
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
body{{font-family:sans-serif;margin:1em}}table{{border-collapse:collapse}}\
th{{font-size:12px;vertical-align:bottom;padding:4px;min-width:110px}}td{{vertical-align:top;padding:2px}}\
.t{{font-size:11px;border:1px solid #bbb;margin:2px 0;padding:3px;border-radius:3px}}\
.n{{float:right;font-weight:bold}}.legend span{{display:inline-block;padding:2px 8px;border:1px solid #bbb}}\
</style></head><body>\n<h1>{}</h1>\n<p>ATT&amp;CK {} &middot; {} rules &middot; {covered} of {total} techniques covered</p>\n",
            escape(title),
            escape(title),
            escape(self.catalogue.version.as_deref().unwrap_or("")),
            self.rules.len()
        );
        let _ = writeln!(
            out,
            "<p class=\"legend\"><span style=\"background:{}\">no rule</span> <span style=\"background:{}\">1</span> \
<span style=\"background:{}\">{}</span> <span style=\"background:{};color:#fff\">{max}</span></p>",
            COLORS[0],
            COLORS[1],
            COLORS[2],
            max.div_ceil(2),
            COLORS[3]
        );
        out.push_str("<table><tr>");
        for (tactic, cells) in &matrix {
            let n = cells.iter().filter(|(_, n)| *n > 0).count();
            let _ = write!(
                out,
                "<th>{}<br><small>{} &middot; {n}/{}</small></th>",
                escape(&tactic.name),
                escape(&tactic.id),
                cells.len()
            );
        }
        out.push_str("</tr>\n<tr>");
        for (tactic, cells) in &matrix {
            out.push_str("<td>");
            for (technique, n) in cells {
                let names: Vec<String> = self
                    .covering(&tactic.shortname, &technique.id)
                    .iter()
                    .map(|&r| self.rules[r].name.clone())
                    .collect();
                let (background, foreground) = shade(*n, max);
                let _ = write!(
                    out,
                    "<div class=\"t\" style=\"background:{background};color:{foreground}\" title=\"{}\">\
<span class=\"n\">{}</span>{} {}</div>",
                    escape(&names.join("\n")),
                    if *n == 0 { String::new() } else { n.to_string() },
                    escape(&technique.id),
                    escape(&technique.name)
                );
            }
            out.push_str("</td>");
        }
        out.push_str("</tr></table>\n</body></html>\n");
        out
    }
}

/// Background and text colours for a count.
fn shade(n: usize, max: usize) -> (&'static str, &'static str) {
    if n == 0 {
        (COLORS[0], "#555")
    } else if n * 3 <= max {
        (COLORS[1], "#000")
    } else if n * 3 <= max * 2 {
        (COLORS[2], "#000")
    } else {
        (COLORS[3], "#fff")
    }
}

/// Text for a Markdown table cell: control characters shown as escapes, HTML escaped (Markdown becomes
/// HTML), pipes escaped, line breaks as spaces.
fn markdown_cell(text: &str) -> String {
    let flat = text.replace(['\n', '\r'], " ");
    escape(&secops_event::escape::terminal(&flat)).replace('|', "\\|")
}

/// Text for HTML element content and attribute values, line breaks kept as `&#10;` (tooltips show
/// them).
pub fn escape(text: &str) -> String {
    secops_event::escape::html(text).replace('\n', "&#10;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_cells_show_controls_and_keep_markup_inert() {
        assert_eq!(
            markdown_cell("Rule\u{1b}]0;x\u{7} <b>|\nnext\u{202e}"),
            "Rule\\x1b]0;x\\x07 &lt;b&gt;\\| next\\u{202e}"
        );
    }
}

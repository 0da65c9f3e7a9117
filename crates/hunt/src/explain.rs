//! EXPLAIN: a query run to its end with its rows counted rather than written, then its plan and
//! what it cost: the lake's partitions and files it opened (the rest pruned by the partition bounds),
//! the row groups its files' statistics let it skip, the rows and bytes it scanned, and whether
//! sorts, joins or aggregations spilled to disk.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::dataframe::DataFrame;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::metrics::MetricValue;
use datafusion::physical_plan::{displayable, ExecutionPlan};
use futures::StreamExt;
use secops_lake::Lake;

use crate::{produce, with_stack, HuntError, Limits, Planning, Sink};

/// What a query cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explained {
    /// The physical plan, one operator per line, indented.
    pub plan: String,
    /// Day-and-source partitions of the lake the query opened, and how many the lake has (for the
    /// lake given; raw sources have their own).
    pub partitions_read: usize,
    pub partitions_total: Option<usize>,
    /// Parquet files scanned (a file read by two scans counts twice).
    pub files_read: usize,
    /// Row groups read, and skipped by their min/max statistics.
    pub row_groups_read: usize,
    pub row_groups_pruned: usize,
    /// Rows and bytes read from the files.
    pub rows_scanned: u64,
    pub bytes_scanned: u64,
    /// Rows the query gave.
    pub rows_out: u64,
    /// Spills to disk (sorts, joins, aggregations over the memory pool) and their bytes.
    pub spills: u64,
    pub spilled_bytes: u64,
    pub elapsed: Duration,
    /// What reading raw sources met, and what lenient planning let through.
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

/// Runs `text` (rows counted, not written) and says what it cost.
pub fn explain(
    text: &str,
    lake: Option<&Lake>,
    planning: &Planning,
    limits: &Limits,
) -> Result<Explained, HuntError> {
    with_stack(|| {
        let mut explained = None;
        let (notes, warnings) =
            produce(text, lake, planning, limits, Sink::Explain(&mut explained))?;
        let mut explained =
            explained.ok_or_else(|| HuntError::Run("the query gave no figures".into()))?;
        explained.notes = notes;
        explained.warnings = warnings;
        if let Some(lake) = lake {
            let listing = |e: secops_lake::LakeError| HuntError::Lake {
                lake: lake.to_string(),
                message: e.to_string(),
            };
            let mut total = 0;
            for day in lake.days().map_err(listing)? {
                total += lake.sources(&day).map_err(listing)?.len();
            }
            explained.partitions_total = Some(total);
        }
        Ok(explained)
    })
}

/// Executes the planned frame, counting its rows, and gathers the plan's figures.
pub(crate) async fn measure(
    frame: DataFrame,
    stopping: &Arc<std::sync::atomic::AtomicBool>,
) -> Result<Explained, HuntError> {
    let run = |e: datafusion::error::DataFusionError| HuntError::Run(crate::plan::short(&e));
    let started = Instant::now();
    let (planned, plan, mut stream) = crate::stop::execute(frame, stopping).await.map_err(run)?;
    let mut explained = Explained {
        plan: short_file_lists(&displayable(planned.as_ref()).indent(true).to_string()),
        ..Explained::default()
    };
    while let Some(batch) = stream.next().await {
        explained.rows_out += batch.map_err(run)?.num_rows() as u64;
    }
    explained.elapsed = started.elapsed();
    let mut partitions = BTreeSet::new();
    walk(&plan, &mut |node| {
        let Some(metrics) = node.metrics() else {
            return;
        };
        explained.spills += metrics.spill_count().unwrap_or(0) as u64;
        explained.spilled_bytes += metrics.spilled_bytes().unwrap_or(0) as u64;
        let Some(source) = node.downcast_ref::<DataSourceExec>() else {
            return;
        };
        if let Some(config) = source.data_source().downcast_ref::<FileScanConfig>() {
            for group in &config.file_groups {
                for file in group.files() {
                    explained.files_read += 1;
                    let location = file.object_meta.location.as_ref();
                    if let Some(partition) = partition_of(location) {
                        partitions.insert(partition);
                    }
                }
            }
        }
        explained.rows_scanned += metrics.output_rows().unwrap_or(0) as u64;
        explained.bytes_scanned += metrics
            .sum_by_name("bytes_scanned")
            .map_or(0, |v| v.as_usize() as u64);
        for metric in metrics.iter() {
            if let MetricValue::PruningMetrics {
                name,
                pruning_metrics,
            } = metric.value()
            {
                if name.as_ref() == "row_groups_pruned_statistics" {
                    explained.row_groups_pruned += pruning_metrics.pruned();
                    explained.row_groups_read += pruning_metrics.matched();
                }
            }
        }
    });
    explained.partitions_read = partitions.len();
    Ok(explained)
}

/// The plan's file lists (every file of every scan, one long line each) as their counts; the
/// partitions read are counted apart.
fn short_file_lists(plan: &str) -> String {
    let mut out = String::with_capacity(plan.len());
    let mut rest = plan;
    while let Some(start) = rest.find("file_groups={") {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let Some(end) = from.find("]]}") else {
            rest = from;
            break;
        };
        let list = &from[..end];
        let groups = list.matches('[').count().saturating_sub(1);
        let files = list.matches(".parquet").count();
        out.push_str(&format!(
            "file_groups={{{groups} group(s), {files} file(s)}}"
        ));
        rest = &from[end + 3..];
    }
    out.push_str(rest);
    out
}

/// `dt=DAY/source=SOURCE` of a file's place, when it has both.
fn partition_of(location: &str) -> Option<String> {
    let parts: Vec<&str> = location.split('/').collect();
    parts.windows(2).find_map(|w| match w {
        [day, source] if day.starts_with("dt=") && source.starts_with("source=") => {
            Some(format!("{day}/{source}"))
        }
        _ => None,
    })
}

fn walk(plan: &Arc<dyn ExecutionPlan>, visit: &mut dyn FnMut(&dyn ExecutionPlan)) {
    visit(plan.as_ref());
    for child in plan.children() {
        walk(child, visit);
    }
}

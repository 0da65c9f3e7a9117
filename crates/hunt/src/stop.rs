//! Stopping a query that is computing. Dropping DataFusion's streams stops a query only at its
//! next pause, and an operator can compute for minutes without one (a join's output pulled by an
//! aggregation, batch after batch). So once planned, every operator's output passes through a
//! check of a flag: set, the next batch any operator hands on is an error, and the query unwinds
//! from wherever it is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
};
use futures::StreamExt;

/// The message of the error a stopped operator gives.
pub(crate) const STOPPED: &str = "the query was stopped";

/// Plans `frame` physically and starts it with every operator checked against `flag`: the plan as
/// planned (for display), the plan as run (its nodes carry the metrics) and its rows.
pub(crate) async fn execute(
    frame: DataFrame,
    flag: &Arc<AtomicBool>,
) -> Result<(
    Arc<dyn ExecutionPlan>,
    Arc<dyn ExecutionPlan>,
    SendableRecordBatchStream,
)> {
    let context = Arc::new(frame.task_ctx());
    let planned = frame.create_physical_plan().await?;
    let running = stoppable(Arc::clone(&planned), flag)?;
    let rows = datafusion::physical_plan::execute_stream(Arc::clone(&running), context)?;
    Ok((planned, running, rows))
}

/// `plan` with every operator's output checked against `flag`.
fn stoppable(
    plan: Arc<dyn ExecutionPlan>,
    flag: &Arc<AtomicBool>,
) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        Ok(Transformed::yes(Arc::new(StopExec {
            properties: Arc::clone(node.properties()),
            input: node,
            flag: Arc::clone(flag),
        }) as Arc<dyn ExecutionPlan>))
    })
    .map(|t| t.data)
}

/// An operator's output, passed on batch by batch until the flag is set.
#[derive(Debug)]
struct StopExec {
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
    flag: Arc<AtomicBool>,
}

impl DisplayAs for StopExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "StopExec")
    }
}

impl ExecutionPlan for StopExec {
    fn name(&self) -> &str {
        "StopExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(format!(
                "StopExec has one input, given {}",
                children.len()
            )));
        }
        let input = children.swap_remove(0);
        Ok(Arc::new(StopExec {
            properties: Arc::clone(input.properties()),
            input,
            flag: Arc::clone(&self.flag),
        }))
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let flag = Arc::clone(&self.flag);
        let checked = input.map(move |batch| {
            if flag.load(Ordering::Relaxed) {
                Err(DataFusionError::Execution(STOPPED.into()))
            } else {
                batch
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, checked)))
    }
}

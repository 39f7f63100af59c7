//! The `training_curves` figure: for the `train` stages listed, the training loss per
//! optimizer step and the validation AUC (x100, like every table) per epoch, read from each
//! training's `log` artifact; one colour per listed stage, one line per seed (sweep point)
//! of it.
//!
//! Invariants:
//! * Only the cache is read: a listed stage that is not a `train` stage, or a training with
//!   no stored log, is an error naming the stage (a report never computes).
//! * Steps are the trainer's global optimizer step (0-based, counted across epochs, so a
//!   resumed training continues its line); epochs are the log's 0-based `EpochLog::epoch`.

use mosx_config::TrainLog;
use mosx_report::{Curve, CurveSeries, Rendered};
use mosx_store::Store;

use super::ReportError;
use crate::plan::Plan;

/// The figure's name in a spec's `reports:`.
pub const NAME: &str = "training_curves";

fn input_error(output: &str, message: String) -> ReportError {
    ReportError::Input {
        output: output.to_string(),
        message,
    }
}

/// One training's curve from its stored log.
fn curve(log: &TrainLog) -> Curve {
    Curve {
        loss: log.steps.iter().map(|s| (s.step as f64, s.loss)).collect(),
        valid_auc: log
            .epochs
            .iter()
            .map(|e| (e.epoch as f64, 100.0 * e.valid_auc))
            .collect(),
    }
}

/// Draws one figure of every listed `train` stage (all its seeds) into `<output>.png/.svg`.
pub fn render(
    plan: &Plan,
    store: &dyn Store,
    stages: &[String],
    output: &str,
) -> Result<Vec<Rendered>, ReportError> {
    let mut series = Vec::new();
    for s in stages {
        let nodes = plan.all_of(s);
        if nodes.is_empty() {
            return Err(input_error(output, format!("no stage `{s}` in the spec")));
        }
        let mut runs = Vec::new();
        for i in nodes {
            let n = &plan.graph[i];
            if n.kind.name() != crate::stages::train::NAME {
                return Err(input_error(
                    output,
                    format!(
                        "`{}` is a `{}` stage; {NAME} reads `train` stages",
                        n.name,
                        n.kind.name()
                    ),
                ));
            }
            let a = &crate::stages::artifacts::TRAIN_LOG;
            let bytes = store.artifact(&n.key, a.name)?;
            let log = a
                .decode(&bytes)
                .and_then(|v| crate::stages::artifacts::train_log_of(v).map_err(|e| e.to_string()))
                .map_err(|e| input_error(output, format!("{}: {e}", n.name)))?;
            runs.push(curve(&log));
        }
        series.push(CurveSeries {
            label: s.clone(),
            runs,
        });
    }
    let title = format!("Training curves ({} stage(s))", stages.len());
    Ok(mosx_report::training_curves(
        &title,
        &series,
        "valid AUC (x100)",
        std::path::Path::new(output),
    )?)
}

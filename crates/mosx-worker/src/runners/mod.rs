//! Runners: the libtorch halves of the stage kinds that execute in the worker
//! (`Execution::Worker`). A kind is declared once in the mosx library (slots, params, key
//! files, code units, which name these files); its runner here computes its output.
//!
//! Invariants:
//! * Every builtin kind that executes in the worker has exactly one runner, found by the
//!   kind's name ([`runner`]).
//! * A runner is deterministic in its inputs and parameters (seeded generators only) and
//!   returns everything it produced; the worker's `execute` commits it.

pub mod evaluate;
pub mod train;

use mosx_stage::{Output, StageCtx, StageError};

/// Runs one stage kind on a libtorch device.
pub trait Runner: Send + Sync {
    fn run(&self, ctx: &StageCtx<'_>, device: tch::Device) -> Result<Output, RunError>;
}

/// What a runner can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Stage(#[from] StageError),
    #[error("{0}")]
    Model(#[from] mosx_models::ModelError),
    #[error("{0}")]
    Method(#[from] mosx_methods::MethodError),
    #[error("{0}")]
    Prompt(#[from] mosx_stage::prompt::PromptError),
    #[error("{0}")]
    Chat(#[from] mosx_stage::chat::ChatError),
}

/// The runner of the stage kind `kind`, if it executes in the worker.
pub fn runner(kind: &str) -> Option<&'static dyn Runner> {
    match kind {
        "train" => Some(&train::Train),
        "evaluate" => Some(&evaluate::Evaluate),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use mosx_stage::Execution;

    #[test]
    fn every_worker_kind_has_a_runner_and_no_other_does() {
        let reg = mosx_kinds::registry::builtin();
        for name in reg.names() {
            let kind = reg.get(name).unwrap();
            assert_eq!(
                super::runner(name).is_some(),
                kind.execution() == Execution::Worker,
                "{name}"
            );
        }
    }
}

//! The report of a stage execution on this process's console, shared by the planner (its
//! in-process stages) and the worker (its `stage` command).

use crate::job::Report;
use crate::kind::Progress;
use crate::progress::{RunProgress, StageProgress};

/// The report of a stage on this process's console: lines and bars of the run's progress
/// (the planner's in-process stages, a worker's `stage` command).
pub struct ConsoleReport<'a> {
    run: &'a RunProgress,
    name: &'a str,
    stage: StageProgress,
}

impl<'a> ConsoleReport<'a> {
    pub fn new(run: &'a RunProgress, name: &'a str) -> ConsoleReport<'a> {
        ConsoleReport {
            run,
            name,
            stage: run.stage(name),
        }
    }
}

impl Report for ConsoleReport<'_> {
    fn holder_busy(&self, pid: u32, host: &str) {
        self.run.println(&format!(
            "  waiting for {}: running in pid {pid} on {host}",
            self.name
        ));
    }
    fn started(&self) {
        self.run.started(self.name);
    }
    fn progress(&self) -> &dyn Progress {
        &self.stage
    }
}

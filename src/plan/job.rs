//! A node of the plan as the kernel's [`Job`]: everything needed to run it and commit its row
//! without the spec, which is what the planner executes in-process and sends to the worker.

use petgraph::graph::NodeIndex;

use mosx_stage::job::{Job, RecordInfo};
use mosx_store::{RunId, RunInfo};

use super::Plan;

impl Plan {
    /// The job of node `i` in run `run`, asking for `device` (a label or `auto`).
    pub fn job(&self, i: NodeIndex, run: RunId, info: &RunInfo, device: &str) -> Job {
        let node = &self.graph[i];
        Job {
            key: node.key.clone(),
            name: node.name.clone(),
            kind: node.kind.name().to_string(),
            params: node.params.clone(),
            parts: node.parts.clone(),
            seed: node.seed(),
            inputs: node
                .inputs
                .iter()
                .map(|(s, up)| (s.clone(), self.graph[*up].key.clone()))
                .collect(),
            run,
            record: RecordInfo {
                mosx_version: info.mosx_version.clone(),
                git_commit: info.git_commit.clone(),
                git_dirty: info.git_dirty,
                host: info.host.clone(),
                spec_hash: info.spec_hash.clone(),
            },
            device: device.to_string(),
            dir: self.project.dir.clone(),
            templates: self.project.templates.clone(),
            locations: super::locate::param_locations(self, i),
            force: false,
        }
    }
}

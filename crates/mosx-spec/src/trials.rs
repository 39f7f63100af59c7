//! A search's trials expanded into instances (`Spec::with_trials`).
//!
//! Invariants: a *search group* is a grid point minus its replicate axes (`seeds`,
//! `sweep.replicates`), numbered in grid order; one search runs per group, and a trial of a
//! group is expanded once per grid point of the group (every replicate), each instance
//! setting the grid values, then the trial's values at the searched paths (located at their
//! `sweep.space` keys). The document, the hash and the grid are the loaded spec's.

use serde_json::Value;

use crate::error::SpecError;
use crate::spec::{Spec, TrialRef};
use crate::{expand_points, sweep, Job};

/// Trial `index` of search group `group` with one value per searched path (in
/// `SearchDecl::paths` order).
#[derive(Clone, Debug, PartialEq)]
pub struct Trial {
    pub group: usize,
    pub index: usize,
    pub values: Vec<Value>,
    /// The `prune` param of the pruned train stage (`sweep.prune`: rungs and floors), set at
    /// `stages.STAGE.params.prune` of every instance of the trial; not part of its point.
    pub prune: Option<Value>,
}

impl Spec {
    /// The search groups: per group, the grid point indices it covers (see the module doc).
    pub fn search_groups(&self) -> Vec<Vec<usize>> {
        let count = self.axes.iter().map(|a| a.values.len()).product::<usize>();
        let mut keys: Vec<Vec<usize>> = Vec::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for grid in 0..count {
            let key: Vec<usize> = sweep::choices(&self.axes, grid)
                .into_iter()
                .zip(&self.axes)
                .filter(|(_, a)| !a.replicate)
                .map(|(c, _)| c)
                .collect();
            match keys.iter().position(|k| *k == key) {
                Some(g) => groups[g].push(grid),
                None => {
                    keys.push(key);
                    groups.push(vec![grid]);
                }
            }
        }
        groups
    }

    /// This spec with `trials` as its instances (in the order given, each once per grid
    /// point of its group), the searched paths added to `sweep_paths`. A spec without a
    /// search, a trial of an unknown group or with the wrong number of values is an error
    /// at `sweep.space`.
    pub fn with_trials(&self, trials: &[Trial]) -> Result<Spec, SpecError> {
        let Some(search) = &self.search else {
            return Err(self.error_at("sweep", "the spec declares no `sweep.search`", None));
        };
        let groups = self.search_groups();
        let mut jobs = Vec::new();
        for t in trials {
            let Some(grid) = groups.get(t.group) else {
                let msg = format!(
                    "trial {} names search group {} of {}",
                    t.index,
                    t.group,
                    groups.len()
                );
                return Err(self.error_at_key("sweep.space", msg, None));
            };
            if t.values.len() != search.paths.len() {
                let msg = format!(
                    "trial {} has {} values for {} searched paths",
                    t.index,
                    t.values.len(),
                    search.paths.len()
                );
                return Err(self.error_at_key("sweep.space", msg, None));
            }
            let r = TrialRef {
                group: t.group,
                index: t.index,
            };
            jobs.extend(grid.iter().map(|&g| Job {
                grid: g,
                trial: Some((r, t.values.as_slice())),
                prune: t.prune.as_ref(),
            }));
        }
        let (instances, point_locs, report) =
            expand_points(&self.doc, &self.axes, Some(search), &jobs, &self.sources)?;
        let mut out = self.clone();
        if !jobs.is_empty() {
            out.report = report;
        }
        out.instances = instances;
        out.point_locs = point_locs;
        out.sweep_paths.extend(search.paths.iter().cloned());
        Ok(out)
    }
}

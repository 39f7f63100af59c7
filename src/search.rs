//! The planning loop of a `sweep.search` (issue 19): which trials exist, given the seed and
//! the results already in the store.
//!
//! Invariants:
//! * Trials are proposed per search group (`Spec::search_groups`) by `mosx_search::Search`,
//!   in index order; trial `i` is proposed only once its proposal is determined (always for
//!   `random` and TPE's startup trials; for TPE's later ones, once trials `< i` all have an
//!   outcome), so the set of trials is a function of the seed and the stored results.
//! * A trial's outcome is the mean of the objective metric over its instances (the group's
//!   replicates), read from the store; a trial whose objective stage (or a stage upstream of
//!   it) failed, or whose metric is missing or not finite, is `Failed`; otherwise pending.
//! * The loop ([`Driver::propose`], run what is dirty, [`Driver::observe`]) never proposes a
//!   trial twice; a rerun with the same `trials` proposes the same trials, all cached. It
//!   also runs inside a run (`cli::search`'s scheduler hook), each time a trial's objective
//!   or pruned stage ended: the same proposals, only sooner.
//! * With `sweep.prune` (ASHA), a trial whose pruned training has `pruned_at_epoch` is
//!   `Pruned` (the earliest epoch over its replicates). Trial `i`'s floors are computed from
//!   the rung values of exactly trials `0..=i-parallel` (all with outcomes before `i` is
//!   proposed: `Search::sequential`), so they are a function of the store, not of timing;
//!   they go into the training's `prune` param, hence its key. A trial's rung-`k` value is
//!   the mean over its replicates of `epoch.{r_k - 1}.valid_auc` of the training (present
//!   only if every replicate trained past `r_k` epochs, `r_k` below its `epochs`).

use std::collections::HashSet;

use petgraph::graph::NodeIndex;
use serde_json::Value;

use mosx_search::{asha, Direction, Outcome, SearchError};
use mosx_spec::{SearchDecl, Spec, SpecError, Trial, TrialRef};
use mosx_store::{Store, StoreError};

use crate::plan::Plan;

/// A proposed trial and its outcome (`None` while pending).
#[derive(Clone, Debug)]
pub struct Proposed {
    pub values: Vec<Value>,
    pub outcome: Option<Outcome>,
    /// ASHA: the `prune` param of its training (`None` without floors).
    pub prune: Option<Value>,
    /// ASHA: its value at each rung it reached (read with its outcome).
    pub rungs: Vec<f64>,
}

/// The trials of every search group so far.
pub struct Driver {
    /// The loaded spec (its instances are the grid points).
    pub base: Spec,
    pub decl: SearchDecl,
    /// Per search group, its trials in index order.
    pub groups: Vec<Vec<Proposed>>,
}

impl Driver {
    /// The driver of `base`'s search (`None` without one), with no trial yet.
    pub fn new(base: Spec) -> Option<Driver> {
        let decl = base.search.clone()?;
        let groups = vec![Vec::new(); base.search_groups().len()];
        Some(Driver { base, decl, groups })
    }

    /// Proposes every trial whose proposal is now determined; returns how many were added.
    pub fn propose(&mut self) -> Result<usize, SearchError> {
        let mut added = 0;
        for trials in &mut self.groups {
            while trials.len() < self.decl.trials {
                let known = trials.iter().take_while(|t| t.outcome.is_some()).count();
                let index = trials.len();
                if !self.decl.search.determined(index, known) {
                    break;
                }
                let history: Vec<(Vec<Value>, Outcome)> = trials[..known.min(index)]
                    .iter()
                    .filter_map(|t| Some((t.values.clone(), t.outcome?)))
                    .collect();
                let values = self.decl.search.propose(index, &history)?;
                let window = self.decl.search.window(index);
                let prune = self
                    .decl
                    .prune
                    .as_ref()
                    .and_then(|p| prune_param(p, &trials[..window]));
                trials.push(Proposed {
                    values,
                    outcome: None,
                    prune,
                    rungs: Vec::new(),
                });
                added += 1;
            }
        }
        Ok(added)
    }

    /// The spec whose instances are the trials proposed so far.
    pub fn spec(&self) -> Result<Spec, SpecError> {
        let trials: Vec<Trial> = self
            .groups
            .iter()
            .enumerate()
            .flat_map(|(group, ts)| {
                ts.iter().enumerate().map(move |(index, t)| Trial {
                    group,
                    index,
                    values: t.values.clone(),
                    prune: t.prune.clone(),
                })
            })
            .collect();
        self.base.with_trials(&trials)
    }

    /// Reads the outcome of every pending trial of `plan` (compiled from [`Driver::spec`])
    /// from `store`; returns how many became known.
    pub fn observe(&mut self, plan: &Plan, store: &dyn Store) -> Result<usize, StoreError> {
        let failed: HashSet<String> = store.list(None, true)?.into_iter().map(|s| s.key).collect();
        let mut known = 0;
        for (group, trials) in self.groups.iter_mut().enumerate() {
            for (index, t) in trials.iter_mut().enumerate() {
                if t.outcome.is_some() {
                    continue;
                }
                let r = TrialRef { group, index };
                if let Some(p) = &self.decl.prune {
                    t.outcome = pruned(plan, p, r, store)?;
                }
                if t.outcome.is_none() {
                    t.outcome = outcome(plan, &self.decl.objective, r, store, &failed)?;
                }
                if let (Some(p), Some(_)) = (&self.decl.prune, t.outcome) {
                    t.rungs = rung_values(plan, p, r, store)?;
                }
                known += usize::from(t.outcome.is_some());
            }
        }
        Ok(known)
    }

    /// Whether every group has all its trials with an outcome.
    pub fn finished(&self) -> bool {
        self.groups
            .iter()
            .all(|ts| ts.len() == self.decl.trials && ts.iter().all(|t| t.outcome.is_some()))
    }

    /// The best trial of each group with an objective (by the objective's direction):
    /// `(group, index, objective)`.
    pub fn best(&self) -> Vec<(usize, usize, f64)> {
        let dir = self.decl.objective.direction;
        let mut out = Vec::new();
        for (group, trials) in self.groups.iter().enumerate() {
            let mut best: Option<(usize, f64)> = None;
            for (index, t) in trials.iter().enumerate() {
                if let Some(Outcome::Objective(v)) = t.outcome {
                    if best.is_none_or(|(_, b)| dir.better(v, b)) {
                        best = Some((index, v));
                    }
                }
            }
            out.extend(best.map(|(i, v)| (group, i, v)));
        }
        out
    }

    /// One line per group: its best trial with its values and objective.
    pub fn best_lines(&self) -> Vec<String> {
        let o = &self.decl.objective;
        self.best()
            .into_iter()
            .map(|(g, i, v)| {
                let values: Vec<String> = self
                    .decl
                    .paths
                    .iter()
                    .zip(&self.groups[g][i].values)
                    .map(|(p, x)| format!("{p}={x}"))
                    .collect();
                format!(
                    "best of group {g}: trial {i} ({}) {}.{} = {v}",
                    values.join(", "),
                    o.stage,
                    o.metric
                )
            })
            .collect()
    }

    /// Trials with an outcome, and all trials, over every group.
    pub fn counts(&self) -> (usize, usize) {
        let all = self.groups.len() * self.decl.trials;
        let done = self
            .groups
            .iter()
            .flatten()
            .filter(|t| t.outcome.is_some())
            .count();
        (done, all)
    }
}

/// The objective nodes of trial `r` in `plan`, one per instance (replicate).
pub fn objective_nodes(plan: &Plan, stage: &str, r: TrialRef) -> Vec<NodeIndex> {
    plan.spec
        .instances
        .iter()
        .enumerate()
        .filter(|(_, inst)| inst.trial == Some(r))
        .filter_map(|(ix, _)| plan.by_decl.get(&(ix, stage.to_string())).copied())
        .collect()
}

/// Trial `r`'s outcome (see the module invariants), `None` while pending.
fn outcome(
    plan: &Plan,
    objective: &mosx_spec::Objective,
    r: TrialRef,
    store: &dyn Store,
    failed: &HashSet<String>,
) -> Result<Option<Outcome>, StoreError> {
    let nodes = objective_nodes(plan, &objective.stage, r);
    if nodes.is_empty() {
        return Ok(None);
    }
    let mut sum = 0.0;
    for &n in &nodes {
        let key = &plan.graph[n].key;
        if store.record(key)?.is_none() {
            return Ok(failed_upstream(plan, n, failed).then_some(Outcome::Failed));
        }
        let v = store
            .metrics(key)?
            .into_iter()
            .find(|(m, _)| *m == objective.metric)
            .map_or(f64::NAN, |(_, v)| v);
        if !v.is_finite() {
            return Ok(Some(Outcome::Failed));
        }
        sum += v;
    }
    Ok(Some(Outcome::Objective(sum / nodes.len() as f64)))
}

/// Whether node `n` or a stage upstream of it last failed (its key is in `failed`).
pub fn failed_upstream(plan: &Plan, n: NodeIndex, failed: &HashSet<String>) -> bool {
    let mut stack = vec![n];
    let mut seen = HashSet::new();
    while let Some(i) = stack.pop() {
        if !seen.insert(i) {
            continue;
        }
        if failed.contains(&plan.graph[i].key) {
            return true;
        }
        stack.extend(plan.graph[i].inputs.values().copied());
    }
    false
}

/// The training nodes of `stage` of trial `r`, one per replicate.
fn train_nodes(plan: &Plan, stage: &str, r: TrialRef) -> Vec<NodeIndex> {
    objective_nodes(plan, stage, r)
}

/// `Pruned` when a replicate's training of trial `r` was pruned (the earliest epoch), else
/// `None`.
fn pruned(
    plan: &Plan,
    p: &mosx_spec::PruneDecl,
    r: TrialRef,
    store: &dyn Store,
) -> Result<Option<Outcome>, StoreError> {
    let mut epoch: Option<usize> = None;
    for n in train_nodes(plan, &p.stage, r) {
        let key = &plan.graph[n].key;
        if store.record(key)?.is_none() {
            continue;
        }
        let e = store
            .metrics(key)?
            .into_iter()
            .find(|(m, _)| m == crate::stages::train::PRUNED_METRIC)
            .map(|(_, v)| v as usize);
        if let Some(e) = e {
            epoch = Some(epoch.map_or(e, |x| x.min(e)));
        }
    }
    Ok(epoch.map(|epoch| Outcome::Pruned { epoch }))
}

/// Trial `r`'s value at each rung all its replicates reached (see the module invariants).
fn rung_values(
    plan: &Plan,
    p: &mosx_spec::PruneDecl,
    r: TrialRef,
    store: &dyn Store,
) -> Result<Vec<f64>, StoreError> {
    let nodes = train_nodes(plan, &p.stage, r);
    let mut per_node = Vec::with_capacity(nodes.len());
    for n in &nodes {
        let node = &plan.graph[*n];
        let epochs = node
            .params
            .get("epochs")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        let metrics = if store.record(&node.key)?.is_some() {
            store.metrics(&node.key)?
        } else {
            Vec::new()
        };
        let mut vals = Vec::new();
        for k in 0.. {
            let Some(e) = asha::rung_epochs(p.min_epochs, p.reduction_factor, k) else {
                break;
            };
            let name = format!("epoch.{}.valid_auc", e - 1);
            match metrics.iter().find(|(m, _)| *m == name) {
                Some((_, v)) if e < epochs => vals.push(*v),
                _ => break,
            }
        }
        per_node.push(vals);
    }
    let reached = per_node.iter().map(Vec::len).min().unwrap_or(0);
    Ok((0..reached)
        .map(|k| per_node.iter().map(|v| v[k]).sum::<f64>() / per_node.len() as f64)
        .collect())
}

/// The `prune` param of a trial compared with `earlier` (the trials of its window): per rung
/// the floor of [`asha::floor`] over their values there, up to the last rung any reached;
/// `None` when no earlier trial reached a rung (nothing to compare with: the training is the
/// unpruned one, with its key).
fn prune_param(p: &mosx_spec::PruneDecl, earlier: &[Proposed]) -> Option<Value> {
    let mut floors = Vec::new();
    for k in 0.. {
        let others: Vec<f64> = earlier
            .iter()
            .filter_map(|t| t.rungs.get(k).copied())
            .collect();
        match asha::floor(&others, p.reduction_factor, Direction::Max) {
            Some(f) if f.is_finite() => floors.push(Value::from(f)),
            Some(_) => floors.push(Value::Null),
            None => break,
        }
    }
    if floors.is_empty() {
        return None;
    }
    Some(serde_json::json!({
        "metric": p.metric,
        "min_epochs": p.min_epochs,
        "reduction_factor": p.reduction_factor,
        "floors": floors,
    }))
}

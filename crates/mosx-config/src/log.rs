//! The training log (the `log` artifact of a `train` stage) and the metrics read from it.
//!
//! Invariants:
//! * Everything here is plain data (serde, no tensors): the trainer fills it, the resume
//!   state stores it, the worker writes it out. Fields added after the first release carry
//!   `#[serde(default)]`, so a resume state written before them still loads.
//! * Method internals are recorded only for the methods that have them: a method without a
//!   router has no routing tables and no `router` gradient norms, and
//!   [`TrainLog::internal_metrics`] then names none of them.
//! * Routing tables are `[G][E]`: row `g` holds, for each expert `e`, the share of points
//!   whose most probable expert under group g's stereotype prompt `s_g` is `e` (each row
//!   sums to 1). Expert indices are 0-based (row `e` of `mos.experts`).
//! * Every epoch index, in the log and in metric names, is the 0-based `EpochLog::epoch`,
//!   the same as the worker's `epoch.<E>.train_loss` (`router_grad_norm.epoch.0` and
//!   `up5.disc_acc.epoch.0` are the first epoch's).
//! * [`INTERNAL_METRICS`] declares every name [`TrainLog::internal_metrics`] can write (the
//!   `train` stage kind declares them, a test in `mosx` checks both ways on a full log).
//! * Internals named after a method carry its name (`ifairlrs.`, `up5.`): only that method
//!   has them (IFairLRS's item-group weights, UP5's group discriminator).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLog {
    pub epoch: usize,
    pub step: usize,
    pub lr: f64,
    pub loss: f64,
    /// Each loss term's value (unweighted for `rec`, weighted as added otherwise).
    pub parts: BTreeMap<String, f64>,
    /// Per watched tensor set (`Method::watched_grads`, e.g. `router`), the L2 norm of its
    /// gradient at this optimizer step, before clipping.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grad_norms: BTreeMap<String, f64>,
}

/// Where each group's stereotype prompt routes the points (see the module note).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingShares {
    /// `[G][E]` over the train points.
    pub train: Vec<Vec<f64>>,
    /// `[G][E]` over the validation points.
    pub valid: Vec<Vec<f64>>,
}

/// IFairLRS's weights of `L_rec` per target item group, on the scale of the per-sample
/// weights actually used (mean 1 over the train points): `groups[b]` is the weight of a
/// sample whose target is in group b only (None when no train target is in b), `neutral`
/// the weight of a sample with a neutral target. All ≈ 1 means IFairLRS ≈ prompt tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupWeights {
    pub groups: Vec<Option<f64>>,
    pub neutral: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub valid_loss: f64,
    pub valid_auc: f64,
    pub seconds: f64,
    pub samples_per_s: f64,
    /// Routing shares with the parameters at the end of the epoch (methods with a router).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<RoutingShares>,
    /// Per watched tensor set, the mean over the epoch's optimizer steps of its gradient
    /// norm before clipping.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grad_norms: BTreeMap<String, f64>,
    /// Accuracy of the method's user-group discriminator (UP5) on the validation points,
    /// with the parameters at the end of the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disc_acc: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TrainLog {
    pub steps: Vec<StepLog>,
    pub epochs: Vec<EpochLog>,
    /// The epoch whose parameters are kept (best validation AUC).
    pub best_epoch: Option<usize>,
    pub best_valid_auc: f64,
    /// Validation AUC of the untrained backbone (no adapter).
    pub base_valid_auc: f64,
    pub stopped_early: bool,
    /// ASHA stopped the training after this many epochs (its rung value was below the
    /// floor of `TrainConfig::prune`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruned_at_epoch: Option<usize>,
    /// Epochs finished before this process started (taken from the resume folder).
    pub resumed_after_epoch: Option<usize>,
    pub train_points: usize,
    pub valid_points: usize,
    /// `P_H(a|a)` per user group, from the train split: the constant `L_fair` compares the
    /// batch's recommended share with (METHOD.md §5).
    #[serde(default)]
    pub train_p_h: Vec<f64>,
    /// `[G][E]` routing shares of the untrained router on the validation points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_routing_valid: Option<Vec<Vec<f64>>>,
    /// IFairLRS's weights per item group (see [`GroupWeights`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_weights: Option<GroupWeights>,
    /// The chance rate of a user-group discriminator on the validation points: the share of
    /// the most common user group (methods with a discriminator only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disc_chance: Option<f64>,
}

/// Every metric name pattern [`TrainLog::internal_metrics`] can write, `{group}` a user
/// group, `{expert}` an expert `e<k>` and `{epoch}` a 0-based epoch index.
pub const INTERNAL_METRICS: &[&str] = &[
    "train_p_h.{group}",
    "routing.valid.{group}.{expert}",
    "routing.train.{group}.{expert}",
    "routing.base.valid.{group}.{expert}",
    "router_grad_norm.epoch.{epoch}",
    "router_grad_norm.mean",
    "ifairlrs.weight.{group}",
    "ifairlrs.weight.neutral",
    "up5.disc_acc",
    "up5.disc_acc.epoch.{epoch}",
    "up5.disc_chance",
];

/// `<name>` of group `g`, or `g<index>` past the names given.
fn group_name(groups: &[String], g: usize) -> String {
    groups.get(g).cloned().unwrap_or_else(|| format!("g{g}"))
}

/// `<prefix>.<group>.e<k>` for every cell of a `[G][E]` table.
fn table_metrics(out: &mut Vec<(String, f64)>, prefix: &str, t: &[Vec<f64>], groups: &[String]) {
    for (g, row) in t.iter().enumerate() {
        for (e, &v) in row.iter().enumerate() {
            out.push((format!("{prefix}.{}.e{e}", group_name(groups, g)), v));
        }
    }
}

impl TrainLog {
    /// The epoch log of the kept (best) epoch.
    pub fn kept_epoch(&self) -> Option<&EpochLog> {
        let best = self.best_epoch?;
        self.epochs.iter().find(|e| e.epoch == best)
    }

    /// Metrics of the method's internals, groups named by `groups` (the dataset's user
    /// groups, by index):
    /// * `train_p_h.<group>`: the train split's `P_H(a|a)` (every method);
    /// * `routing.valid.<group>.e<k>`, `routing.train.<group>.e<k>`: the kept epoch's
    ///   routing shares; `routing.base.valid.<group>.e<k>`: the untrained router's;
    /// * `<set>_grad_norm.epoch.<E>` (E from 0) and `<set>_grad_norm.mean` (over every
    ///   logged optimizer step) for each watched tensor set, e.g. `router_grad_norm.mean`;
    /// * `ifairlrs.weight.<group>` (item groups with a train target) and
    ///   `ifairlrs.weight.neutral`;
    /// * `up5.disc_acc` (the kept epoch's validation accuracy of the discriminator),
    ///   `up5.disc_acc.epoch.<E>` and `up5.disc_chance`.
    pub fn internal_metrics(&self, groups: &[String]) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        for (a, &p) in self.train_p_h.iter().enumerate() {
            out.push((format!("train_p_h.{}", group_name(groups, a)), p));
        }
        if let Some(base) = &self.base_routing_valid {
            table_metrics(&mut out, "routing.base.valid", base, groups);
        }
        if let Some(r) = self.kept_epoch().and_then(|e| e.routing.as_ref()) {
            table_metrics(&mut out, "routing.valid", &r.valid, groups);
            table_metrics(&mut out, "routing.train", &r.train, groups);
        }
        let mut sets: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for s in &self.steps {
            for (name, &v) in &s.grad_norms {
                sets.entry(name).or_default().push(v);
            }
        }
        for e in &self.epochs {
            for (name, &v) in &e.grad_norms {
                out.push((format!("{name}_grad_norm.epoch.{}", e.epoch), v));
            }
        }
        for (name, v) in sets {
            out.push((
                format!("{name}_grad_norm.mean"),
                v.iter().sum::<f64>() / v.len() as f64,
            ));
        }
        self.method_metrics(&mut out, groups);
        out
    }

    /// The metrics named after a method (IFairLRS weights, UP5 discriminator accuracy).
    fn method_metrics(&self, out: &mut Vec<(String, f64)>, groups: &[String]) {
        if let Some(w) = &self.group_weights {
            for (b, x) in w.groups.iter().enumerate() {
                if let Some(x) = x {
                    out.push((format!("ifairlrs.weight.{}", group_name(groups, b)), *x));
                }
            }
            out.push(("ifairlrs.weight.neutral".into(), w.neutral));
        }
        if let Some(acc) = self.kept_epoch().and_then(|e| e.disc_acc) {
            out.push(("up5.disc_acc".into(), acc));
        }
        for e in &self.epochs {
            if let Some(acc) = e.disc_acc {
                out.push((format!("up5.disc_acc.epoch.{}", e.epoch), acc));
            }
        }
        if let Some(c) = self.disc_chance {
            out.push(("up5.disc_chance".into(), c));
        }
    }
}

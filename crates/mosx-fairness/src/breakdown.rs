//! Per-(user group, target group) and per-target-side breakdowns (Table I, Fig. 5/6).
//! Every percentage here is x100; undefined values are NaN.

use serde::{Deserialize, Serialize};

use crate::performance::{auc, precision_recall};
use crate::point::{EvalPoint, FairnessKind, THRESHOLD};
use crate::shares::pairwise;

/// Points of user group `user_group` whose target is in item group `target_group`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairBreakdown {
    pub user_group: usize,
    pub target_group: usize,
    /// Number of such points.
    pub n: usize,
    /// `F(user_group, target_group)`, x100 (computed over all points of the user group).
    #[serde(with = "crate::nan_serde::scalar")]
    pub f: f64,
    /// AUC on these points, x100.
    #[serde(with = "crate::nan_serde::scalar")]
    pub auc: f64,
    /// Precision on these points, x100.
    #[serde(with = "crate::nan_serde::scalar")]
    pub precision: f64,
    /// Recall on these points, x100.
    #[serde(with = "crate::nan_serde::scalar")]
    pub recall: f64,
}

/// One side of Fig. 6: the points whose target is *neutral* (`group: None`, in no stereotype
/// group: METHOD.md §7, the paper's "not involved in any stereotype group"), or whose target
/// is a member of item group `group` (its `z` above the threshold for that group).
///
/// The below side is never "every non-member of `group`": with two groups that would mix
/// the other group's stereotyped targets into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideBreakdown {
    /// `None`: neutral targets (below the threshold of every group); `Some(b)`: members of `b`.
    pub group: Option<usize>,
    pub n: usize,
    /// AUC, x100.
    #[serde(with = "crate::nan_serde::scalar")]
    pub auc: f64,
    /// Precision, x100.
    #[serde(with = "crate::nan_serde::scalar")]
    pub precision: f64,
    /// Recall, x100.
    #[serde(with = "crate::nan_serde::scalar")]
    pub recall: f64,
}

impl SideBreakdown {
    /// Whether this is an above-the-threshold side (a stereotype group's members).
    pub fn above(&self) -> bool {
        self.group.is_some()
    }
}

/// (n, AUC x100, precision x100, recall x100) over the selected points.
fn perf_of<'a>(points: impl Iterator<Item = &'a EvalPoint>) -> (usize, f64, f64, f64) {
    let (scores, labels): (Vec<f64>, Vec<bool>) = points.map(|p| (p.p_yes, p.label)).unzip();
    let c = precision_recall(&scores, &labels, THRESHOLD);
    (
        scores.len(),
        100.0 * auc(&scores, &labels),
        100.0 * c.precision,
        100.0 * c.recall,
    )
}

/// One entry per (a, b) in `0..n_groups` squared, row-major (a outer).
pub fn per_pair(points: &[EvalPoint], n_groups: usize, kind: FairnessKind) -> Vec<PairBreakdown> {
    let f = pairwise(points, n_groups, kind);
    let mut out = Vec::with_capacity(n_groups * n_groups);
    for (a, f_row) in f.iter().enumerate() {
        for (b, &f_ab) in f_row.iter().enumerate() {
            let (n, auc, precision, recall) = perf_of(
                points
                    .iter()
                    .filter(|p| p.user_group == a && p.in_target_group(b)),
            );
            out.push(PairBreakdown {
                user_group: a,
                target_group: b,
                n,
                f: f_ab,
                auc,
                precision,
                recall,
            });
        }
    }
    out
}

/// Fig. 6's sides: first the neutral targets (in no item group), then for each item group
/// `b` in `0..n_groups` its members. A target in two groups counts on both of their sides.
pub fn by_target_side(points: &[EvalPoint], n_groups: usize) -> Vec<SideBreakdown> {
    let neutral = |p: &EvalPoint| (0..n_groups).all(|b| !p.in_target_group(b));
    let side = |group: Option<usize>| {
        let (n, auc, precision, recall) = perf_of(points.iter().filter(|p| match group {
            None => neutral(p),
            Some(b) => p.in_target_group(b),
        }));
        SideBreakdown {
            group,
            n,
            auc,
            precision,
            recall,
        }
    };
    std::iter::once(side(None))
        .chain((0..n_groups).map(|b| side(Some(b))))
        .collect()
}

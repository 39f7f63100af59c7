//! The full evaluation of one scored test split: fairness matrix, its summaries, performance
//! and breakdowns. Every percentage in [`Report`] is x100; undefined values are NaN
//! (serialised as `null`).

use serde::{Deserialize, Serialize};

use crate::breakdown::{by_target_side, per_pair, PairBreakdown, SideBreakdown};
use crate::performance::{auc, precision_recall};
use crate::point::{EvalPoint, FairnessKind, THRESHOLD};
use crate::shares::{pairwise, summaries};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `F[a][b]`, x100.
    #[serde(with = "crate::nan_serde::matrix")]
    pub fairness: Vec<Vec<f64>>,
    /// `mean_a |F(a,a)|` (Eq. 5), x100; NaN if any diagonal entry is NaN.
    #[serde(with = "crate::nan_serde::scalar")]
    pub headline: f64,
    /// Signed mean of `F(a,a)`, x100; NaN if any entry is NaN.
    #[serde(with = "crate::nan_serde::scalar")]
    pub consistent: f64,
    /// Signed mean of `F(a,b)`, `a != b`, x100; NaN if any entry is NaN or there is only one group.
    #[serde(with = "crate::nan_serde::scalar")]
    pub inconsistent: f64,
    /// AUC over all points, x100.
    #[serde(with = "crate::nan_serde::scalar")]
    pub auc: f64,
    /// Precision of `p_yes > 0.5`, x100.
    #[serde(with = "crate::nan_serde::scalar")]
    pub precision: f64,
    /// Recall of `p_yes > 0.5`, x100.
    #[serde(with = "crate::nan_serde::scalar")]
    pub recall: f64,
    /// Number of points.
    pub n: usize,
    /// Number of recommended points (`p_yes > 0.5`).
    pub n_recommended: usize,
    pub per_pair: Vec<PairBreakdown>,
    pub by_target_side: Vec<SideBreakdown>,
}

/// Evaluate `points` with `n_groups` user/item groups. Points whose `user_group >= n_groups`
/// take part in the performance metrics but in no fairness entry.
pub fn evaluate(points: &[EvalPoint], n_groups: usize, kind: FairnessKind) -> Report {
    let fairness = pairwise(points, n_groups, kind);
    let (headline, consistent, inconsistent) = summaries(&fairness);
    let (scores, labels): (Vec<f64>, Vec<bool>) = points.iter().map(|p| (p.p_yes, p.label)).unzip();
    let c = precision_recall(&scores, &labels, THRESHOLD);
    Report {
        headline,
        consistent,
        inconsistent,
        auc: 100.0 * auc(&scores, &labels),
        precision: 100.0 * c.precision,
        recall: 100.0 * c.recall,
        n: points.len(),
        n_recommended: points.iter().filter(|p| p.recommended()).count(),
        per_pair: per_pair(points, n_groups, kind),
        by_target_side: by_target_side(points, n_groups),
        fairness,
    }
}

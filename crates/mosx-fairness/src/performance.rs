//! Ranking and classification metrics on `p_yes` scores. All return **fractions** in [0, 1]
//! (NaN when undefined); `Report` multiplies by 100.

use serde::{Deserialize, Serialize};

/// Area under the ROC curve as the Mann-Whitney statistic, tied scores getting the average
/// of their ranks (a tie between a positive and a negative counts 1/2). O(n log n).
///
/// NaN if either class is empty or any score is NaN.
///
/// # Panics
/// If `scores` and `labels` differ in length (a caller bug, not a data condition).
pub fn auc(scores: &[f64], labels: &[bool]) -> f64 {
    assert_eq!(
        scores.len(),
        labels.len(),
        "auc: {} scores but {} labels",
        scores.len(),
        labels.len()
    );
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 || scores.iter().any(|s| s.is_nan()) {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| scores[i].total_cmp(&scores[j]));
    // Sum of (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum_pos = 0.0f64;
    let mut start = 0usize;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // Ranks start+1 ..= end share the average (start + 1 + end) / 2.
        let avg_rank = (start + 1 + end) as f64 / 2.0;
        let pos_in_tie = order[start..end].iter().filter(|&&i| labels[i]).count();
        rank_sum_pos += avg_rank * pos_in_tie as f64;
        start = end;
    }
    let (p, q) = (n_pos as f64, n_neg as f64);
    (rank_sum_pos - p * (p + 1.0) / 2.0) / (p * q)
}

/// Precision and recall of the decision `score > threshold`, as fractions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// TP / (TP + FP); NaN if nothing is predicted positive.
    #[serde(with = "crate::nan_serde::scalar")]
    pub precision: f64,
    /// TP / (TP + FN); NaN if there is no actual positive.
    #[serde(with = "crate::nan_serde::scalar")]
    pub recall: f64,
}

/// Precision and recall of `score > threshold` against `labels` (fractions; NaN when undefined).
///
/// # Panics
/// If `scores` and `labels` differ in length (a caller bug).
pub fn precision_recall(scores: &[f64], labels: &[bool], threshold: f64) -> Confusion {
    assert_eq!(
        scores.len(),
        labels.len(),
        "precision_recall: {} scores but {} labels",
        scores.len(),
        labels.len()
    );
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for (&s, &l) in scores.iter().zip(labels) {
        match (s > threshold, l) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    let ratio = |num: usize, den: usize| {
        if den == 0 {
            f64::NAN
        } else {
            num as f64 / den as f64
        }
    };
    Confusion {
        precision: ratio(tp, tp + fp),
        recall: ratio(tp, tp + fn_),
    }
}

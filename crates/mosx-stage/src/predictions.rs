//! The payload scoring stages (`evaluate`, `baseline`) hand to `metrics`: one `p_yes`
//! per scored point, with the setting it was scored under.
//!
//! Invariants: `index` names a point of the upstream `Sequences`; points appear in the
//! order they were scored (the split's order, thinned by `max_points`); each point appears
//! once, with one `p_yes`: a point scored under several prompts (`counterfactual: all`)
//! carries their mean ([`mean_per_point`]).

use serde::{Deserialize, Serialize};

use crate::prompt::Setting;

/// The part of a split a stage scores (`evaluate`, `baseline`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Valid,
    Test,
}

/// One scored point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prediction {
    /// Index into the sampled sequences.
    pub index: u32,
    pub p_yes: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Predictions {
    pub setting: Setting,
    pub points: Vec<Prediction>,
}

/// The point indices of `part` of `split`, spread down to `max_points` (all when `None`).
pub fn part_points(split: &mosx_data::Split, part: Part, max_points: Option<usize>) -> Vec<u32> {
    let idx = match part {
        Part::Test => &split.test,
        Part::Valid => &split.valid,
    };
    match max_points {
        Some(n) => spread(idx, n),
        None => idx.clone(),
    }
}

/// `n` elements of `xs` evenly spaced over it (all of them if `n >= xs.len()`): points
/// are grouped by user, so a prefix would hold few users.
pub fn spread(xs: &[u32], n: usize) -> Vec<u32> {
    if n >= xs.len() {
        return xs.to_vec();
    }
    (0..n).map(|i| xs[i * xs.len() / n]).collect()
}

/// One score per point from `scores` laid out point after point, `counts[i]` of them for
/// point `i`: their mean (NaN for a point with none).
///
/// # Panics
/// When `counts` does not add up to `scores.len()` (the caller laid them out).
pub fn mean_per_point(scores: &[f64], counts: &[usize]) -> Vec<f64> {
    assert_eq!(
        counts.iter().sum::<usize>(),
        scores.len(),
        "scores laid out per point"
    );
    let mut at = 0;
    counts
        .iter()
        .map(|&n| {
            let xs = &scores[at..at + n];
            at += n;
            xs.iter().sum::<f64>() / n as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{mean_per_point, spread};

    #[test]
    fn each_point_gets_the_mean_of_its_own_prompts() {
        // Three points of a 3-group dataset under `counterfactual: all` (2 prompts each),
        // then points scored once.
        let m = mean_per_point(&[0.2, 0.4, 0.9, 0.7, 0.0, 1.0], &[2, 2, 2]);
        assert_eq!(m.len(), 3);
        assert!((m[0] - 0.3).abs() < 1e-12 && (m[1] - 0.8).abs() < 1e-12);
        assert!((m[2] - 0.5).abs() < 1e-12);
        assert_eq!(mean_per_point(&[0.25, 0.75], &[1, 1]), vec![0.25, 0.75]);
        // Seven groups: six prompts per point.
        let six = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        assert!((mean_per_point(&six, &[6])[0] - 0.35).abs() < 1e-12);
    }

    #[test]
    fn spread_takes_evenly_spaced_points() {
        let xs: Vec<u32> = (0..10).collect();
        assert_eq!(spread(&xs, 3), vec![0, 3, 6]);
        assert_eq!(spread(&xs, 5), vec![0, 2, 4, 6, 8]);
        assert_eq!(spread(&xs, 20), xs);
        assert_eq!(spread(&xs, 0), Vec::<u32>::new());
    }
}

//! The payload scoring stages (`evaluate`, `baseline`) hand to `metrics`: one `p_yes`
//! per scored point, with the setting it was scored under.
//!
//! Invariant: `index` names a point of the upstream `Sequences`; points appear in the
//! order they were scored (the split's order, thinned by `max_points`).

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

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn spread_takes_evenly_spaced_points() {
        let xs: Vec<u32> = (0..10).collect();
        assert_eq!(spread(&xs, 3), vec![0, 3, 6]);
        assert_eq!(spread(&xs, 5), vec![0, 2, 4, 6, 8]);
        assert_eq!(spread(&xs, 20), xs);
        assert_eq!(spread(&xs, 0), Vec::<u32>::new());
    }
}

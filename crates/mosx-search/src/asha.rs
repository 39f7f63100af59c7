//! Asynchronous successive halving (ASHA; Li et al., *A System for Massively Parallel
//! Hyperparameter Tuning*, MLSys 2020): the rungs of a training and the floor a trial must
//! reach at each rung to continue.
//!
//! Invariants:
//! * Rung `k` is after `min_epochs · η^k` epochs (η = `reduction_factor` ≥ 2); a training of
//!   `E` epochs has the rungs below `E` (the last epoch is never a rung: there is nothing
//!   left to save by stopping there).
//! * The promotion rule is Optuna's `SuccessiveHalvingPruner`
//!   (`_is_trial_promotable_to_next_rung`): with the `n` values compared at a rung *including
//!   the trial's own*, the trial continues iff its value is at least as good as the
//!   `max(1, ⌊n/η⌋)`-th best of them. A value equal to that one continues (ties promote).
//! * [`floor`] states the same rule before the trial runs: from the `m = n − 1` other values
//!   it is the `max(1, ⌊(m+1)/η⌋)`-th best of them (`None` when `m = 0`: the first trial at a
//!   rung always continues). A value `v` continues iff `v` is at least as good as the floor
//!   ([`continues`]); a NaN never does.

use crate::propose::Direction;

/// Rung epochs below `epochs`: `min_epochs · η^k`, increasing.
pub fn rungs(min_epochs: usize, reduction_factor: usize, epochs: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut r = min_epochs.max(1);
    while r < epochs {
        out.push(r);
        match r.checked_mul(reduction_factor.max(2)) {
            Some(next) => r = next,
            None => break,
        }
    }
    out
}

/// The epochs of rung `k` (`min_epochs · η^k`; `None` on overflow).
pub fn rung_epochs(min_epochs: usize, reduction_factor: usize, k: usize) -> Option<usize> {
    let k = u32::try_from(k).ok()?;
    min_epochs
        .max(1)
        .checked_mul(reduction_factor.max(2).checked_pow(k)?)
}

/// The value a trial must reach at a rung where `others` are the values it is compared with
/// (see the module invariants); `None`: no floor. NaN values of `others` are left out.
pub fn floor(others: &[f64], reduction_factor: usize, direction: Direction) -> Option<f64> {
    let mut vals: Vec<f64> = others.iter().copied().filter(|v| !v.is_nan()).collect();
    if vals.is_empty() {
        return None;
    }
    // Best first.
    vals.sort_by(|a, b| match direction {
        Direction::Max => b.total_cmp(a),
        Direction::Min => a.total_cmp(b),
    });
    let k = ((vals.len() + 1) / reduction_factor.max(2)).max(1);
    Some(vals[k - 1])
}

/// Whether `value` continues past a rung with `floor` (ties continue, NaN never does).
pub fn continues(value: f64, floor: Option<f64>, direction: Direction) -> bool {
    if value.is_nan() {
        return false;
    }
    match (floor, direction) {
        (None, _) => true,
        (Some(f), Direction::Max) => value >= f,
        (Some(f), Direction::Min) => value <= f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Optuna's rule, literally: sort the values including the trial's own, compare with
    /// the `max(1, ⌊n/η⌋)`-th best.
    fn optuna(value: f64, others: &[f64], eta: usize) -> bool {
        let mut all: Vec<f64> = others.to_vec();
        all.push(value);
        all.sort_by(f64::total_cmp);
        let idx = (all.len() / eta).max(1) - 1;
        value >= all[all.len() - 1 - idx]
    }

    #[test]
    fn rungs_are_min_epochs_times_powers_of_eta_below_the_epochs() {
        assert_eq!(rungs(1, 3, 10), vec![1, 3, 9]);
        assert_eq!(rungs(1, 3, 9), vec![1, 3]);
        assert_eq!(rungs(2, 2, 9), vec![2, 4, 8]);
        assert_eq!(rungs(1, 3, 1), Vec::<usize>::new());
        assert_eq!(rung_epochs(1, 3, 2), Some(9));
    }

    #[test]
    fn the_first_trial_at_a_rung_always_continues() {
        assert_eq!(floor(&[], 3, Direction::Max), None);
        assert!(continues(0.1, None, Direction::Max));
        assert!(!continues(f64::NAN, None, Direction::Max));
    }

    #[test]
    fn with_few_values_the_floor_is_the_best_so_a_trial_must_match_it() {
        // n = 2 or 3 with the trial, η = 3: ⌊n/3⌋ ≤ 1, so the best value is the floor.
        assert_eq!(floor(&[0.6], 3, Direction::Max), Some(0.6));
        assert_eq!(floor(&[0.6, 0.7], 3, Direction::Max), Some(0.7));
        assert_eq!(floor(&[0.6, 0.7], 3, Direction::Min), Some(0.6));
    }

    #[test]
    fn the_floor_is_the_kth_best_of_the_others_with_k_the_top_share_of_all() {
        // Five others, η = 3: n = 6, k = 2, the second best of the others.
        let others = [0.5, 0.9, 0.7, 0.8, 0.6];
        assert_eq!(floor(&others, 3, Direction::Max), Some(0.8));
        assert_eq!(floor(&others, 3, Direction::Min), Some(0.6));
        // η = 2: k = 3.
        assert_eq!(floor(&others, 2, Direction::Max), Some(0.7));
    }

    #[test]
    fn a_value_equal_to_the_floor_continues() {
        let f = floor(&[0.6, 0.8, 0.8], 3, Direction::Max);
        assert_eq!(f, Some(0.8));
        assert!(continues(0.8, f, Direction::Max));
        assert!(!continues(0.799, f, Direction::Max));
    }

    #[test]
    fn the_floor_rule_agrees_with_optunas_sorted_rule_on_every_case() {
        let pool = [0.1, 0.5, 0.5, 0.7, 0.2, 0.9, 0.5, 0.3];
        for eta in 2..5 {
            for m in 1..pool.len() {
                let others = &pool[..m];
                for &v in &[0.0, 0.1, 0.3, 0.5, 0.6, 0.7, 0.9, 1.0] {
                    let ours = continues(v, floor(others, eta, Direction::Max), Direction::Max);
                    assert_eq!(
                        ours,
                        optuna(v, others, eta),
                        "v={v} others={others:?} η={eta}"
                    );
                }
            }
        }
    }
}

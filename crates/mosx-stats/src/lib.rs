//! mosx-stats: the statistics behind a table's comparisons and a spec's claims (METHOD.md
//! §8). Pure functions over `f64` slices; no I/O.
//!
//! * [`jackknife`]: the leave-one-user-out jackknife SE of a metric (or of a paired
//!   difference of two methods' metrics) within one seed;
//! * [`meta`]: the random-effects combination of per-seed estimates with the
//!   Hartung-Knapp-Sidik-Jonkman adjustment (the primary test: the seed is the unit);
//! * [`verdict`]: one-sided and non-inferiority rulings on a claim;
//! * [`holm`]: Holm's step-down correction of a family;
//! * the paired t-test and the Wilcoxon signed-rank test, and mean ± sd ([`summary`]).
//!
//! Invariants:
//! * Every test is paired: `a[i]` and `b[i]` are the same unit (a seed, or a user) under
//!   the two conditions, and the differences are `d[i] = a[i] - b[i]`. A positive effect
//!   size means `a` is larger.
//! * Non-finite pairs (either side NaN or infinite) are dropped before testing, and the
//!   `n` each result reports is the number of pairs actually used. Undefined results are
//!   errors ([`StatsError`]), never a silent 0 or 1.
//! * p-values are in [0, 1] and computed to match `scipy.stats` / `statsmodels` (the tests
//!   quote scipy 1.17.1 and statsmodels 0.15.0 values; `tools/stats_reference.py` prints
//!   them): `ttest_rel`, `ttest_1samp`, `wilcoxon(x, y, correction=True)` with
//!   `zero_method='wilcox'` and `method='auto'`, and `combine_effects(method_re="dl")`.
//! * Distributions come from the maintained `statrs` crate (Student t, standard normal);
//!   only the exact null distribution of the signed-rank statistic is counted here,
//!   because no crate provides it.

mod holm;
pub mod jackknife;
pub mod meta;
mod ttest;
pub mod verdict;
mod wilcoxon;

pub use holm::holm;
pub use jackknife::Jackknife;
pub use meta::{combine, AcrossSeeds, Alternative, Combined, SeedEstimate, Weighting};
pub use ttest::{paired_t, TTest};
pub use verdict::{verdict, Verdict};
pub use wilcoxon::{wilcoxon, Wilcoxon, WilcoxonMethod, WilcoxonOptions};

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("the two samples have different lengths ({a} and {b})")]
    Length { a: usize, b: usize },
    #[error("{needed} finite pairs are needed, {got} given")]
    TooFew { needed: usize, got: usize },
    #[error("every paired difference is {0}: the test is undefined")]
    Constant(f64),
    #[error("{0}")]
    Undefined(String),
}

/// Mean and sample standard deviation (ddof = 1) of the finite values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    /// NaN when `n == 0`.
    pub mean: f64,
    /// Sample standard deviation (divisor `n - 1`); NaN when `n < 2`.
    pub sd: f64,
}

/// Mean ± sd of the finite values of `xs` (NaN and infinities are skipped).
pub fn summary(xs: &[f64]) -> Summary {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len();
    if n == 0 {
        return Summary {
            n,
            mean: f64::NAN,
            sd: f64::NAN,
        };
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    let sd = if n < 2 {
        f64::NAN
    } else {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    };
    Summary { n, mean, sd }
}

/// The finite pairs' differences `a[i] - b[i]`.
pub(crate) fn differences(a: &[f64], b: &[f64]) -> Result<Vec<f64>, StatsError> {
    if a.len() != b.len() {
        return Err(StatsError::Length {
            a: a.len(),
            b: b.len(),
        });
    }
    Ok(a.iter()
        .zip(b)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| x - y)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_uses_the_sample_sd_and_skips_nan() {
        // numpy: np.mean([1, 2, 4]) = 2.3333333333333335, np.std([1, 2, 4], ddof=1) = 1.5275252316519468
        let s = summary(&[1.0, 2.0, f64::NAN, 4.0]);
        assert_eq!(s.n, 3);
        assert!((s.mean - 2.3333333333333335).abs() < 1e-15);
        assert!((s.sd - 1.5275252316519468).abs() < 1e-15);
        let one = summary(&[5.0]);
        assert_eq!(one.mean, 5.0);
        assert!(one.sd.is_nan());
        assert!(summary(&[]).mean.is_nan());
    }

    #[test]
    fn differences_drop_non_finite_pairs() {
        assert_eq!(
            differences(&[1.0, f64::NAN, 3.0], &[0.5, 1.0, f64::INFINITY]).unwrap(),
            vec![0.5]
        );
        assert_eq!(
            differences(&[1.0], &[]).unwrap_err(),
            StatsError::Length { a: 1, b: 0 }
        );
    }
}

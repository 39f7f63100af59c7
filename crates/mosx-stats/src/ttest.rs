//! The paired (dependent-samples) t-test, as `scipy.stats.ttest_rel`, with Cohen's d_z.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::{differences, StatsError};

/// Result of [`paired_t`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TTest {
    /// Pairs used (finite on both sides).
    pub n: usize,
    /// Mean of `a - b`.
    pub mean_diff: f64,
    /// `mean_diff / (sd_diff / sqrt(n))`.
    pub t: f64,
    /// `n - 1`.
    pub df: f64,
    /// Two-sided p-value `2 * P(T_df > |t|)`.
    pub p: f64,
    /// Cohen's d_z: `mean_diff / sd_diff` (sample sd of the differences).
    pub d_z: f64,
}

/// Two-sided paired t-test of `a` against `b`. Needs at least 2 finite pairs whose
/// differences are not all equal (else the statistic is undefined).
pub fn paired_t(a: &[f64], b: &[f64]) -> Result<TTest, StatsError> {
    let d = differences(a, b)?;
    let n = d.len();
    if n < 2 {
        return Err(StatsError::TooFew { needed: 2, got: n });
    }
    let mean = d.iter().sum::<f64>() / n as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt();
    // Differences equal up to rounding: a constant shift has no sampling variance.
    if sd <= 1e-12 * mean.abs().max(f64::MIN_POSITIVE) || sd == 0.0 {
        return Err(StatsError::Constant(mean));
    }
    let t = mean / (sd / (n as f64).sqrt());
    let df = (n - 1) as f64;
    let dist = StudentsT::new(0.0, 1.0, df).expect("df >= 1 is a valid Student t");
    let p = (2.0 * dist.sf(t.abs())).clamp(0.0, 1.0);
    Ok(TTest {
        n,
        mean_diff: mean,
        t,
        df,
        p,
        d_z: mean / sd,
    })
}

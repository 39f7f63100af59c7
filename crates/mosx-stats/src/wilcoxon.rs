//! The Wilcoxon signed-rank test of paired samples, following
//! `scipy.stats.wilcoxon(x, y, zero_method="wilcox", method="auto")` (scipy 1.17):
//!
//! * zero differences are dropped (`zero_method="wilcox"`); `|d|` is ranked with ties
//!   given their average rank; `W+` is the rank sum of the positive differences;
//! * `method` auto: with at most 50 pairs and neither ties nor zeros, the exact null
//!   distribution of `W+` (counted here: no maintained crate has it); with ties or zeros
//!   and at most 13 pairs, the exact sign-flip permutation distribution (all `2^n`
//!   flips enumerated, which is what scipy's permutation test does at that size);
//!   otherwise the normal approximation with the tie correction of the variance and,
//!   by default, the continuity correction (scipy's `correction=True`; scipy's own
//!   default is `False`, see [`WilcoxonOptions`]).
//!
//! Effect sizes: the matched-pairs **rank-biserial correlation**
//! `r_rb = (W+ - W-) / (W+ + W-)` in [-1, 1] (Kerby 2014), defined for every method and
//! the one mosx reports; and `r = z / sqrt(n)` from the normal approximation's z.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

use crate::{differences, StatsError};

/// How the p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WilcoxonMethod {
    /// Exact null distribution of `W+` (no ties, no zeros, n ≤ 50).
    Exact,
    /// Exact enumeration of the `2^n` sign flips (ties or zeros, n ≤ 13).
    Permutation,
    /// Normal approximation (tie-corrected variance; continuity correction if asked).
    Normal,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WilcoxonOptions {
    /// Continuity correction of the normal approximation (default `true`, i.e.
    /// scipy's `correction=True`).
    pub correction: bool,
    /// Force the normal approximation (scipy's `method="asymptotic"`).
    pub force_normal: bool,
}

impl Default for WilcoxonOptions {
    fn default() -> Self {
        WilcoxonOptions {
            correction: true,
            force_normal: false,
        }
    }
}

/// Result of [`wilcoxon`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Wilcoxon {
    /// Non-zero differences used.
    pub n: usize,
    /// Zero differences dropped.
    pub zeros: usize,
    pub w_plus: f64,
    pub w_minus: f64,
    /// scipy's two-sided `statistic`: `min(W+, W-)`.
    pub statistic: f64,
    /// `(W+ - n(n+1)/4 - c) / se` with the tie-corrected se and continuity term `c`
    /// (signed: positive when `a` tends to be larger).
    pub z: f64,
    /// Two-sided p-value.
    pub p: f64,
    pub method: WilcoxonMethod,
    /// Matched-pairs rank-biserial correlation `(W+ - W-) / (W+ + W-)`.
    pub r_rank_biserial: f64,
    /// `z / sqrt(n)`.
    pub r_z: f64,
}

/// Average ranks (1-based) of `xs`, and whether any value is tied.
fn average_ranks(xs: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_by(|&i, &j| xs[i].total_cmp(&xs[j]));
    let mut ranks = vec![0.0; xs.len()];
    let mut tie_sizes = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && xs[order[j + 1]] == xs[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = avg;
        }
        tie_sizes.push(j - i + 1);
        i = j + 1;
    }
    (ranks, tie_sizes)
}

/// Counts of each value of `W+` under the null for ranks `1..=n` (no ties):
/// `counts[k]` = number of sign assignments with `W+ = k`, out of `2^n`.
fn exact_counts(n: usize) -> Vec<f64> {
    let max = n * (n + 1) / 2;
    let mut c = vec![0.0f64; max + 1];
    c[0] = 1.0;
    for r in 1..=n {
        for k in (r..=max).rev() {
            c[k] += c[k - r];
        }
    }
    c
}

/// The p-value method `method="auto"` picks (see the module docs).
fn auto_method(
    opts: WilcoxonOptions,
    total: usize,
    has_ties: bool,
    zeros: usize,
) -> WilcoxonMethod {
    if opts.force_normal || total > 50 {
        WilcoxonMethod::Normal
    } else if !has_ties && zeros == 0 {
        WilcoxonMethod::Exact
    } else if total <= 13 {
        WilcoxonMethod::Permutation
    } else {
        WilcoxonMethod::Normal
    }
}

/// The normal approximation's z of `W+` over `n` ranks with tie sizes `ties`.
fn normal_z(w_plus: f64, nf: f64, ties: &[usize], correction: bool) -> f64 {
    let mean = nf * (nf + 1.0) / 4.0;
    let tie_term: f64 = ties.iter().map(|&t| (t as f64).powi(3) - t as f64).sum();
    let se = ((nf * (nf + 1.0) * (2.0 * nf + 1.0) - tie_term / 2.0) / 24.0).sqrt();
    let raw = w_plus - mean;
    // Continuity correction towards the null mean, and none at it: `f64::signum(0.0)` is 1,
    // scipy's `np.sign(0)` is 0 (so W+ equal to its mean gives z = 0 and p = 1).
    let c = if correction && raw != 0.0 {
        0.5 * raw.signum()
    } else {
        0.0
    };
    (raw - c) / se
}

/// Two-sided p-value of the normal approximation.
fn normal_p(z: f64) -> f64 {
    let normal = Normal::new(0.0, 1.0).expect("standard normal");
    2.0 * normal.sf(z.abs())
}

/// Two-sided p-value from the exact null distribution of `W+` over ranks `1..=n`.
fn exact_p(n: usize, w_plus: f64) -> f64 {
    let counts = exact_counts(n);
    let all: f64 = counts.iter().sum();
    // W+ is an integer here (no ties).
    let k = w_plus.round() as usize;
    let cdf: f64 = counts[..=k].iter().sum::<f64>() / all;
    let sf: f64 = counts[k..].iter().sum::<f64>() / all;
    2.0 * cdf.min(sf)
}

/// Two-sided p-value from every sign assignment of the non-zero differences' `ranks`
/// (flipping a zero changes nothing, so it scales every count alike).
fn permutation_p(ranks: &[f64], w_plus: f64) -> f64 {
    let n = ranks.len();
    let gamma = (w_plus.abs() * 1e-14).max(1e-12);
    let (mut le, mut ge) = (0u64, 0u64);
    let flips = 1u64 << n;
    for mask in 0..flips {
        let s: f64 = (0..n)
            .filter(|i| mask >> i & 1 == 1)
            .map(|i| ranks[i])
            .sum();
        if s <= w_plus + gamma {
            le += 1;
        }
        if s >= w_plus - gamma {
            ge += 1;
        }
    }
    2.0 * (le.min(ge) as f64 / flips as f64)
}

/// Two-sided Wilcoxon signed-rank test of `a` against `b` (see the module docs).
pub fn wilcoxon(a: &[f64], b: &[f64], opts: WilcoxonOptions) -> Result<Wilcoxon, StatsError> {
    let d_all = differences(a, b)?;
    let total = d_all.len();
    let d: Vec<f64> = d_all.iter().copied().filter(|x| *x != 0.0).collect();
    let zeros = total - d.len();
    let n = d.len();
    if n == 0 {
        return if total == 0 {
            Err(StatsError::TooFew { needed: 1, got: 0 })
        } else {
            Err(StatsError::Constant(0.0))
        };
    }
    let abs: Vec<f64> = d.iter().map(|x| x.abs()).collect();
    let (ranks, ties) = average_ranks(&abs);
    let has_ties = ties.iter().any(|&t| t > 1);
    let w_plus: f64 = d
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| **x > 0.0)
        .map(|(_, r)| r)
        .sum();
    let nf = n as f64;
    let total_rank = nf * (nf + 1.0) / 2.0;
    let w_minus = total_rank - w_plus;
    let z = normal_z(w_plus, nf, &ties, opts.correction);
    let method = auto_method(opts, total, has_ties, zeros);
    let p = match method {
        WilcoxonMethod::Normal => normal_p(z),
        WilcoxonMethod::Exact => exact_p(n, w_plus),
        WilcoxonMethod::Permutation => permutation_p(&ranks, w_plus),
    }
    .clamp(0.0, 1.0);
    Ok(Wilcoxon {
        n,
        zeros,
        w_plus,
        w_minus,
        statistic: w_plus.min(w_minus),
        z,
        p,
        method,
        r_rank_biserial: (w_plus - w_minus) / total_rank,
        r_z: z / nf.sqrt(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        let (r, t) = average_ranks(&[3.0, 1.0, 3.0, 2.0]);
        assert_eq!(r, vec![3.5, 1.0, 3.5, 2.0]);
        assert_eq!(t, vec![1, 1, 2]);
    }

    #[test]
    fn exact_counts_sum_to_two_to_the_n() {
        let c = exact_counts(4);
        // W+ over ranks 1..4: 16 assignments, symmetric, mode at 5.
        assert_eq!(c.iter().sum::<f64>(), 16.0);
        assert_eq!(c, vec![1., 1., 1., 2., 2., 2., 2., 2., 1., 1., 1.]);
    }
}

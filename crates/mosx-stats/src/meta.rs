//! Combining per-seed estimates: random effects with the Hartung-Knapp-Sidik-Jonkman (HKSJ)
//! adjustment (METHOD.md §8). The seed is the unit of replication; each seed `s` gives an
//! estimate `d_s` (a metric, or a difference of two methods' metrics) and its within-seed
//! standard error `se_s` (the user jackknife, [`crate::jackknife`]).
//!
//! With `v_s = se_s²` and `S` seeds:
//! * DerSimonian-Laird: `w_s = 1/v_s`, `μ_FE = Σw d/Σw`, `Q = Σ w (d − μ_FE)²`,
//!   `C = Σw − Σw²/Σw`, `τ² = max(0, (Q − (S − 1))/C)`;
//! * random-effects weights `w*_s = 1/(v_s + τ²)`, `μ̂ = Σw* d/Σw*`;
//! * HKSJ variance `q/(S − 1) · 1/Σw*` with `q = Σ w*_s (d_s − μ̂)²`; `t = (μ̂ − μ₀)/SE` on
//!   a Student t with `S − 1` degrees of freedom.
//!
//! This is `statsmodels.stats.meta_analysis.combine_effects(d, v, method_re="dl")`'s
//! "random effect wls" row with `use_t=True`, except that statsmodels does not truncate `τ²`
//! at 0 (the tests quote both).
//!
//! Edge cases (the decisions, see also [`combine`]):
//! * **One seed**: no test across seeds ([`AcrossSeeds::OneSeed`]); the interval is the
//!   within-seed normal interval `d ± z·se` and every p-value is `None`.
//! * **Two seeds**: the procedure runs on 1 degree of freedom (a Cauchy: the 95% interval is
//!   `μ̂ ± 12.71·SE`), valid but nearly powerless; it is not refused.
//! * **A within-seed SE that is 0 or unknown** (a metric with no per-user values, such as a
//!   training stage's validation AUC, or two identical predictions on one seed) leaves the
//!   DerSimonian-Laird weights undefined: every seed then gets the same weight, and the HKSJ
//!   variance becomes `Σ(d − d̄)²/(S(S − 1))`, i.e. the one-sample t-test of the `d_s`
//!   (`scipy.stats.ttest_1samp`), the limit of HKSJ as `τ²` dominates ([`Weighting::Equal`]).
//! * **Every `d_s` equal** (`q = 0`): the HKSJ SE is 0 and no test exists
//!   ([`StatsError::Constant`]).
//! * Seeds whose estimate is not finite are dropped (the caller reports how many).

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use crate::StatsError;

/// One seed's estimate and within-seed SE (`NaN`: unknown).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SeedEstimate {
    pub estimate: f64,
    pub se: f64,
}

/// The direction of a test of `μ` against the null value `μ₀`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alternative {
    /// H1: `μ ≠ μ₀`.
    TwoSided,
    /// H1: `μ > μ₀` (a `>` claim; non-inferiority `a ≥ b − δ` is `Greater` with `μ₀ = −δ`).
    Greater,
    /// H1: `μ < μ₀`.
    Less,
}

/// How the seeds were weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// DerSimonian-Laird random effects with the HKSJ variance.
    RandomEffects,
    /// Equal weights (a within-seed SE is 0 or unknown): the one-sample t-test of the `d_s`.
    Equal,
}

/// The combination of `S ≥ 2` seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Combined {
    pub seeds: usize,
    /// `μ̂`.
    pub estimate: f64,
    /// HKSJ standard error of `μ̂`.
    pub se: f64,
    /// `S − 1`.
    pub df: f64,
    /// DerSimonian-Laird `τ²` (truncated at 0); `NaN` with equal weights.
    pub tau2: f64,
    /// Cochran's `Q` of the fixed-effect weights; `NaN` with equal weights.
    pub q_fixed: f64,
    /// Relative weights `w*_s / Σw*`, in input order (dropped seeds excluded).
    pub weights: Vec<f64>,
    pub weighting: Weighting,
}

/// The across-seed result: a combination, or one seed with no test.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AcrossSeeds {
    Combined(Combined),
    /// One seed: `se` is its within-seed SE (may be `NaN`).
    OneSeed {
        estimate: f64,
        se: f64,
    },
}

fn t_dist(df: f64) -> StudentsT {
    StudentsT::new(0.0, 1.0, df).expect("df >= 1 is a valid Student t")
}

fn normal() -> Normal {
    Normal::new(0.0, 1.0).expect("standard normal")
}

impl Combined {
    /// The two-sided interval at `level` (e.g. 0.95): `μ̂ ± t_{1−(1−level)/2, S−1} · SE`.
    pub fn interval(&self, level: f64) -> (f64, f64) {
        let crit = t_dist(self.df).inverse_cdf(1.0 - (1.0 - level) / 2.0);
        (
            self.estimate - crit * self.se,
            self.estimate + crit * self.se,
        )
    }

    /// The one-sided `level` bound in the direction of `alt` (`Greater`: the lower bound
    /// `μ̂ − t_{level, S−1}·SE`; `Less`: the upper bound); `TwoSided`: the two-sided interval's
    /// lower bound.
    pub fn one_sided_bound(&self, alt: Alternative, level: f64) -> f64 {
        let crit = t_dist(self.df).inverse_cdf(level);
        match alt {
            Alternative::Greater => self.estimate - crit * self.se,
            Alternative::Less => self.estimate + crit * self.se,
            Alternative::TwoSided => self.interval(level).0,
        }
    }

    /// `t = (μ̂ − μ₀)/SE`.
    pub fn t(&self, null: f64) -> f64 {
        (self.estimate - null) / self.se
    }

    /// The p-value of H0 `μ = μ₀` (two-sided) or `μ ≤ μ₀` (`Greater`) or `μ ≥ μ₀` (`Less`).
    /// A `t` that is not a number (no spread and `μ̂ = μ₀`, or an undefined SE) has no p
    /// (NaN, rendered `-`); an infinite one (no spread, `μ̂ ≠ μ₀`) the limit, 0 or 1.
    pub fn p(&self, alt: Alternative, null: f64) -> f64 {
        let t = self.t(null);
        if t.is_nan() || self.df.is_nan() {
            return f64::NAN;
        }
        if t.is_infinite() {
            let toward = |positive: bool| if positive == (t > 0.0) { 0.0 } else { 1.0 };
            return match alt {
                Alternative::TwoSided => 0.0,
                Alternative::Greater => toward(true),
                Alternative::Less => toward(false),
            };
        }
        let d = t_dist(self.df);
        match alt {
            Alternative::TwoSided => (2.0 * d.sf(t.abs())).min(1.0),
            Alternative::Greater => d.sf(t),
            Alternative::Less => d.cdf(t),
        }
    }
}

impl AcrossSeeds {
    pub fn estimate(&self) -> f64 {
        match self {
            AcrossSeeds::Combined(c) => c.estimate,
            AcrossSeeds::OneSeed { estimate, .. } => *estimate,
        }
    }

    pub fn se(&self) -> f64 {
        match self {
            AcrossSeeds::Combined(c) => c.se,
            AcrossSeeds::OneSeed { se, .. } => *se,
        }
    }

    pub fn seeds(&self) -> usize {
        match self {
            AcrossSeeds::Combined(c) => c.seeds,
            AcrossSeeds::OneSeed { .. } => 1,
        }
    }

    /// The two-sided interval at `level`: HKSJ's t interval, or with one seed the within-seed
    /// normal interval `d ± z·se` (`NaN` bounds when its SE is unknown).
    pub fn interval(&self, level: f64) -> (f64, f64) {
        match self {
            AcrossSeeds::Combined(c) => c.interval(level),
            AcrossSeeds::OneSeed { estimate, se } => {
                let z = normal().inverse_cdf(1.0 - (1.0 - level) / 2.0);
                (estimate - z * se, estimate + z * se)
            }
        }
    }

    /// The p-value across seeds; `None` with one seed (no test).
    pub fn p(&self, alt: Alternative, null: f64) -> Option<f64> {
        match self {
            AcrossSeeds::Combined(c) => Some(c.p(alt, null)),
            AcrossSeeds::OneSeed { .. } => None,
        }
    }
}

/// Combines the seeds (see the module docs for the procedure and its edge cases). Seeds with
/// a non-finite estimate are dropped; none left is [`StatsError::TooFew`].
pub fn combine(seeds: &[SeedEstimate]) -> Result<AcrossSeeds, StatsError> {
    let s: Vec<SeedEstimate> = seeds
        .iter()
        .copied()
        .filter(|x| x.estimate.is_finite())
        .collect();
    match s.len() {
        0 => return Err(StatsError::TooFew { needed: 1, got: 0 }),
        1 => {
            return Ok(AcrossSeeds::OneSeed {
                estimate: s[0].estimate,
                se: s[0].se,
            })
        }
        _ => {}
    }
    let k = s.len() as f64;
    let d: Vec<f64> = s.iter().map(|x| x.estimate).collect();
    let random = s.iter().all(|x| x.se.is_finite() && x.se > 0.0);
    let (w, tau2, q_fixed, weighting) = if random {
        let v: Vec<f64> = s.iter().map(|x| x.se * x.se).collect();
        let w_fe: Vec<f64> = v.iter().map(|v| 1.0 / v).collect();
        let sw: f64 = w_fe.iter().sum();
        let mu_fe = w_fe.iter().zip(&d).map(|(w, d)| w * d).sum::<f64>() / sw;
        let q: f64 = w_fe
            .iter()
            .zip(&d)
            .map(|(w, d)| w * (d - mu_fe).powi(2))
            .sum();
        let c = sw - w_fe.iter().map(|w| w * w).sum::<f64>() / sw;
        let tau2 = ((q - (k - 1.0)) / c).max(0.0);
        let w: Vec<f64> = v.iter().map(|v| 1.0 / (v + tau2)).collect();
        (w, tau2, q, Weighting::RandomEffects)
    } else {
        (vec![1.0; s.len()], f64::NAN, f64::NAN, Weighting::Equal)
    };
    let sw: f64 = w.iter().sum();
    let mu = w.iter().zip(&d).map(|(w, d)| w * d).sum::<f64>() / sw;
    let q: f64 = w.iter().zip(&d).map(|(w, d)| w * (d - mu).powi(2)).sum();
    let var = q / (k - 1.0) / sw;
    // Every d_s equal up to rounding: the spread is 0 and so is the SE.
    if var.sqrt() <= 1e-12 * mu.abs().max(1e-300) || var == 0.0 {
        return Err(StatsError::Constant(mu));
    }
    Ok(AcrossSeeds::Combined(Combined {
        seeds: s.len(),
        estimate: mu,
        se: var.sqrt(),
        df: k - 1.0,
        tau2,
        q_fixed,
        weights: w.iter().map(|w| w / sw).collect(),
        weighting,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn se(estimate: f64, se: f64) -> SeedEstimate {
        SeedEstimate { estimate, se }
    }

    #[test]
    fn a_t_without_spread_has_a_limit_p_or_none_instead_of_a_panic() {
        // statrs' Student t panics on a NaN argument (a paper run on a tiny model hit it).
        let k = |estimate: f64, se: f64| Combined {
            seeds: 2,
            estimate,
            se,
            df: 1.0,
            tau2: 0.0,
            q_fixed: 0.0,
            weights: vec![0.5, 0.5],
            weighting: Weighting::RandomEffects,
        };
        assert!(k(0.0, 0.0).p(Alternative::TwoSided, 0.0).is_nan());
        assert!(k(1.0, f64::NAN).p(Alternative::Greater, 0.0).is_nan());
        assert_eq!(k(1.0, 0.0).p(Alternative::TwoSided, 0.0), 0.0);
        assert_eq!(k(1.0, 0.0).p(Alternative::Greater, 0.0), 0.0);
        assert_eq!(k(1.0, 0.0).p(Alternative::Less, 0.0), 1.0);
        assert_eq!(k(-1.0, 0.0).p(Alternative::Less, 0.0), 0.0);
        assert_eq!(k(1.0, 0.0).p(Alternative::Greater, 2.0), 1.0);
    }

    #[test]
    fn one_seed_is_not_a_test_and_carries_the_within_seed_interval() {
        let r = combine(&[se(2.0, 0.5), se(f64::NAN, 1.0)]).unwrap();
        assert_eq!(
            r,
            AcrossSeeds::OneSeed {
                estimate: 2.0,
                se: 0.5
            }
        );
        assert_eq!(r.p(Alternative::TwoSided, 0.0), None);
        let (lo, hi) = r.interval(0.95);
        assert!((lo - (2.0 - 1.959963984540054 * 0.5)).abs() < 1e-9);
        assert!((hi - (2.0 + 1.959963984540054 * 0.5)).abs() < 1e-9);
    }

    #[test]
    fn unknown_within_seed_ses_give_the_one_sample_t_test() {
        // scipy.stats.ttest_1samp([1.0, 2.0, 4.0], 0) -> statistic 2.645751311064591,
        // pvalue 0.11808289631180308
        let r = combine(&[se(1.0, f64::NAN), se(2.0, 0.3), se(4.0, 0.2)]).unwrap();
        let AcrossSeeds::Combined(c) = &r else {
            panic!("{r:?}")
        };
        assert_eq!(c.weighting, Weighting::Equal);
        assert!((c.t(0.0) - 2.645751311064591).abs() < 1e-12);
        assert!((c.p(Alternative::TwoSided, 0.0) - 0.11808289631180308).abs() < 1e-10);
        // One-sided p-values split the two-sided one by the sign of t.
        let g = c.p(Alternative::Greater, 0.0);
        assert!((2.0 * g - 0.11808289631180308).abs() < 1e-10);
        assert!((c.p(Alternative::Less, 0.0) - (1.0 - g)).abs() < 1e-12);
    }

    #[test]
    fn identical_seed_estimates_have_no_test() {
        assert!(matches!(
            combine(&[se(1.0, 0.1), se(1.0, 0.2), se(1.0, 0.1)]),
            Err(StatsError::Constant(_))
        ));
        assert_eq!(
            combine(&[]).unwrap_err(),
            StatsError::TooFew { needed: 1, got: 0 }
        );
    }
}

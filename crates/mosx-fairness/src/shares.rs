//! Recommended and historical shares and the pairwise / headline fairness (METHOD.md §3).
//! Shares are fractions; fairness values are x100. Undefined values are NaN, never 0.

use crate::point::{EvalPoint, FairnessKind};

/// `P_R(b | a)`: among the recommended points of user group `a`, the fraction whose target is
/// in item group `b`. NaN if group `a` has no recommended point.
pub fn recommended_share(points: &[EvalPoint], a: usize, b: usize) -> f64 {
    let (mut rec, mut hit) = (0usize, 0usize);
    for p in points
        .iter()
        .filter(|p| p.user_group == a && p.recommended())
    {
        rec += 1;
        if p.in_target_group(b) {
            hit += 1;
        }
    }
    if rec == 0 {
        f64::NAN
    } else {
        hit as f64 / rec as f64
    }
}

/// `P_H(b | a)`: mean of `P_u(b)` over the points of user group `a` (recommended or not).
/// NaN if group `a` has no point.
pub fn historical_share(points: &[EvalPoint], a: usize, b: usize) -> f64 {
    let (mut n, mut sum) = (0usize, 0.0f64);
    for p in points.iter().filter(|p| p.user_group == a) {
        n += 1;
        sum += p.history(b);
    }
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

/// Fairness of one (P_R, P_H) pair, x100. NaN if either share is NaN or `P_H = 0`, for both
/// kinds (METHOD.md §3: a group with `P_H = 0` is undefined, never a number).
pub(crate) fn fairness_value(p_r: f64, p_h: f64, kind: FairnessKind) -> f64 {
    if p_r.is_nan() || p_h.is_nan() || p_h == 0.0 {
        return f64::NAN;
    }
    match kind {
        FairnessKind::Relative => 100.0 * (p_r - p_h) / p_h,
        FairnessKind::Absolute => 100.0 * (p_r - p_h).abs(),
    }
}

/// The matrix `F[a][b]` (user group `a`, item group `b`), x100. Relative values are signed
/// (> 0 over-recommendation); absolute values are `>= 0`. NaN where undefined.
pub fn pairwise(points: &[EvalPoint], n_groups: usize, kind: FairnessKind) -> Vec<Vec<f64>> {
    (0..n_groups)
        .map(|a| {
            (0..n_groups)
                .map(|b| {
                    fairness_value(
                        recommended_share(points, a, b),
                        historical_share(points, a, b),
                        kind,
                    )
                })
                .collect()
        })
        .collect()
}

/// Headline fairness (paper Eq. 5): `mean_a |F(a, a)|` over the diagonal of `f`.
///
/// NaN if `f` is empty or any diagonal entry is NaN: a mean that silently left out an undefined
/// group would look fairer than it is, so an undefined group makes the headline undefined.
pub fn headline(f: &[Vec<f64>]) -> f64 {
    let diag: Vec<f64> = f
        .iter()
        .enumerate()
        .map(|(a, row)| row.get(a).copied().unwrap_or(f64::NAN).abs())
        .collect();
    mean_strict(&diag)
}

/// The headline, consistent (signed mean of `F(a,a)`) and inconsistent (signed mean of
/// `F(a,b)`, `a != b`) summaries of a square matrix `f`; each NaN if an entry it reads is.
pub(crate) fn summaries(f: &[Vec<f64>]) -> (f64, f64, f64) {
    let n = f.len();
    let at = |a: usize, b: usize| f[a].get(b).copied().unwrap_or(f64::NAN);
    let diag: Vec<f64> = (0..n).map(|a| at(a, a)).collect();
    let off: Vec<f64> = (0..n)
        .flat_map(|a| (0..n).filter(move |&b| b != a).map(move |b| (a, b)))
        .map(|(a, b)| at(a, b))
        .collect();
    (headline(f), mean_strict(&diag), mean_strict(&off))
}

/// Mean that is NaN if the slice is empty or holds a NaN.
pub(crate) fn mean_strict(xs: &[f64]) -> f64 {
    if xs.is_empty() || xs.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

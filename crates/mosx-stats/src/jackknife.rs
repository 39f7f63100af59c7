//! The leave-one-user-out jackknife standard error of a metric within one seed (METHOD.md §8).
//!
//! A metric `θ` (AUC, headline F, recall, ...) is computed over a seed's test points, which are
//! grouped by user; single users' values are undefined for most metrics, so the user, not the
//! point, is the deleted unit. With `θ₋ᵤ` the metric without user `u`'s points and `n` the users
//! whose deletion leaves it defined:
//!
//! `se = sqrt((n − 1)/n · Σᵤ (θ₋ᵤ − θ̄₋)²)`, `θ̄₋ = mean of the θ₋ᵤ`  (Efron & Stein 1981).
//!
//! Invariants:
//! * The estimate is `θ` on all points (what a table prints), not the bias-corrected jackknife
//!   estimate; only its standard error comes from the deletions.
//! * A user whose deletion leaves the metric undefined (non-finite `θ₋ᵤ`) is dropped and counted
//!   in `dropped`, never imputed; `users` is the `n` of the formula.
//! * A **paired difference** of two methods scored on the same users is jackknifed as one
//!   statistic, `θ(a)₋ᵤ − θ(b)₋ᵤ` per deleted user ([`paired`]), which is what makes its SE
//!   reflect the correlation of the two methods over users; a user dropped on either side is
//!   dropped from the difference.

use serde::Serialize;

use crate::StatsError;

/// A jackknifed metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Jackknife {
    /// `θ` over every user's points.
    pub estimate: f64,
    /// Leave-one-user-out standard error.
    pub se: f64,
    /// Users whose deletion left the metric defined (the `n` of the SE).
    pub users: usize,
    /// Users dropped because `θ₋ᵤ` was undefined.
    pub dropped: usize,
}

/// The jackknife from `θ` on all users and `loo[u] = θ₋ᵤ` (non-finite: undefined, dropped).
/// Errors: `θ` undefined ([`StatsError::Undefined`]), fewer than 2 usable deletions.
pub fn from_loo(theta: f64, loo: &[f64]) -> Result<Jackknife, StatsError> {
    if !theta.is_finite() {
        return Err(StatsError::Undefined(
            "the metric on all users is undefined".into(),
        ));
    }
    let kept: Vec<f64> = loo.iter().copied().filter(|x| x.is_finite()).collect();
    let n = kept.len();
    if n < 2 {
        return Err(StatsError::TooFew { needed: 2, got: n });
    }
    let mean = kept.iter().sum::<f64>() / n as f64;
    let ss: f64 = kept.iter().map(|x| (x - mean).powi(2)).sum();
    Ok(Jackknife {
        estimate: theta,
        se: ((n as f64 - 1.0) / n as f64 * ss).sqrt(),
        users: n,
        dropped: loo.len() - n,
    })
}

/// The jackknife of a metric given as a closure: `theta(None)` on all users, `theta(Some(u))`
/// without user `u` (for `u` in `0..users`). The closure may compute the deletion however is
/// cheapest (e.g. from sums), which is why the metric is not given as a function of points.
pub fn by_deletion<F: FnMut(Option<usize>) -> f64>(
    users: usize,
    mut theta: F,
) -> Result<Jackknife, StatsError> {
    let all = theta(None);
    let loo: Vec<f64> = (0..users).map(|u| theta(Some(u))).collect();
    from_loo(all, &loo)
}

/// The jackknife of `metric` over `points`, deleting the points of one user (`user[i]` is
/// point `i`'s user, any ordered key) at a time.
pub fn over_points<P: Clone, K: Ord>(
    points: &[P],
    user: &[K],
    metric: impl Fn(&[P]) -> f64,
) -> Result<Jackknife, StatsError> {
    if points.len() != user.len() {
        return Err(StatsError::Length {
            a: points.len(),
            b: user.len(),
        });
    }
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&i, &j| user[i].cmp(&user[j]));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        if pos == 0 || user[order[pos - 1]] != user[i] {
            groups.push(Vec::new());
        }
        groups.last_mut().expect("pushed above").push(i);
    }
    let mut keep = vec![true; points.len()];
    by_deletion(groups.len(), |u| match u {
        None => metric(points),
        Some(u) => {
            groups[u].iter().for_each(|&i| keep[i] = false);
            let rest: Vec<P> = points
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(p, _)| p.clone())
                .collect();
            groups[u].iter().for_each(|&i| keep[i] = true);
            metric(&rest)
        }
    })
}

/// The jackknife of the paired difference `θ(a) − θ(b)`: `loo_a[u]`, `loo_b[u]` are the two
/// metrics without the same user `u` (a user absent from one side's points leaves that side
/// at its full value: pass `theta_b` there).
pub fn paired(
    theta_a: f64,
    loo_a: &[f64],
    theta_b: f64,
    loo_b: &[f64],
) -> Result<Jackknife, StatsError> {
    if loo_a.len() != loo_b.len() {
        return Err(StatsError::Length {
            a: loo_a.len(),
            b: loo_b.len(),
        });
    }
    let d: Vec<f64> = loo_a.iter().zip(loo_b).map(|(a, b)| a - b).collect();
    from_loo(theta_a - theta_b, &d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jackknife_se_of_a_mean_is_the_standard_error_of_the_mean() {
        // For the mean, θ₋ᵤ = (Σx − x_u)/(n − 1), and the jackknife SE equals sd/sqrt(n).
        let x = [3.0, 7.0, 1.0, 9.0, 4.0, 6.0];
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let users: Vec<usize> = (0..x.len()).collect();
        let j = over_points(&x, &users, |p| p.iter().sum::<f64>() / p.len() as f64).unwrap();
        assert!((j.estimate - mean).abs() < 1e-12);
        assert!((j.se - sd / n.sqrt()).abs() < 1e-12, "{}", j.se);
        assert_eq!((j.users, j.dropped), (6, 0));
    }

    #[test]
    fn points_are_deleted_by_user_and_undefined_deletions_are_dropped() {
        // Users 0 and 1 have two points each; a ratio metric that is undefined without user 2.
        let pts = [(1.0, 1.0), (0.0, 1.0), (1.0, 1.0), (1.0, 1.0), (2.0, 0.0)];
        let user = [0, 0, 1, 1, 2];
        let ratio = |p: &[(f64, f64)]| {
            let den: f64 = p.iter().map(|x| x.1).sum();
            if p.iter().any(|x| x.1 == 0.0) {
                p.iter().map(|x| x.0).sum::<f64>() / den
            } else {
                f64::NAN
            }
        };
        let j = over_points(&pts, &user, ratio).unwrap();
        assert_eq!((j.users, j.dropped), (2, 1));
        // θ = 5/4; without user 0: 4/2 = 2, without user 1: 3/2.
        assert_eq!(j.estimate, 1.25);
        let want = (0.5f64 * (0.25f64.powi(2) * 2.0)).sqrt();
        assert!((j.se - want).abs() < 1e-12);
    }

    #[test]
    fn a_paired_difference_of_identical_metrics_has_zero_se() {
        let loo = [0.7, 0.71, 0.69];
        let j = paired(0.7, &loo, 0.7, &loo).unwrap();
        assert_eq!((j.estimate, j.se), (0.0, 0.0));
        // A constant shift between the two methods is no sampling variance either.
        let shifted: Vec<f64> = loo.iter().map(|x| x - 0.1).collect();
        let j = paired(0.7, &loo, 0.6, &shifted).unwrap();
        assert!((j.estimate - 0.1).abs() < 1e-12 && j.se < 1e-12);
    }

    #[test]
    fn undefined_full_metrics_and_too_few_users_are_errors() {
        assert!(matches!(
            from_loo(f64::NAN, &[1.0, 2.0]),
            Err(StatsError::Undefined(_))
        ));
        assert_eq!(
            from_loo(1.0, &[1.0, f64::NAN]).unwrap_err(),
            StatsError::TooFew { needed: 2, got: 1 }
        );
    }
}

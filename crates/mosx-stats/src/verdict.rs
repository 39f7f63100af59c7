//! The verdict of a directional claim on a difference `d = a − b` (METHOD.md §8).
//!
//! A claim `a OP b + m` (`m` the margin, e.g. `a >= b − 2` has `m = −2`) is a one-sided test
//! of `d` against the null value `m`:
//! * `>` / `>=`: H1 `d > m`, p of H0 `d ≤ m` ([`Alternative::Greater`]); with `m = −δ < 0`
//!   this is the **non-inferiority** test of "a within δ of b": the claim holds when the lower
//!   one-sided `(1 − α)` bound of `d` lies above `−δ`, which is the same event as `p < α`
//!   (before multiplicity correction);
//! * `<` / `<=`: H1 `d < m` ([`Alternative::Less`]).
//!   Strict and non-strict operators are the same test (equality has probability 0).
//!
//! Rules, with `p` the Holm-adjusted one-sided p and `[lo, hi]` the two-sided `(1 − α)`
//! interval of `d` (HKSJ across seeds):
//! * **holds**: `p < α`;
//! * **does not hold**: the interval excludes the claim (`hi < m` for `>`, `lo > m` for `<`);
//! * **inconclusive**: otherwise, and always when there is no test across seeds (one seed:
//!   `p` is `None`) whatever its within-seed interval says.
//!
//! "Does not hold" uses the unadjusted interval, so it is the less conservative of the two
//! rulings; a researcher reading it should read the interval.

use serde::Serialize;

use crate::Alternative;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Holds,
    DoesNotHold,
    Inconclusive,
}

impl Verdict {
    /// The words a table prints.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does not hold",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// The verdict (see the module rules). A claim is directional: `TwoSided` (a comparison
/// without a direction) always returns `Inconclusive`.
pub fn verdict(
    alt: Alternative,
    null: f64,
    p_adjusted: Option<f64>,
    interval: (f64, f64),
    alpha: f64,
) -> Verdict {
    let Some(p) = p_adjusted.filter(|p| p.is_finite()) else {
        return Verdict::Inconclusive;
    };
    if alt == Alternative::TwoSided {
        return Verdict::Inconclusive;
    }
    if p < alpha {
        return Verdict::Holds;
    }
    let (lo, hi) = interval;
    let excluded = match alt {
        Alternative::Greater => hi < null,
        Alternative::Less => lo > null,
        Alternative::TwoSided => false,
    };
    if excluded {
        Verdict::DoesNotHold
    } else {
        Verdict::Inconclusive
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Alternative::*;

    #[test]
    fn verdicts_follow_the_rules() {
        // a > b: significant in the claimed direction.
        assert_eq!(
            verdict(Greater, 0.0, Some(0.01), (0.5, 3.0), 0.05),
            Verdict::Holds
        );
        // The interval lies below the claim.
        assert_eq!(
            verdict(Greater, 0.0, Some(0.99), (-3.0, -0.5), 0.05),
            Verdict::DoesNotHold
        );
        // Neither.
        assert_eq!(
            verdict(Greater, 0.0, Some(0.2), (-1.0, 2.0), 0.05),
            Verdict::Inconclusive
        );
        // a < b mirrored.
        assert_eq!(
            verdict(Less, 0.0, Some(0.99), (0.5, 3.0), 0.05),
            Verdict::DoesNotHold
        );
        // Non-inferiority a >= b − 2: an interval [−1.5, 0.5] is above −2 (holds when p says
        // so); [−4, −2.5] lies wholly below −2 (does not hold), [−3, 1] straddles it.
        assert_eq!(
            verdict(Greater, -2.0, Some(0.003), (-1.5, 0.5), 0.05),
            Verdict::Holds
        );
        assert_eq!(
            verdict(Greater, -2.0, Some(0.9), (-4.0, -2.5), 0.05),
            Verdict::DoesNotHold
        );
        assert_eq!(
            verdict(Greater, -2.0, Some(0.3), (-3.0, 1.0), 0.05),
            Verdict::Inconclusive
        );
        // One seed: no p, inconclusive even if its within-seed interval excludes the claim.
        assert_eq!(
            verdict(Greater, 0.0, None, (-3.0, -2.0), 0.05),
            Verdict::Inconclusive
        );
    }
}

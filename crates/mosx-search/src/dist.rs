//! Distributions of a search space and their mapping to TPE's internal real line.
//!
//! Invariants: `uniform`/`loguniform` draw from `[lo, hi)` (`loguniform` uniformly in
//! `ln x`), `int` from `lo..=hi`, `choice` one of its values; a distribution is only built
//! through [`Dist::new_range`] / [`Dist::new_choice`], which refuse empty or non-finite
//! supports (and `loguniform` bounds that are not positive).

use rand::RngExt;
use serde_json::Value;

/// One parameter's distribution.
#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    Uniform { lo: f64, hi: f64 },
    LogUniform { lo: f64, hi: f64 },
    Int { lo: i64, hi: i64 },
    Choice(Vec<Value>),
}

/// Why a distribution cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DistError {
    #[error("`{0}` needs finite bounds [lo, hi] with lo < hi")]
    Bounds(&'static str),
    #[error("`loguniform` needs bounds above 0")]
    NotPositive,
    #[error("`int` needs integer bounds [lo, hi] with lo <= hi")]
    IntBounds,
    #[error("`choice` needs a non-empty list of values")]
    EmptyChoice,
    #[error("unknown distribution `{0}`")]
    Unknown(String),
}

/// The distribution names a space entry may use.
pub const DIST_NAMES: &[&str] = &["uniform", "loguniform", "int", "choice"];

impl Dist {
    /// A ranged distribution `name` (`uniform`, `loguniform` or `int`) over `[lo, hi]`.
    pub fn new_range(name: &str, lo: f64, hi: f64) -> Result<Dist, DistError> {
        match name {
            "uniform" | "loguniform" if !(lo.is_finite() && hi.is_finite() && lo < hi) => {
                Err(DistError::Bounds(if name == "uniform" {
                    "uniform"
                } else {
                    "loguniform"
                }))
            }
            "uniform" => Ok(Dist::Uniform { lo, hi }),
            "loguniform" if lo <= 0.0 => Err(DistError::NotPositive),
            "loguniform" => Ok(Dist::LogUniform { lo, hi }),
            "int" if lo.fract() != 0.0 || hi.fract() != 0.0 || lo > hi || !hi.is_finite() => {
                Err(DistError::IntBounds)
            }
            "int" => Ok(Dist::Int {
                lo: lo as i64,
                hi: hi as i64,
            }),
            other => Err(DistError::Unknown(other.to_string())),
        }
    }

    /// `choice` over `values`.
    pub fn new_choice(values: Vec<Value>) -> Result<Dist, DistError> {
        if values.is_empty() {
            return Err(DistError::EmptyChoice);
        }
        Ok(Dist::Choice(values))
    }

    /// TPE's range for this parameter (in the internal coordinate).
    pub(crate) fn tpe_range(&self) -> tpe::range::Range {
        let (lo, hi) = match self {
            Dist::Uniform { lo, hi } => (*lo, *hi),
            Dist::LogUniform { lo, hi } => (lo.ln(), hi.ln()),
            Dist::Int { lo, hi } => (*lo as f64, *hi as f64 + 1.0),
            Dist::Choice(v) => (0.0, v.len() as f64),
        };
        tpe::range(lo, hi).expect("bounds checked when the distribution was built")
    }

    /// Whether TPE models this parameter with a histogram (categorical) rather than a Parzen
    /// estimator.
    pub(crate) fn categorical(&self) -> bool {
        matches!(self, Dist::Choice(_))
    }

    /// A uniform draw in the internal coordinate.
    pub(crate) fn draw_internal<R: rand::Rng>(&self, rng: &mut R) -> f64 {
        let r = self.tpe_range();
        let x = rng.random_range(r.start()..r.end());
        self.snap(x)
    }

    /// An internal coordinate snapped to the parameter's support (integers for `int` and
    /// `choice`, inside the range).
    pub(crate) fn snap(&self, x: f64) -> f64 {
        let r = self.tpe_range();
        match self {
            Dist::Int { .. } | Dist::Choice(_) => x.floor().clamp(r.start(), r.end() - 1.0),
            _ => x.clamp(r.start(), r.end()),
        }
    }

    /// The value an internal coordinate stands for.
    pub(crate) fn value(&self, x: f64) -> Value {
        let x = self.snap(x);
        match self {
            Dist::Uniform { hi, .. } => Value::from(x.min(*hi)),
            Dist::LogUniform { lo, hi } => Value::from(x.exp().clamp(*lo, *hi)),
            Dist::Int { .. } => Value::from(x as i64),
            Dist::Choice(v) => v[x as usize].clone(),
        }
    }

    /// The internal coordinate of `value` (what a stored trial is told back as); `None` when
    /// the value is not in the support.
    pub(crate) fn internal(&self, value: &Value) -> Option<f64> {
        match self {
            Dist::Uniform { lo, hi } => value.as_f64().filter(|x| (*lo..=*hi).contains(x)),
            Dist::LogUniform { lo, hi } => value
                .as_f64()
                .filter(|x| (*lo..=*hi).contains(x))
                .map(f64::ln),
            Dist::Int { lo, hi } => value
                .as_i64()
                .filter(|x| (*lo..=*hi).contains(x))
                .map(|x| x as f64),
            Dist::Choice(v) => v.iter().position(|c| c == value).map(|i| i as f64),
        }
        .map(|x| self.snap(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_stay_in_the_support_and_round_trip() {
        let dists = [
            Dist::new_range("uniform", -1.0, 2.0).unwrap(),
            Dist::new_range("loguniform", 1e-3, 1e-1).unwrap(),
            Dist::new_range("int", 2.0, 4.0).unwrap(),
            Dist::new_choice(vec![Value::from(2), Value::from("x")]).unwrap(),
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for d in &dists {
            for _ in 0..200 {
                let v = d.value(d.draw_internal(&mut rng));
                let back = d.internal(&v).expect("a drawn value is in the support");
                assert_eq!(d.value(back), v, "{d:?}");
            }
        }
        let ints: Vec<i64> = (0..200)
            .map(|_| {
                dists[2]
                    .value(dists[2].draw_internal(&mut rng))
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert!(
            ints.contains(&2) && ints.contains(&4),
            "int bounds are inclusive"
        );
    }

    #[test]
    fn bad_supports_are_refused() {
        assert_eq!(
            Dist::new_range("loguniform", 0.0, 1.0),
            Err(DistError::NotPositive)
        );
        assert_eq!(
            Dist::new_range("uniform", 1.0, 1.0),
            Err(DistError::Bounds("uniform"))
        );
        assert_eq!(Dist::new_range("int", 1.5, 3.0), Err(DistError::IntBounds));
        assert_eq!(Dist::new_choice(vec![]), Err(DistError::EmptyChoice));
    }
}

//! Proposing trial `i` of a search (see the crate invariants).

use rand::SeedableRng;
use serde_json::Value;

use crate::dist::Dist;

/// How trials are proposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Independent seeded draws.
    Random,
    /// Tree-structured Parzen estimator (Bergstra et al., NeurIPS 2011), one univariate
    /// optimizer per parameter (the `tpe` crate), after `startup` random trials.
    Tpe,
}

impl Method {
    pub const NAMES: &'static [&'static str] = &["random", "tpe"];

    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "random" => Some(Method::Random),
            "tpe" => Some(Method::Tpe),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Random => "random",
            Method::Tpe => "tpe",
        }
    }
}

/// Whether a larger objective is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Max,
    Min,
}

impl Direction {
    pub const NAMES: &'static [&'static str] = &["max", "min"];

    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "max" => Some(Direction::Max),
            "min" => Some(Direction::Min),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Direction::Max => "max",
            Direction::Min => "min",
        }
    }

    /// Whether objective `a` is better than `b` (a NaN is never better).
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Max => a > b,
            Direction::Min => a < b,
        }
    }
}

/// What a finished trial gave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    Objective(f64),
    /// A stage of the trial failed (or it has no finite objective): TPE leaves it out.
    Failed,
    /// Its training stopped at a rung after `epoch` epochs (ASHA, [`crate::asha`]).
    Pruned {
        epoch: usize,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchError {
    #[error("TPE trial {index} needs the outcomes of the {need} trials before it; {known} known")]
    History {
        index: usize,
        need: usize,
        known: usize,
    },
    #[error("parameter {param}: the stored value {value} is outside its distribution")]
    OutOfSpace { param: usize, value: Value },
}

/// A declared search: its method, seed, space and direction.
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    pub method: Method,
    pub seed: u64,
    /// TPE: the number of initial random trials (Optuna's default is 10).
    pub startup: usize,
    pub space: Vec<Dist>,
    pub direction: Direction,
    /// Trials in flight at once (`sweep.search.parallel`, at least 1): trial `i` is proposed
    /// once trials `0..=i-parallel` have outcomes.
    pub parallel: usize,
    /// Whether each trial depends on the earlier ones' results even for random draws (ASHA's
    /// floors): then every trial waits for the same window as TPE's.
    pub sequential: bool,
}

/// The default number of random trials before TPE models the objective (as Optuna's).
pub const DEFAULT_STARTUP: usize = 10;

impl Search {
    /// How many leading trials trial `index` is proposed from: `index + 1 - parallel`
    /// (saturating), the trials that must all have outcomes first.
    pub fn window(&self, index: usize) -> usize {
        (index + 1).saturating_sub(self.parallel.max(1))
    }

    /// Whether trial `index` can be proposed when the outcomes of the first `known` trials
    /// are known.
    pub fn determined(&self, index: usize, known: usize) -> bool {
        let window = known >= self.window(index);
        match self.method {
            Method::Random => !self.sequential || window,
            Method::Tpe => (index < self.startup && !self.sequential) || window,
        }
    }

    /// The proposal of trial `index`, one value per parameter; `history` holds the proposals
    /// and outcomes of trials `0..` in order (TPE after its startup reads exactly the first
    /// [`Search::window`]`(index)` and needs all of them).
    pub fn propose(
        &self,
        index: usize,
        history: &[(Vec<Value>, Outcome)],
    ) -> Result<Vec<Value>, SearchError> {
        let mut rng = trial_rng(self.seed, index);
        if self.method == Method::Random || index < self.startup {
            return Ok(self
                .space
                .iter()
                .map(|d| d.value(d.draw_internal(&mut rng)))
                .collect());
        }
        let need = self.window(index);
        if history.len() < need {
            return Err(SearchError::History {
                index,
                need,
                known: history.len(),
            });
        }
        self.ask_tpe(&history[..need], &mut rng)
    }

    /// TPE's proposal from `history`: each parameter's optimizer is told every trial with an
    /// objective; without one it is a random draw.
    fn ask_tpe(
        &self,
        history: &[(Vec<Value>, Outcome)],
        rng: &mut rand::rngs::StdRng,
    ) -> Result<Vec<Value>, SearchError> {
        let worst = history
            .iter()
            .filter_map(|(_, o)| match o {
                Outcome::Objective(v) if v.is_finite() => Some(self.minimised(*v)),
                _ => None,
            })
            .fold(None, |w: Option<f64>, v| Some(w.map_or(v, |w| w.max(v))));
        let seen: Vec<(&Vec<Value>, f64)> = history
            .iter()
            .filter_map(|(p, o)| match o {
                Outcome::Objective(v) if v.is_finite() => Some((p, self.minimised(*v))),
                Outcome::Pruned { .. } => worst.map(|w| (p, w)),
                _ => None,
            })
            .collect();
        let mut out = Vec::with_capacity(self.space.len());
        for (param, dist) in self.space.iter().enumerate() {
            if seen.is_empty() {
                out.push(dist.value(dist.draw_internal(rng)));
                continue;
            }
            let estimator = if dist.categorical() {
                tpe::histogram_estimator()
            } else {
                tpe::parzen_estimator()
            };
            let mut opt = tpe::TpeOptimizer::new(estimator, dist.tpe_range());
            for (p, v) in &seen {
                let value = &p[param];
                let x = dist
                    .internal(value)
                    .ok_or_else(|| SearchError::OutOfSpace {
                        param,
                        value: value.clone(),
                    })?;
                opt.tell(x, *v).expect("a snapped value lies in its range");
            }
            let x = opt
                .ask(rng)
                .expect("the default estimators build on any told history");
            out.push(dist.value(x));
        }
        Ok(out)
    }

    fn minimised(&self, v: f64) -> f64 {
        match self.direction {
            Direction::Min => v,
            Direction::Max => -v,
        }
    }
}

/// Trial `index`'s RNG: seeded from the search seed and the index only (splitmix64 mixing).
fn trial_rng(seed: u64, index: usize) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(splitmix(seed ^ splitmix(index as u64)))
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;

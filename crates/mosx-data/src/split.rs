//! Train/valid/test split of the sampled points (METHOD.md §1). Invariants: the three
//! index lists are disjoint, cover every point, and are sorted ascending; by `user` no
//! user appears in two parts: distinct users (ascending) are shuffled by a ChaCha8
//! generator seeded by `seed` and each whole user goes to the part whose cumulative target
//! (ratios must sum to 1) holds the midpoint of its points, so point counts approach
//! the ratios; by `random` the point indices are shuffled and cut at the rounded
//! cumulative ratios. No input points, or a part with a positive share left empty, is an
//! error.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::sample::Sequences;

/// What a split keeps together.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SplitBy {
    /// Whole users go to one part (default).
    #[default]
    User,
    /// Data points are split independently.
    Random,
}

/// Split options.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct SplitOptions {
    /// train, valid, test shares (summing to 1). Default 0.8, 0.1, 0.1.
    pub ratios: [f64; 3],
    pub by: SplitBy,
    pub seed: u64,
}

impl Default for SplitOptions {
    fn default() -> Self {
        SplitOptions {
            ratios: [0.8, 0.1, 0.1],
            by: SplitBy::User,
            seed: 0,
        }
    }
}

/// Indices into `Sequences.points`, each list sorted ascending.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Split {
    pub train: Vec<u32>,
    pub valid: Vec<u32>,
    pub test: Vec<u32>,
}

impl Split {
    /// Number of points covered.
    pub fn len(&self) -> usize {
        self.train.len() + self.valid.len() + self.test.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parts with their names, in order train, valid, test.
    pub fn parts(&self) -> [(&'static str, &[u32]); 3] {
        [
            ("train", &self.train),
            ("valid", &self.valid),
            ("test", &self.test),
        ]
    }
}

fn normalised(ratios: &[f64; 3]) -> Result<[f64; 3], DataError> {
    if ratios.iter().any(|r| !r.is_finite() || *r < 0.0) {
        return Err(DataError::invalid(
            "ratios",
            format!("shares must be finite and >= 0, found {ratios:?}"),
        ));
    }
    let sum: f64 = ratios.iter().sum();
    if (sum - 1.0).abs() > 1e-6 {
        return Err(DataError::invalid(
            "ratios",
            format!(
                "shares must sum to 1, found {} + {} + {} = {sum}",
                ratios[0], ratios[1], ratios[2]
            ),
        ));
    }
    Ok(*ratios)
}

/// Splits the points of `seq`.
pub fn split(seq: &Sequences, opts: &SplitOptions) -> Result<Split, DataError> {
    let r = normalised(&opts.ratios)?;
    let n = seq.points.len();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut parts: [Vec<u32>; 3] = Default::default();
    match opts.by {
        SplitBy::Random => {
            let mut idx: Vec<u32> = (0..n as u32).collect();
            idx.shuffle(&mut rng);
            let c1 = ((n as f64 * r[0]).round() as usize).min(n);
            let c2 = ((n as f64 * (r[0] + r[1])).round() as usize).clamp(c1, n);
            parts[0] = idx[..c1].to_vec();
            parts[1] = idx[c1..c2].to_vec();
            parts[2] = idx[c2..].to_vec();
        }
        SplitBy::User => {
            let mut users: Vec<u32> = seq.points.iter().map(|p| p.user).collect();
            users.sort_unstable();
            users.dedup();
            let mut count = vec![0usize; users.len()];
            for p in &seq.points {
                if let Ok(j) = users.binary_search(&p.user) {
                    count[j] += 1;
                }
            }
            let mut perm: Vec<usize> = (0..users.len()).collect();
            perm.shuffle(&mut rng);
            let bounds = [r[0] * n as f64, (r[0] + r[1]) * n as f64];
            let mut part_of = vec![0u8; users.len()];
            let mut cum = 0usize;
            for j in perm {
                let mid = cum as f64 + count[j] as f64 / 2.0;
                part_of[j] = if mid <= bounds[0] {
                    0
                } else if mid <= bounds[1] {
                    1
                } else {
                    2
                };
                cum += count[j];
            }
            for (k, p) in seq.points.iter().enumerate() {
                if let Ok(j) = users.binary_search(&p.user) {
                    parts[part_of[j] as usize].push(k as u32);
                }
            }
        }
    }
    for p in parts.iter_mut() {
        p.sort_unstable();
    }
    if n == 0 {
        return Err(DataError::Empty {
            what: "split".into(),
            detail: "there are no points to split".into(),
        });
    }
    for (k, name) in ["train", "valid", "test"].iter().enumerate() {
        if r[k] > 0.0 && parts[k].is_empty() {
            return Err(DataError::Empty {
                what: format!("split part `{name}`"),
                detail: format!(
                    "its share is {} but it got 0 of {n} points{}",
                    r[k],
                    if opts.by == SplitBy::User {
                        " (whole users go to one part: too few users)"
                    } else {
                        ""
                    }
                ),
            });
        }
    }
    let [train, valid, test] = parts;
    Ok(Split { train, valid, test })
}

//! Stereotype measurement (METHOD.md §2, paper Eqs. 2-4). Invariants: `c_i^g` counts the
//! distinct train users of group g whose history holds item i (a user counts once per item
//! however many windows hold it); the degree is `(v_g - mean_{g'!=g} v_g') / sum v` on rates
//! `v = c / C^g` (rate, default) or on counts `v = c` (share), 0 for an item nobody holds, or
//! the raw count difference (count); z-scores are per group over
//! the items whose total count is at least `min_count`, with the population standard
//! deviation (z = 0 for every eligible item when that deviation is 0); ineligible items have
//! z = NaN and no membership; an item is a member of g iff z > z*; `Stereotypes.items[i]`
//! describes dataset item i.

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::sample::Sequences;
use crate::split::Split;
use crate::types::Dataset;

/// Degree formula (METHOD.md §2).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Degree {
    /// The share form on rates `r_i^g = c_i^g / C^g` (`C^g` = group g's total count over
    /// every item), in [-1, 1], so the larger group does not decide the sign (default).
    #[default]
    Rate,
    /// The share form on raw counts: normalised by the item's total count, in [-1, 1].
    Share,
    /// Raw count difference.
    Count,
}

/// Measurement options; also the `measure` stage's params (unknown fields are refused).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MeasureOptions {
    pub degree: Degree,
    /// Membership threshold on the z-score, default 1.0.
    pub z_star: f64,
    /// Items with fewer (total) train-history users are left out of the z statistics.
    pub min_count: u32,
}

impl Default for MeasureOptions {
    fn default() -> Self {
        MeasureOptions {
            degree: Degree::Rate,
            z_star: 1.0,
            min_count: 3,
        }
    }
}

/// Per-item measurement, one entry per group.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ItemStereotype {
    pub item: u32,
    pub counts: Vec<u32>,
    #[serde(with = "crate::serde_nan::vec")]
    pub degree: Vec<f64>,
    /// NaN when the item is below `min_count`.
    #[serde(with = "crate::serde_nan::vec")]
    pub z: Vec<f64>,
    pub member: Vec<bool>,
}

/// Stereotype groups of every dataset item.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Stereotypes {
    pub groups: Vec<String>,
    pub z_star: f64,
    /// Indexed by dataset item.
    pub items: Vec<ItemStereotype>,
    /// Per group: mean of the degree over the eligible items (the z-score's centre).
    #[serde(with = "crate::serde_nan::vec")]
    pub z_mean: Vec<f64>,
    /// Per group: population standard deviation of the degree over the eligible items.
    #[serde(with = "crate::serde_nan::vec")]
    pub z_std: Vec<f64>,
}

/// Degree of one item from its per-group counts (`Rate` with every group's total 1, i.e.
/// the share form; use [`degree_with_totals`] for rates).
pub fn degree(counts: &[u32], kind: Degree) -> Vec<f64> {
    degree_with_totals(counts, kind, &vec![1.0; counts.len()])
}

/// Degree of one item from its per-group counts and each group's total count `C^g`
/// (only `Rate` reads the totals; a group with total 0 has rate 0).
pub fn degree_with_totals(counts: &[u32], kind: Degree, totals: &[f64]) -> Vec<f64> {
    let ng = counts.len();
    let values: Vec<f64> = match kind {
        Degree::Rate => counts
            .iter()
            .zip(totals)
            .map(|(&c, &t)| if t > 0.0 { c as f64 / t } else { 0.0 })
            .collect(),
        Degree::Share | Degree::Count => counts.iter().map(|&c| c as f64).collect(),
    };
    let total: f64 = values.iter().sum();
    (0..ng)
        .map(|g| {
            let others = if ng > 1 {
                values
                    .iter()
                    .enumerate()
                    .filter(|(h, _)| *h != g)
                    .map(|(_, &c)| c)
                    .sum::<f64>()
                    / (ng - 1) as f64
            } else {
                0.0
            };
            let diff = values[g] - others;
            match kind {
                Degree::Count => diff,
                Degree::Share | Degree::Rate if total > 0.0 => diff / total,
                Degree::Share | Degree::Rate => 0.0,
            }
        })
        .collect()
}

/// Measures item stereotypes on the train histories.
pub fn measure(
    ds: &Dataset,
    seq: &Sequences,
    split: &Split,
    opts: &MeasureOptions,
) -> Result<Stereotypes, DataError> {
    if !opts.z_star.is_finite() {
        return Err(DataError::invalid(
            "z_star",
            format!("must be finite, found {}", opts.z_star),
        ));
    }
    let ng = ds.groups.len();
    if ng == 0 {
        return Err(DataError::Inconsistent("dataset has no groups".into()));
    }
    let ni = ds.items.len();
    let pairs = train_pairs(seq, split)?;
    let counts = group_counts(ds, pairs)?;
    let eligible: Vec<bool> = counts
        .chunks(ng)
        .map(|c| c.iter().map(|&x| x as u64).sum::<u64>() >= opts.min_count as u64)
        .collect();
    let mut totals = vec![0.0f64; ng];
    for c in counts.chunks(ng) {
        for (t, &x) in totals.iter_mut().zip(c) {
            *t += x as f64;
        }
    }
    let degrees: Vec<Vec<f64>> = counts
        .chunks(ng)
        .map(|c| degree_with_totals(c, opts.degree, &totals))
        .collect();
    let (z_mean, z_std) = z_moments(&degrees, &eligible, ng);
    let items = (0..ni)
        .map(|i| {
            let z: Vec<f64> = (0..ng)
                .map(|g| {
                    if !eligible[i] {
                        f64::NAN
                    } else if z_std[g] > 0.0 {
                        (degrees[i][g] - z_mean[g]) / z_std[g]
                    } else {
                        0.0
                    }
                })
                .collect();
            ItemStereotype {
                item: i as u32,
                counts: counts[i * ng..(i + 1) * ng].to_vec(),
                degree: degrees[i].clone(),
                member: z.iter().map(|&z| z > opts.z_star).collect(),
                z,
            }
        })
        .collect();
    Ok(Stereotypes {
        groups: ds.groups.clone(),
        z_star: opts.z_star,
        items,
        z_mean,
        z_std,
    })
}

/// Distinct (user, item) pairs over the train histories, as `user << 32 | item`, sorted.
fn train_pairs(seq: &Sequences, split: &Split) -> Result<Vec<u64>, DataError> {
    let mut pairs: Vec<u64> = Vec::with_capacity(split.train.len() * 10);
    for &k in &split.train {
        let p = seq.points.get(k as usize).ok_or_else(|| {
            DataError::Inconsistent(format!(
                "split names point {k} but the sequences hold {}",
                seq.points.len()
            ))
        })?;
        let u = (p.user as u64) << 32;
        pairs.extend(p.history.iter().map(|&i| u | i as u64));
    }
    pairs.sort_unstable();
    pairs.dedup();
    Ok(pairs)
}

/// `c_i^g` at `[i * ng + g]`: the distinct users of group g among `pairs` holding item i.
fn group_counts(ds: &Dataset, pairs: Vec<u64>) -> Result<Vec<u32>, DataError> {
    let (ng, ni) = (ds.groups.len(), ds.items.len());
    let mut counts = vec![0u32; ni * ng];
    for x in pairs {
        let (u, i) = ((x >> 32) as usize, (x & 0xffff_ffff) as usize);
        let g = ds
            .users
            .get(u)
            .map(|u| u.group as usize)
            .filter(|&g| g < ng);
        let (Some(g), true) = (g, i < ni) else {
            return Err(DataError::Inconsistent(format!(
                "point names user {u} / item {i} outside the dataset ({} users, {ni} items)",
                ds.users.len()
            )));
        };
        counts[i * ng + g] += 1;
    }
    Ok(counts)
}

/// Per group: mean and population standard deviation of the degree over the eligible
/// items (NaN when no item is eligible).
fn z_moments(degrees: &[Vec<f64>], eligible: &[bool], ng: usize) -> (Vec<f64>, Vec<f64>) {
    let mut z_mean = vec![f64::NAN; ng];
    let mut z_std = vec![f64::NAN; ng];
    for g in 0..ng {
        let vals: Vec<f64> = (0..degrees.len())
            .filter(|&i| eligible[i])
            .map(|i| degrees[i][g])
            .collect();
        if !vals.is_empty() {
            let m = vals.iter().sum::<f64>() / vals.len() as f64;
            let var = vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / vals.len() as f64;
            z_mean[g] = m;
            z_std[g] = var.sqrt();
        }
    }
    (z_mean, z_std)
}

impl Stereotypes {
    /// History share `P_u(g)` (Eq. 3): the fraction of history items that belong to each
    /// group; all zeros for an empty history. Unknown items count as neutral.
    pub fn history_share(&self, history: &[u32]) -> Vec<f64> {
        let mut share = vec![0.0; self.groups.len()];
        if history.is_empty() {
            return share;
        }
        for &i in history {
            for (g, m) in self.item_groups(i).into_iter().enumerate() {
                share[g] += m as u8 as f64;
            }
        }
        share.iter_mut().for_each(|s| *s /= history.len() as f64);
        share
    }

    /// Membership of `item` in each group (all false for an unknown item).
    pub fn item_groups(&self, item: u32) -> Vec<bool> {
        self.items
            .get(item as usize)
            .map_or_else(|| vec![false; self.groups.len()], |s| s.member.clone())
    }

    /// Items that belong to no group.
    pub fn neutral_count(&self) -> usize {
        self.items
            .iter()
            .filter(|s| !s.member.iter().any(|&m| m))
            .count()
    }
}

//! Window sampling (METHOD.md §1). Invariants: a user's interactions are ordered by
//! timestamp (stable: ties keep the file order) when every interaction has one, else by a
//! shuffle seeded by `SampleOptions.seed` (BookCrossing, as TALLRec); every run of `window`
//! consecutive interactions of a user is a candidate (stride 1); candidates are sampled
//! uniformly without replacement by a ChaCha8 generator seeded by `seed` (the order shuffle
//! and the draw use separate streams), and the points come out in (user, window start)
//! order. The output depends only on the inputs and the seed, never on the thread count.
//! Exactly the requested number of windows is drawn (per group `round(n * share)`, shares
//! summing to 1): asking for 0, or for more than exist, is an error stating both numbers.

use std::collections::BTreeMap;

use rand::seq::{index, SliceRandom};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::DataError;
use crate::types::{Dataset, DatasetKind};

/// How many windows to draw from each user group.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum GroupRatio {
    /// Uniform over all windows (serde: `"natural"`).
    #[default]
    Natural,
    /// `round(n * ratio_g)` windows from the users of group `g` (serde: a map such as
    /// `{adult: 0.6, teen: 0.4}`); a group absent from the map gets none.
    Ratio(BTreeMap<String, f64>),
}

impl GroupRatio {
    /// METHOD.md default: natural for MovieLens, `{adult: 0.6, teen: 0.4}` for BookCrossing.
    pub fn default_for(kind: DatasetKind) -> Self {
        match kind {
            DatasetKind::MovieLens => GroupRatio::Natural,
            DatasetKind::BookCrossing => GroupRatio::Ratio(BTreeMap::from([
                ("adult".to_string(), 0.6),
                ("teen".to_string(), 0.4),
            ])),
        }
    }
}

impl Serialize for GroupRatio {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            GroupRatio::Natural => s.serialize_str("natural"),
            GroupRatio::Ratio(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for GroupRatio {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Name(String),
            Map(BTreeMap<String, f64>),
        }
        match Repr::deserialize(d)? {
            Repr::Name(n) if n == "natural" => Ok(GroupRatio::Natural),
            Repr::Name(n) => Err(serde::de::Error::custom(format!(
                "group_ratio must be \"natural\" or a map of group to share, found {n:?}"
            ))),
            Repr::Map(m) => Ok(GroupRatio::Ratio(m)),
        }
    }
}

/// Sampling options (METHOD.md §1).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct SampleOptions {
    /// Interactions per window: history = window - 1, then the target. Default 11.
    pub window: usize,
    /// Windows to sample. Default 10,000.
    pub n: usize,
    pub seed: u64,
    pub group_ratio: GroupRatio,
    /// Label threshold; `None` takes the dataset's (3 MovieLens, 5 BookCrossing).
    pub threshold: Option<f32>,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            window: 11,
            n: 10_000,
            seed: 0,
            group_ratio: GroupRatio::Natural,
            threshold: None,
        }
    }
}

impl SampleOptions {
    /// Defaults with the dataset's default group ratio.
    pub fn default_for(kind: DatasetKind) -> Self {
        SampleOptions {
            group_ratio: GroupRatio::default_for(kind),
            ..Default::default()
        }
    }
}

/// One leave-one-out data point. Items index `Dataset.items`, `user` indexes `Dataset.users`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DataPoint {
    pub user: u32,
    pub history: Vec<u32>,
    pub history_ratings: Vec<f32>,
    pub target: u32,
    pub target_rating: f32,
    /// `target_rating > threshold`.
    pub label: bool,
}

/// The sampled data points.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Sequences {
    pub dataset: String,
    pub groups: Vec<String>,
    pub points: Vec<DataPoint>,
    /// Candidate windows per group (before sampling).
    pub windows_available: Vec<u64>,
}

/// Interactions grouped by user, each user's run in sequence order.
pub(crate) struct UserRuns {
    /// `order[offsets[u]..offsets[u+1]]` are user u's interaction indices.
    pub order: Vec<u32>,
    pub offsets: Vec<usize>,
}

/// Groups interactions by user and orders each user's run (timestamps or seeded shuffle).
pub(crate) fn user_runs(ds: &Dataset, rng: &mut ChaCha8Rng) -> Result<UserRuns, DataError> {
    let nu = ds.users.len();
    let mut offsets = vec![0usize; nu + 1];
    for (k, x) in ds.interactions.iter().enumerate() {
        if x.user as usize >= nu || x.item as usize >= ds.items.len() {
            return Err(DataError::Inconsistent(format!(
                "interaction {k} names user {} / item {} but the dataset has {} users / {} items",
                x.user,
                x.item,
                nu,
                ds.items.len()
            )));
        }
        offsets[x.user as usize + 1] += 1;
    }
    for u in 0..nu {
        offsets[u + 1] += offsets[u];
    }
    let mut fill = offsets.clone();
    let mut order = vec![0u32; ds.interactions.len()];
    for (k, x) in ds.interactions.iter().enumerate() {
        let slot = &mut fill[x.user as usize];
        order[*slot] = k as u32;
        *slot += 1;
    }
    let timed = ds.interactions.iter().all(|x| x.timestamp.is_some());
    let mut runs: Vec<&mut [u32]> = Vec::with_capacity(nu);
    let mut rest = order.as_mut_slice();
    for u in 0..nu {
        let (head, tail) = rest.split_at_mut(offsets[u + 1] - offsets[u]);
        runs.push(head);
        rest = tail;
    }
    if timed {
        let ts = |k: &u32| ds.interactions[*k as usize].timestamp;
        runs.par_iter_mut().for_each(|r| r.sort_by_key(ts)); // stable
    } else {
        for r in runs.iter_mut() {
            r.shuffle(rng);
        }
    }
    Ok(UserRuns { order, offsets })
}

/// Checks the options against the dataset; returns the label threshold in force.
fn checked_threshold(ds: &Dataset, opts: &SampleOptions) -> Result<f32, DataError> {
    if opts.window < 2 {
        return Err(DataError::invalid(
            "window",
            format!(
                "must be at least 2 (history + target), found {}",
                opts.window
            ),
        ));
    }
    if opts.n == 0 {
        return Err(DataError::invalid(
            "windows",
            "must be at least 1: a sample of 0 windows is empty",
        ));
    }
    let threshold = opts.threshold.unwrap_or(ds.label_threshold);
    if !threshold.is_finite() {
        return Err(DataError::invalid("threshold", "must be a finite number"));
    }
    let ng = ds.groups.len();
    if let Some(u) = ds.users.iter().find(|u| u.group as usize >= ng) {
        return Err(DataError::Inconsistent(format!(
            "user {} has group {} but the dataset has {ng} groups",
            u.id, u.group
        )));
    }
    Ok(threshold)
}

/// Draws `want` (at most all) of the windows of `users` uniformly without replacement,
/// appending them to `chosen` as (user, start).
fn draw_windows(
    users: &[u32],
    per_user: &[u64],
    want: usize,
    rng: &mut ChaCha8Rng,
    chosen: &mut Vec<(u32, u32)>,
) {
    let mut prefix = Vec::with_capacity(users.len() + 1);
    prefix.push(0u64);
    for &u in users {
        prefix.push(prefix[prefix.len() - 1] + per_user[u as usize]);
    }
    let total = prefix[users.len()] as usize;
    let mut picks = index::sample(rng, total, want.min(total)).into_vec();
    picks.sort_unstable();
    for p in picks {
        let p = p as u64;
        let j = prefix.partition_point(|&x| x <= p) - 1;
        chosen.push((users[j], (p - prefix[j]) as u32));
    }
}

/// Windows to draw per group under a ratio map: checks the groups and shares, and that each
/// group has enough windows.
fn ratio_wants(
    ds: &Dataset,
    map: &BTreeMap<String, f64>,
    n: usize,
    windows_available: &[u64],
    w: usize,
) -> Result<Vec<u64>, DataError> {
    for (name, r) in map {
        if !ds.groups.contains(name) {
            return Err(DataError::UnknownGroup {
                name: name.clone(),
                option: "group_ratio".into(),
                known: ds.groups.clone(),
            });
        }
        if !r.is_finite() || *r < 0.0 {
            return Err(DataError::invalid(
                "group_ratio",
                format!("share of `{name}` must be >= 0, found {r}"),
            ));
        }
    }
    let sum: f64 = map.values().sum();
    if (sum - 1.0).abs() > 1e-6 {
        let parts: Vec<String> = map.iter().map(|(g, r)| format!("{g} {r}")).collect();
        return Err(DataError::invalid(
            "group_ratio",
            format!("shares must sum to 1, found {} = {sum}", parts.join(" + ")),
        ));
    }
    let wants: Vec<u64> = ds
        .groups
        .iter()
        .map(|g| map.get(g).map_or(0, |r| (n as f64 * r).round() as u64))
        .collect();
    for (g, name) in ds.groups.iter().enumerate() {
        if wants[g] > windows_available[g] {
            return Err(DataError::NotEnoughWindows {
                group: name.clone(),
                requested: wants[g],
                available: windows_available[g],
                window: w,
            });
        }
    }
    Ok(wants)
}

/// Chooses the windows as (user, start), sorted, per `opts.group_ratio`.
fn choose_windows(
    ds: &Dataset,
    opts: &SampleOptions,
    per_user: &[u64],
    windows_available: &[u64],
    draw_rng: &mut ChaCha8Rng,
) -> Result<Vec<(u32, u32)>, DataError> {
    let w = opts.window;
    let mut chosen: Vec<(u32, u32)> = Vec::new();
    match &opts.group_ratio {
        GroupRatio::Natural => {
            let total: u64 = windows_available.iter().sum();
            if opts.n as u64 > total {
                return Err(DataError::TooFewWindows {
                    requested: opts.n as u64,
                    available: total,
                    window: w,
                });
            }
            let all: Vec<u32> = (0..ds.users.len() as u32).collect();
            draw_windows(&all, per_user, opts.n, draw_rng, &mut chosen);
        }
        GroupRatio::Ratio(map) => {
            let wants = ratio_wants(ds, map, opts.n, windows_available, w)?;
            for (g, &want) in wants.iter().enumerate() {
                let users: Vec<u32> = (0..ds.users.len() as u32)
                    .filter(|&u| ds.users[u as usize].group as usize == g)
                    .collect();
                draw_windows(&users, per_user, want as usize, draw_rng, &mut chosen);
            }
        }
    }
    chosen.sort_unstable();
    Ok(chosen)
}

/// The data point of the window of `w` interactions starting at `start` in `user`'s run.
fn window_point(
    ds: &Dataset,
    runs: &UserRuns,
    w: usize,
    threshold: f32,
    (user, start): (u32, u32),
) -> DataPoint {
    let start = runs.offsets[user as usize] + start as usize;
    let win = &runs.order[start..start + w];
    let (hist, last) = win.split_at(w - 1);
    let target = &ds.interactions[last[0] as usize];
    DataPoint {
        user,
        history: hist
            .iter()
            .map(|&k| ds.interactions[k as usize].item)
            .collect(),
        history_ratings: hist
            .iter()
            .map(|&k| ds.interactions[k as usize].rating)
            .collect(),
        target: target.item,
        target_rating: target.rating,
        label: target.rating > threshold,
    }
}

/// Samples windows (METHOD.md §1).
pub fn sample(ds: &Dataset, opts: &SampleOptions) -> Result<Sequences, DataError> {
    let threshold = checked_threshold(ds, opts)?;
    let ng = ds.groups.len();
    let mut order_rng = ChaCha8Rng::seed_from_u64(opts.seed);
    order_rng.set_stream(1);
    let mut draw_rng = ChaCha8Rng::seed_from_u64(opts.seed);
    draw_rng.set_stream(2);
    let runs = user_runs(ds, &mut order_rng)?;
    let w = opts.window;
    let per_user: Vec<u64> = (0..ds.users.len())
        .map(|u| ((runs.offsets[u + 1] - runs.offsets[u]) as u64).saturating_sub(w as u64 - 1))
        .collect();
    let mut windows_available = vec![0u64; ng];
    for (u, c) in per_user.iter().enumerate() {
        windows_available[ds.users[u].group as usize] += c;
    }
    let chosen = choose_windows(ds, opts, &per_user, &windows_available, &mut draw_rng)?;
    let points = chosen
        .iter()
        .map(|&uw| window_point(ds, &runs, w, threshold, uw))
        .collect();
    Ok(Sequences {
        dataset: ds.name.clone(),
        groups: ds.groups.clone(),
        points,
        windows_available,
    })
}

/// Summary counts of a sample (Table III).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SampleStats {
    pub points: usize,
    /// Distinct users with a point.
    pub users: usize,
    /// Distinct items in the sampled histories and targets.
    pub items: usize,
    /// Distinct (user, item) pairs covered by the sampled windows.
    pub interactions: usize,
    /// Points per user group.
    pub group_points: Vec<usize>,
    /// Distinct users per user group.
    pub group_users: Vec<usize>,
}

impl Sequences {
    /// Counts of the sample; users outside `ds` are counted but not grouped.
    pub fn stats(&self, ds: &Dataset) -> SampleStats {
        let ng = self.groups.len();
        let mut users: Vec<u32> = self.points.iter().map(|p| p.user).collect();
        users.sort_unstable();
        users.dedup();
        let mut pairs: Vec<u64> = Vec::with_capacity(self.points.len() * 11);
        for p in &self.points {
            let u = (p.user as u64) << 32;
            pairs.extend(
                p.history
                    .iter()
                    .chain(std::iter::once(&p.target))
                    .map(|&i| u | i as u64),
            );
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut items: Vec<u32> = pairs.iter().map(|&x| x as u32).collect();
        items.sort_unstable();
        items.dedup();
        let group_of = |u: u32| {
            ds.users
                .get(u as usize)
                .map(|x| x.group as usize)
                .filter(|&g| g < ng)
        };
        let mut group_points = vec![0; ng];
        for p in &self.points {
            if let Some(g) = group_of(p.user) {
                group_points[g] += 1;
            }
        }
        let mut group_users = vec![0; ng];
        for &u in &users {
            if let Some(g) = group_of(u) {
                group_users[g] += 1;
            }
        }
        SampleStats {
            points: self.points.len(),
            users: users.len(),
            items: items.len(),
            interactions: pairs.len(),
            group_points,
            group_users,
        }
    }
}

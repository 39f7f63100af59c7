//! Candidate lists of the ranking protocol: for each scored point, its target item and
//! `negatives` items sampled for it.
//!
//! Invariants:
//! * A list's first item is the point's target; the negatives follow, distinct, each an item
//!   of the dataset its user never interacted with anywhere in the loaded data (any rating,
//!   any split: an item the user rated, even in a later window, is never a negative).
//! * Sampling is uniform without replacement over those items, by a ChaCha8 generator seeded
//!   by `seed` on the stream of the point's index, so a point's list depends only on the
//!   data, the seed and its index: never on which other points are listed, or their order.
//! * A user with fewer never-interacted items than `negatives` is an error at `negatives`
//!   stating both numbers.

use rand::seq::index;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::DataError;
use crate::sample::Sequences;
use crate::table::Tabular;
use crate::types::Dataset;

/// One point's candidates.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CandidateList {
    /// Index into the sampled sequences.
    pub index: u32,
    /// Item ids: `items[0]` is the target, then the negatives in draw order.
    pub items: Vec<u32>,
}

/// The candidate lists of a set of points, in the order the points were given.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Candidates {
    pub negatives: usize,
    pub seed: u64,
    pub lists: Vec<CandidateList>,
}

/// The candidate lists of `points` (indices into `seq`): each target with `negatives` items
/// its user never interacted with in `ds` (module note).
pub fn sample_candidates(
    ds: &Dataset,
    seq: &Sequences,
    points: &[u32],
    negatives: usize,
    seed: u64,
) -> Result<Candidates, DataError> {
    let n_items = ds.items.len();
    // Each user's interacted items, sorted and distinct.
    let mut seen: Vec<Vec<u32>> = vec![Vec::new(); ds.users.len()];
    for it in &ds.interactions {
        if let Some(s) = seen.get_mut(it.user as usize) {
            s.push(it.item);
        }
    }
    for s in &mut seen {
        s.sort_unstable();
        s.dedup();
    }
    let mut lists = Vec::with_capacity(points.len());
    for &i in points {
        let d = seq.points.get(i as usize).ok_or_else(|| {
            DataError::Inconsistent(format!("point {i} is outside the sequences"))
        })?;
        let excluded = seen.get(d.user as usize).map_or(&[][..], Vec::as_slice);
        let pool = n_items - excluded.iter().filter(|&&x| (x as usize) < n_items).count();
        if pool < negatives {
            return Err(DataError::invalid(
                "negatives",
                format!(
                    "{negatives} negatives were asked for but user `{}` has only {pool} items it never interacted with",
                    ds.users[d.user as usize].id
                ),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::from(i));
        let mut items = Vec::with_capacity(negatives + 1);
        items.push(d.target);
        items.extend(
            index::sample(&mut rng, pool, negatives)
                .into_iter()
                .map(|r| nth_allowed(r as u32, excluded)),
        );
        lists.push(CandidateList { index: i, items });
    }
    Ok(Candidates {
        negatives,
        seed,
        lists,
    })
}

/// The `r`-th (0-based) item id not in `excluded` (sorted, distinct).
fn nth_allowed(r: u32, excluded: &[u32]) -> u32 {
    let mut item = r;
    for &e in excluded {
        if e <= item {
            item += 1;
        } else {
            break;
        }
    }
    item
}

/// One row per candidate: index, position (0: the target), item, target.
impl Tabular for Candidates {
    fn columns(&self) -> Vec<String> {
        ["index", "position", "item", "target"]
            .map(String::from)
            .to_vec()
    }

    fn rows(&self) -> Box<dyn Iterator<Item = Vec<Value>> + '_> {
        Box::new(self.lists.iter().flat_map(|l| {
            l.items.iter().enumerate().map(move |(p, &item)| {
                vec![
                    Value::from(l.index),
                    Value::from(p),
                    Value::from(item),
                    Value::from(p == 0),
                ]
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::DataPoint;
    use crate::types::{DatasetKind, Interaction, Item, User};

    /// 3 users over 30 items: user u interacted with items 10u..10u+8 (rating u+1).
    fn fixture() -> (Dataset, Sequences) {
        let users = (0..3)
            .map(|u| User {
                id: format!("u{u}"),
                group: (u % 2) as u8,
            })
            .collect();
        let items = (0..30)
            .map(|i| Item {
                id: format!("i{i}"),
                title: format!("Item {i}"),
            })
            .collect();
        let interactions = (0..3u32)
            .flat_map(|u| {
                (0..8).map(move |k| Interaction {
                    user: u,
                    item: 10 * u + k,
                    rating: 1.0 + u as f32,
                    timestamp: Some(k as i64),
                })
            })
            .collect();
        let ds = Dataset {
            name: "fixture".into(),
            kind: DatasetKind::MovieLens,
            groups: vec!["male".into(), "female".into()],
            users,
            items,
            interactions,
            label_threshold: 3.0,
        };
        let points = (0..3u32)
            .map(|u| DataPoint {
                user: u,
                history: (10 * u..10 * u + 7).collect(),
                history_ratings: vec![1.0; 7],
                target: 10 * u + 7,
                target_rating: 1.0,
                label: false,
            })
            .collect();
        let seq = Sequences {
            dataset: "fixture".into(),
            groups: ds.groups.clone(),
            points,
            windows_available: vec![2, 1],
        };
        (ds, seq)
    }

    #[test]
    fn negatives_are_distinct_items_the_user_never_interacted_with() {
        let (ds, seq) = fixture();
        let c = sample_candidates(&ds, &seq, &[0, 1, 2], 19, 7).unwrap();
        for l in &c.lists {
            let d = &seq.points[l.index as usize];
            assert_eq!(l.items[0], d.target);
            assert_eq!(l.items.len(), 20);
            let mut neg = l.items[1..].to_vec();
            neg.sort_unstable();
            neg.dedup();
            assert_eq!(neg.len(), 19, "{l:?}");
            for &i in &neg {
                assert!((i as usize) < ds.items.len());
                let own = 10 * d.user..10 * d.user + 8;
                assert!(!own.contains(&i), "user {} interacted with {i}", d.user);
            }
        }
    }

    #[test]
    fn sampling_is_seeded_per_point_and_independent_of_the_other_points() {
        let (ds, seq) = fixture();
        let a = sample_candidates(&ds, &seq, &[0, 1, 2], 5, 7).unwrap();
        assert_eq!(a, sample_candidates(&ds, &seq, &[0, 1, 2], 5, 7).unwrap());
        let b = sample_candidates(&ds, &seq, &[2, 0], 5, 7).unwrap();
        assert_eq!(b.lists[0], a.lists[2]);
        assert_eq!(b.lists[1], a.lists[0]);
        let other = sample_candidates(&ds, &seq, &[0, 1, 2], 5, 8).unwrap();
        assert_ne!(other.lists, a.lists);
    }

    #[test]
    fn too_few_never_interacted_items_is_an_error_stating_both_numbers() {
        let (ds, seq) = fixture();
        // 30 items, 8 interacted: 22 are left.
        assert!(sample_candidates(&ds, &seq, &[0], 22, 0).is_ok());
        let e = sample_candidates(&ds, &seq, &[0], 23, 0).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("negatives") && msg.contains("23") && msg.contains("22"),
            "{msg}"
        );
    }

    #[test]
    fn nth_allowed_skips_the_excluded_items() {
        assert_eq!(nth_allowed(0, &[0, 1, 3]), 2);
        assert_eq!(nth_allowed(1, &[0, 1, 3]), 4);
        assert_eq!(nth_allowed(0, &[]), 0);
        assert_eq!(nth_allowed(5, &[10]), 5);
    }
}

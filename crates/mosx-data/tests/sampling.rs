//! Window sampling, labels and stats on hand-computed cases.

mod common;

use std::collections::BTreeMap;

use common::dataset;
use mosx_data::{sample, DataError, DataPoint, DatasetKind, GroupRatio, SampleOptions};

/// User 0 (male): items 0..5 with timestamps out of file order and a tie; user 1 (female):
/// three items; user 2 (female): one item.
fn ml() -> mosx_data::Dataset {
    dataset(
        DatasetKind::MovieLens,
        &["male", "female"],
        &[0, 1, 1],
        8,
        &[
            (0, 3, 4.0, Some(40)),
            (0, 0, 1.0, Some(10)),
            (1, 5, 5.0, Some(1)),
            (0, 2, 3.0, Some(30)),
            (0, 1, 2.0, Some(20)),
            (0, 4, 5.0, Some(40)), // tie with item 3: file order keeps 3 first
            (1, 6, 2.0, Some(2)),
            (1, 7, 3.5, Some(3)),
            (2, 0, 1.0, Some(5)),
        ],
    )
}

fn opts(window: usize, n: usize, seed: u64) -> SampleOptions {
    SampleOptions {
        window,
        n,
        seed,
        group_ratio: GroupRatio::Natural,
        threshold: None,
    }
}

fn point(user: u32, history: &[u32], hr: &[f32], target: u32, tr: f32, label: bool) -> DataPoint {
    DataPoint {
        user,
        history: history.to_vec(),
        history_ratings: hr.to_vec(),
        target,
        target_rating: tr,
        label,
    }
}

#[test]
fn all_windows_by_timestamp_with_stable_ties() {
    let seq = sample(&ml(), &opts(3, 4, 0)).unwrap();
    // user 0 order: 0(1) 1(2) 2(3) 3(4) 4(5) -> 3 windows; user 1: 5 6 7 -> 1 window; user 2: none
    assert_eq!(seq.windows_available, vec![3, 1]);
    assert_eq!(
        seq.points,
        vec![
            point(0, &[0, 1], &[1.0, 2.0], 2, 3.0, false), // 3 is not > 3
            point(0, &[1, 2], &[2.0, 3.0], 3, 4.0, true),
            point(0, &[2, 3], &[3.0, 4.0], 4, 5.0, true),
            point(1, &[5, 6], &[5.0, 2.0], 7, 3.5, true),
        ]
    );
    assert_eq!(seq.groups, vec!["male", "female"]);
}

#[test]
fn threshold_option_overrides_dataset_default() {
    let seq = sample(
        &ml(),
        &SampleOptions {
            threshold: Some(4.0),
            ..opts(3, 4, 0)
        },
    )
    .unwrap();
    let labels: Vec<bool> = seq.points.iter().map(|p| p.label).collect();
    assert_eq!(labels, vec![false, false, true, false]);
}

#[test]
fn sampling_picks_n_distinct_windows_deterministically() {
    // one user with 40 interactions -> 30 windows of 11
    let rows: Vec<_> = (0..40)
        .map(|k| (0u32, k as u32, (k % 5 + 1) as f32, Some(k as i64)))
        .collect();
    let ds = dataset(DatasetKind::MovieLens, &["male", "female"], &[0], 40, &rows);
    let a = sample(&ds, &opts(11, 7, 3)).unwrap();
    let b = sample(&ds, &opts(11, 7, 3)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.points.len(), 7);
    let starts: Vec<u32> = a.points.iter().map(|p| p.history[0]).collect();
    assert!(
        starts.windows(2).all(|w| w[0] < w[1]),
        "sorted, distinct: {starts:?}"
    );
    for p in &a.points {
        let s = p.history[0];
        assert_eq!(p.history, (s..s + 10).collect::<Vec<_>>());
        assert_eq!(p.target, s + 10);
    }
    let others: Vec<Vec<u32>> = (4..10)
        .map(|seed| {
            sample(&ds, &opts(11, 7, seed))
                .unwrap()
                .points
                .iter()
                .map(|p| p.history[0])
                .collect()
        })
        .collect();
    assert!(
        others.iter().any(|o| *o != starts),
        "the seed changes the draw"
    );
    // all of them
    assert_eq!(sample(&ds, &opts(11, 30, 0)).unwrap().points.len(), 30);
    // more windows than exist: an error with both numbers, never a silent cap
    let err = sample(&ds, &opts(11, 1000, 0)).unwrap_err();
    assert!(matches!(
        err,
        DataError::TooFewWindows {
            requested: 1000,
            available: 30,
            window: 11
        }
    ));
    let msg = err.to_string();
    assert!(msg.contains("1000") && msg.contains("30"), "{msg}");
    // 0 windows: an empty sample is an error
    let err = sample(&ds, &opts(11, 0, 0)).unwrap_err();
    assert!(err.to_string().contains("windows"), "{err}");
}

#[test]
fn no_timestamps_means_seeded_shuffle() {
    let rows: Vec<_> = (0..12).map(|k| (0u32, k as u32, 1.0, None)).collect();
    let ds = dataset(
        DatasetKind::BookCrossing,
        &["adult", "teen"],
        &[0],
        12,
        &rows,
    );
    let a = sample(&ds, &opts(12, 1, 1)).unwrap();
    assert_eq!(a.points.len(), 1);
    let mut seen: Vec<u32> = a.points[0].history.clone();
    seen.push(a.points[0].target);
    let order = seen.clone();
    seen.sort();
    assert_eq!(
        seen,
        (0..12).collect::<Vec<_>>(),
        "a permutation of the user's items"
    );
    assert_ne!(order, (0..12).collect::<Vec<_>>(), "shuffled");
    assert_eq!(sample(&ds, &opts(12, 1, 1)).unwrap(), a);
    let orders: Vec<Vec<u32>> = (2..6)
        .map(|s| {
            sample(&ds, &opts(12, 1, s)).unwrap().points[0]
                .history
                .clone()
        })
        .collect();
    assert!(orders.iter().any(|o| *o != a.points[0].history));
}

fn two_groups() -> mosx_data::Dataset {
    // users 0,1 group 0 with 6 interactions (4 windows of 3 each); user 2 group 1 with 4 (2 windows)
    let mut rows = Vec::new();
    for (u, n) in [(0u32, 6), (1, 6), (2, 4)] {
        for k in 0..n {
            rows.push((u, k as u32, 4.0, Some(k as i64)));
        }
    }
    dataset(
        DatasetKind::BookCrossing,
        &["adult", "teen"],
        &[0, 0, 1],
        6,
        &rows,
    )
}

#[test]
fn group_ratio_stratifies_and_reports_shortfall() {
    let ds = two_groups();
    let ratio = |a: f64, t: f64| {
        GroupRatio::Ratio(BTreeMap::from([
            ("adult".to_string(), a),
            ("teen".to_string(), t),
        ]))
    };
    let seq = sample(
        &ds,
        &SampleOptions {
            group_ratio: ratio(0.6, 0.4),
            ..opts(3, 5, 0)
        },
    )
    .unwrap();
    assert_eq!(seq.windows_available, vec![8, 2]);
    let stats = seq.stats(&ds);
    assert_eq!(stats.group_points, vec![3, 2]); // round(5*0.6), round(5*0.4)
    let err = sample(
        &ds,
        &SampleOptions {
            group_ratio: ratio(0.5, 0.5),
            ..opts(3, 10, 0)
        },
    )
    .unwrap_err();
    assert!(matches!(
        err,
        DataError::NotEnoughWindows {
            requested: 5,
            available: 2,
            ..
        }
    ));
    let msg = err.to_string();
    assert!(
        msg.contains("teen") && msg.contains('5') && msg.contains('2'),
        "{msg}"
    );
    // shares that do not sum to 1 (0.9 + 0.9 would draw 18 of 10)
    let err = sample(
        &ds,
        &SampleOptions {
            group_ratio: ratio(0.9, 0.9),
            ..opts(3, 2, 0)
        },
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("sum to 1") && msg.contains("1.8"), "{msg}");
    let bad = GroupRatio::Ratio(BTreeMap::from([("kids".to_string(), 1.0)]));
    let err = sample(
        &ds,
        &SampleOptions {
            group_ratio: bad,
            ..opts(3, 2, 0)
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("kids"));
}

#[test]
fn group_ratio_serde() {
    let r: GroupRatio = serde_json::from_str("\"natural\"").unwrap();
    assert_eq!(r, GroupRatio::Natural);
    let r: GroupRatio = serde_json::from_str(r#"{"adult": 0.6, "teen": 0.4}"#).unwrap();
    assert_eq!(r, GroupRatio::default_for(DatasetKind::BookCrossing));
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"adult":0.6,"teen":0.4}"#
    );
    assert!(serde_json::from_str::<GroupRatio>("\"stratified\"").is_err());
    let o: SampleOptions = serde_json::from_str(r#"{"n": 5}"#).unwrap();
    assert_eq!(
        o,
        SampleOptions {
            n: 5,
            ..Default::default()
        }
    );
}

#[test]
fn stats_count_distinct_users_items_pairs() {
    let ds = ml();
    let seq = sample(&ds, &opts(3, 4, 0)).unwrap();
    let s = seq.stats(&ds);
    assert_eq!(s.points, 4);
    assert_eq!(s.users, 2);
    assert_eq!(s.items, 8); // items 0..4 from user 0, 5..7 from user 1
    assert_eq!(s.interactions, 5 + 3);
    assert_eq!(s.group_points, vec![3, 1]);
    assert_eq!(s.group_users, vec![1, 1]);
}

#[test]
fn same_output_whatever_the_thread_count() {
    let mut rows = Vec::new();
    for u in 0..200u32 {
        for k in 0..(15 + u % 7) {
            rows.push((
                u,
                (u * 3 + k) % 50,
                (k % 5) as f32,
                if u % 2 == 0 {
                    Some((k * 7 % 5) as i64)
                } else {
                    Some(k as i64)
                },
            ));
        }
    }
    let groups: Vec<u8> = (0..200).map(|u| (u % 3 == 0) as u8).collect();
    let ds = dataset(
        DatasetKind::MovieLens,
        &["male", "female"],
        &groups,
        50,
        &rows,
    );
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| sample(&ds, &opts(11, 300, 9)).unwrap())
    };
    assert_eq!(run(1), run(4));
}

#[test]
fn bad_options() {
    assert!(matches!(
        sample(&ml(), &opts(1, 10, 0)),
        Err(DataError::InvalidOption { .. })
    ));
}

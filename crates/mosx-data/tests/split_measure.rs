//! Splits and stereotype measurement on hand-computed cases.

mod common;

use std::collections::BTreeSet;

use common::dataset;
use mosx_data::{
    degree, item_table, measure, split, DataPoint, DatasetKind, Degree, MeasureOptions, Sequences,
    Split, SplitBy, SplitOptions, Stereotypes, Tabular,
};

fn pt(user: u32, history: &[u32]) -> DataPoint {
    DataPoint {
        user,
        history: history.to_vec(),
        history_ratings: vec![1.0; history.len()],
        target: 0,
        target_rating: 1.0,
        label: false,
    }
}

fn seqs(groups: &[&str], points: Vec<DataPoint>) -> Sequences {
    Sequences {
        dataset: "toy".into(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        points,
        windows_available: vec![0; groups.len()],
    }
}

fn many_users() -> Sequences {
    let points = (0..300u32)
        .flat_map(|u| (0..(1 + u % 5)).map(move |_| pt(u, &[1])))
        .collect();
    seqs(&["male", "female"], points)
}

#[test]
fn split_by_user_is_disjoint_and_near_ratios() {
    let seq = many_users();
    let n = seq.points.len(); // 900
    let s = split(&seq, &SplitOptions::default()).unwrap();
    let mut all: Vec<u32> = s
        .train
        .iter()
        .chain(&s.valid)
        .chain(&s.test)
        .copied()
        .collect();
    all.sort();
    assert_eq!(
        all,
        (0..n as u32).collect::<Vec<_>>(),
        "disjoint and covering"
    );
    for (_, part) in s.parts() {
        assert!(part.windows(2).all(|w| w[0] < w[1]), "sorted ascending");
    }
    let users = |idx: &[u32]| {
        idx.iter()
            .map(|&k| seq.points[k as usize].user)
            .collect::<BTreeSet<_>>()
    };
    let (tr, va, te) = (users(&s.train), users(&s.valid), users(&s.test));
    assert!(
        tr.is_disjoint(&va) && tr.is_disjoint(&te) && va.is_disjoint(&te),
        "no user in two parts"
    );
    // each user holds at most 5 points: the cuts are within 5 of 720 / 810
    assert!((s.train.len() as i64 - 720).abs() <= 5, "{}", s.train.len());
    assert!(
        ((s.train.len() + s.valid.len()) as i64 - 810).abs() <= 5,
        "{}",
        s.valid.len()
    );
    assert_eq!(split(&seq, &SplitOptions::default()).unwrap(), s, "seeded");
    assert_ne!(
        split(
            &seq,
            &SplitOptions {
                seed: 1,
                ..Default::default()
            }
        )
        .unwrap(),
        s
    );
}

#[test]
fn random_split_cuts_points_exactly() {
    let seq = seqs(
        &["male", "female"],
        (0..100).map(|k| pt(k % 7, &[1])).collect(),
    );
    let s = split(
        &seq,
        &SplitOptions {
            by: SplitBy::Random,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (80, 10, 10));
    let mut all: Vec<u32> = s
        .train
        .iter()
        .chain(&s.valid)
        .chain(&s.test)
        .copied()
        .collect();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    // ratios that do not sum to 1 are an error, not silently rescaled
    let e = split(
        &seq,
        &SplitOptions {
            ratios: [8.0, 1.0, 1.0],
            by: SplitBy::Random,
            seed: 0,
        },
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("sum to 1") && e.to_string().contains("= 10"),
        "{e}"
    );
    // a part with a positive share that gets no point
    let few = seqs(&["male"], vec![pt(0, &[1]), pt(0, &[2])]);
    let e = split(
        &few,
        &SplitOptions {
            by: SplitBy::User,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("got 0 of 2 points"), "{e}");
    assert!(split(
        &seq,
        &SplitOptions {
            ratios: [0.0, 0.0, 0.0],
            ..Default::default()
        }
    )
    .is_err());
    assert!(split(
        &seq,
        &SplitOptions {
            ratios: [1.0, -0.1, 0.1],
            ..Default::default()
        }
    )
    .is_err());
    let t: Vec<Vec<serde_json::Value>> = s.rows().collect();
    assert_eq!(t.len(), 100);
    assert_eq!(
        t[s.valid[0] as usize],
        vec![serde_json::json!(s.valid[0]), serde_json::json!("valid")]
    );
}

/// Users 0, 1 male, 2 female; items 0..4. Train histories: u0 [0,1], u0 [0,2] (item 0
/// again), u1 [0,3], u2 [1,3]; the valid point holds item 4 (not counted).
/// Counts (male, female): i0 (2,0), i1 (1,1), i2 (1,0), i3 (1,1), i4 (0,0).
fn two_group_case() -> (mosx_data::Dataset, Sequences, Split) {
    let ds = dataset(
        DatasetKind::MovieLens,
        &["male", "female"],
        &[0, 0, 1],
        5,
        &[],
    );
    let seq = seqs(
        &["male", "female"],
        vec![
            pt(0, &[0, 1]),
            pt(0, &[0, 2]),
            pt(1, &[0, 3]),
            pt(2, &[1, 3]),
            pt(0, &[4, 4]),
        ],
    );
    let sp = Split {
        train: vec![0, 1, 2, 3],
        valid: vec![4],
        test: vec![],
    };
    (ds, seq, sp)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn two_groups_share_degree_z_and_membership() {
    let (ds, seq, sp) = two_group_case();
    let st = measure(
        &ds,
        &seq,
        &sp,
        &MeasureOptions {
            degree: Degree::Share,
            min_count: 1,
            z_star: 0.5,
        },
    )
    .unwrap();
    let counts: Vec<Vec<u32>> = st.items.iter().map(|s| s.counts.clone()).collect();
    assert_eq!(
        counts,
        vec![vec![2, 0], vec![1, 1], vec![1, 0], vec![1, 1], vec![0, 0]]
    );
    let d_male: Vec<f64> = st.items.iter().map(|s| s.degree[0]).collect();
    assert_eq!(d_male, vec![1.0, 0.0, 1.0, 0.0, 0.0]);
    assert_eq!(st.items[0].degree[1], -1.0);
    // male degrees over eligible items [1,0,1,0]: mean 0.5, population std 0.5
    assert!(close(st.z_mean[0], 0.5) && close(st.z_std[0], 0.5) && close(st.z_mean[1], -0.5));
    let z_male: Vec<f64> = st.items[..4].iter().map(|s| s.z[0]).collect();
    assert_eq!(z_male, vec![1.0, -1.0, 1.0, -1.0]);
    assert!(
        st.items[4].z.iter().all(|z| z.is_nan()),
        "item 4 is below min_count"
    );
    let member: Vec<Vec<bool>> = st.items.iter().map(|s| s.member.clone()).collect();
    assert_eq!(
        member,
        vec![
            vec![true, false],
            vec![false, true],
            vec![true, false],
            vec![false, true],
            vec![false, false]
        ]
    );
    assert_eq!(st.neutral_count(), 1);
    assert_eq!(st.item_groups(2), vec![true, false]);
    assert_eq!(st.item_groups(99), vec![false, false]);
    assert_eq!(st.history_share(&[0, 1, 2, 4]), vec![0.5, 0.25]);
    assert_eq!(st.history_share(&[]), vec![0.0, 0.0]);
    // z* = 1: membership is strict (z > z*), so no item qualifies
    let st1 = measure(&ds, &seq, &sp, &MeasureOptions::default()).unwrap();
    assert_eq!(st1.neutral_count(), 5);
}

#[test]
fn count_degree_and_min_count() {
    let (ds, seq, sp) = two_group_case();
    let st = measure(
        &ds,
        &seq,
        &sp,
        &MeasureOptions {
            degree: Degree::Count,
            z_star: 1.0,
            min_count: 1,
        },
    )
    .unwrap();
    let d: Vec<f64> = st.items.iter().map(|s| s.degree[0]).collect();
    assert_eq!(d, vec![2.0, 0.0, 1.0, 0.0, 0.0]);
    // mean 0.75, population variance 0.6875
    assert!(close(st.items[0].z[0], 1.25 / 0.6875f64.sqrt()));
    assert!(st.items[0].member[0] && !st.items[2].member[0]);
    // min_count 2 leaves item 2 out: male share degrees [1, 0, 0] over items 0, 1, 3
    let st = measure(
        &ds,
        &seq,
        &sp,
        &MeasureOptions {
            degree: Degree::Share,
            z_star: 1.0,
            min_count: 2,
        },
    )
    .unwrap();
    assert!(st.items[2].z[0].is_nan() && !st.items[2].member[0]);
    assert!(close(
        st.items[0].z[0],
        (2.0 / 3.0) / (6.0f64 / 27.0).sqrt()
    ));
    assert!(st.items[0].member[0]);
}

#[test]
fn three_groups() {
    assert_eq!(degree(&[3, 1, 0], Degree::Share), vec![0.625, -0.125, -0.5]);
    assert_eq!(degree(&[3, 1, 0], Degree::Count), vec![2.5, -0.5, -2.0]);
    assert_eq!(degree(&[0, 0, 0], Degree::Share), vec![0.0, 0.0, 0.0]);
    let ds = dataset(DatasetKind::MovieLens, &["a", "b", "c"], &[0, 1, 2], 3, &[]);
    let seq = seqs(
        &["a", "b", "c"],
        vec![pt(0, &[0, 1]), pt(1, &[1, 2]), pt(2, &[2, 0])],
    );
    let sp = Split {
        train: vec![0, 1, 2],
        valid: vec![],
        test: vec![],
    };
    let st = measure(
        &ds,
        &seq,
        &sp,
        &MeasureOptions {
            degree: Degree::Share,
            min_count: 1,
            z_star: 0.5,
        },
    )
    .unwrap();
    // group a: degrees [0.25, 0.25, -0.5], mean 0, std sqrt(0.125)
    let za: Vec<f64> = st.items.iter().map(|s| s.z[0]).collect();
    let s = 0.125f64.sqrt();
    assert!(
        close(za[0], 0.25 / s) && close(za[1], 0.25 / s) && close(za[2], -0.5 / s),
        "{za:?}"
    );
    let member: Vec<Vec<bool>> = st.items.iter().map(|s| s.member.clone()).collect();
    assert_eq!(
        member,
        vec![
            vec![true, false, true],
            vec![true, true, false],
            vec![false, true, true]
        ]
    );
    let share = st.history_share(&[0, 1, 2]);
    assert!(share.iter().all(|&x| close(x, 2.0 / 3.0)), "{share:?}");
    assert_eq!(st.neutral_count(), 0);
}

#[test]
fn split_outside_the_sequences_is_an_error() {
    let (ds, seq, _) = two_group_case();
    let sp = Split {
        train: vec![99],
        valid: vec![],
        test: vec![],
    };
    assert!(measure(&ds, &seq, &sp, &MeasureOptions::default()).is_err());
}

#[test]
fn rate_degree_divides_by_each_groups_total_first() {
    // Counts per item (male, female): [2,0], [1,1], [1,0], [1,1], [0,0]; totals 5 and 2.
    // Rates: (0.4, 0), (0.2, 0.5), (0.2, 0), (0.2, 0.5), (0, 0); the male degree is
    // (r_m - r_f) / (r_m + r_f): 1, -3/7, 1, -3/7, 0 (nobody reads item 4).
    let (ds, seq, sp) = two_group_case();
    let st = measure(
        &ds,
        &seq,
        &sp,
        &MeasureOptions {
            degree: Degree::Rate,
            min_count: 1,
            z_star: 1.0,
        },
    )
    .unwrap();
    let d_male: Vec<f64> = st.items.iter().map(|s| s.degree[0]).collect();
    let want = [1.0, -3.0 / 7.0, 1.0, -3.0 / 7.0, 0.0];
    assert!(
        d_male.iter().zip(want).all(|(a, b)| close(*a, b)),
        "{d_male:?}"
    );
    // With share, item 1 would be neutral (1 vs 1); with rate the smaller group's read counts more.
    assert!(st.items.iter().all(|s| close(s.degree[1], -s.degree[0])));
    // The defaults are METHOD.md §2's: rate, min_count 3.
    assert_eq!(MeasureOptions::default().degree, Degree::Rate);
    assert_eq!(MeasureOptions::default().min_count, 3);
}

#[test]
fn stereotypes_survive_json_with_nan_and_tables() {
    let (ds, seq, sp) = two_group_case();
    let st = measure(
        &ds,
        &seq,
        &sp,
        &MeasureOptions {
            degree: Degree::Share,
            min_count: 1,
            z_star: 0.5,
        },
    )
    .unwrap();
    let json = serde_json::to_string(&st).unwrap();
    let back: Stereotypes = serde_json::from_str(&json).unwrap();
    assert!(back.items[4].z[0].is_nan());
    assert_eq!(back.items[..4], st.items[..4]);
    let cols = st.columns();
    assert_eq!(
        cols,
        vec![
            "item",
            "count_male",
            "count_female",
            "degree_male",
            "degree_female",
            "z_male",
            "z_female",
            "group"
        ]
    );
    let rows: Vec<_> = st.rows().collect();
    assert!(rows.iter().all(|r| r.len() == cols.len()));
    assert_eq!(rows[4][5], serde_json::Value::Null);
    assert_eq!(rows[1][7], serde_json::json!("female"));
    let t = item_table(&ds, &st);
    assert_eq!(&t.columns[..3], &["item", "item_id", "title"]);
    assert_eq!(t.rows[0][1], serde_json::json!("i0"));
    assert_eq!(t.rows[0][2], serde_json::json!("Title 0"));
    assert_eq!(t.rows[0].last(), Some(&serde_json::json!("male")));
    assert_eq!(t.rows[4].last(), Some(&serde_json::json!("")));
    assert!(t.rows.iter().all(|r| r.len() == t.columns.len()));
}

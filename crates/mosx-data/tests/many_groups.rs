//! More than two user groups, from generated files in the ML-1M `.dat` and RecBole atomic
//! formats through sampling, measurement (METHOD.md §2) and fairness (§3), against
//! numbers computed by hand (written out below, not by calling the code under test).
//!
//! Every user has two kept ratings and windows have length 2, so each user is one point:
//! history = the first rating, target = the second; all points are train points.

use std::fs;
use std::path::Path;

use mosx_data::{
    load, load_with_counts, measure, sample, Bins, Degree, GroupBy, GroupRatio, LoadOptions,
    MeasureOptions, SampleOptions, Split,
};
use mosx_fairness::{evaluate, EvalPoint, FairnessKind};

/// (id, gender, age code, occupation) per user; (id, title) per item; (user, item, ts).
struct Scenario {
    users: Vec<(&'static str, &'static str, u32, &'static str)>,
    items: Vec<(&'static str, &'static str)>,
    ratings: Vec<(&'static str, &'static str, i64)>,
}

fn write_ml1m(dir: &Path, s: &Scenario) {
    let users: String = s
        .users
        .iter()
        .map(|(id, g, a, o)| format!("{id}::{g}::{a}::{o}::00000\n"))
        .collect();
    let mut movies: Vec<u8> = Vec::new();
    for (id, t) in &s.items {
        // ISO-8859-1 bytes, as the original files
        movies.extend(format!("{id}::").bytes());
        movies.extend(t.chars().map(|c| c as u32 as u8));
        movies.extend(b"::Drama\n");
    }
    let ratings: String = s
        .ratings
        .iter()
        .map(|(u, i, ts)| format!("{u}::{i}::4::{ts}\n"))
        .collect();
    fs::write(dir.join("users.dat"), users).unwrap();
    fs::write(dir.join("movies.dat"), movies).unwrap();
    fs::write(dir.join("ratings.dat"), ratings).unwrap();
}

fn write_recbole(dir: &Path, stem: &str, s: &Scenario) {
    let mut users = String::from("user_id:token\tage:float\tgender:token\toccupation:token\n");
    for (id, g, a, o) in &s.users {
        users += &format!("{id}\t{a}\t{g}\t{o}\n");
    }
    let mut items = String::from("item_id:token\tgenre:token_seq\tmovie_title:token_seq\n");
    for (id, t) in &s.items {
        items += &format!("{id}\tDrama\t{t}\n");
    }
    let mut inter = String::from("user_id:token\titem_id:token\trating:float\ttimestamp:float\n");
    for (u, i, ts) in &s.ratings {
        inter += &format!("{u}\t{i}\t4\t{ts}\n");
    }
    fs::write(dir.join(format!("{stem}.user")), users).unwrap();
    fs::write(dir.join(format!("{stem}.item")), items).unwrap();
    fs::write(dir.join(format!("{stem}.inter")), inter).unwrap();
}

/// Three groups. Histories (first rating) and targets per user, items A=1, B=2, C=3:
/// group 0: u1 A→B, u2 A→C, u3 B→A; group 1: u4 B→A, u5 B→C, u6 C→B; group 2: u7 C→A,
/// u8 A→C. u9 has no group value (dropped); item 4 has no title (dropped with u1's
/// rating of it, which comes last).
fn three() -> Scenario {
    let seq = [
        ("1", "1", "2"),
        ("2", "1", "3"),
        ("3", "2", "1"),
        ("4", "2", "1"),
        ("5", "2", "3"),
        ("6", "3", "2"),
        ("7", "3", "1"),
        ("8", "1", "3"),
        ("9", "1", "2"),
    ];
    let mut ratings: Vec<(&str, &str, i64)> = seq
        .iter()
        .flat_map(|&(u, h, t)| [(u, h, 1), (u, t, 2)])
        .collect();
    ratings.push(("1", "4", 3));
    Scenario {
        // age codes: 1 young, 25/35 middle, 56 senior; occupations sort artist < doctor < writer
        users: vec![
            ("1", "M", 1, "artist"),
            ("2", "F", 1, "artist"),
            ("3", "M", 1, "artist"),
            ("4", "F", 25, "doctor"),
            ("5", "M", 35, "doctor"),
            ("6", "F", 25, "doctor"),
            ("7", "M", 56, "writer"),
            ("8", "F", 56, "writer"),
            ("9", "M", 0, ""),
        ],
        items: vec![
            ("1", "A (1990)"),
            ("2", "Brève: B (1991)"),
            ("3", "C (1992)"),
            ("4", ""),
        ],
        ratings,
    }
}

/// Seven groups, one per ML-1M age code (1, 18, 25, 35, 45, 50, 56), items I_g = 10 + g:
/// user g (age code g) has history I_g and target I_{g+1 mod 7}; user 7 (age 56, group 6)
/// has history I_0 and target I_6.
fn seven() -> Scenario {
    const AGES: [u32; 7] = [1, 18, 25, 35, 45, 50, 56];
    const IDS: [&str; 8] = ["0", "1", "2", "3", "4", "5", "6", "7"];
    const ITEMS: [&str; 7] = ["10", "11", "12", "13", "14", "15", "16"];
    let mut users: Vec<_> = (0..7).map(|g| (IDS[g], "M", AGES[g], "x")).collect();
    users.push((IDS[7], "F", 56, "x"));
    let mut ratings: Vec<(&str, &str, i64)> = (0..7)
        .flat_map(|g| [(IDS[g], ITEMS[g], 1), (IDS[g], ITEMS[(g + 1) % 7], 2)])
        .collect();
    ratings.extend([(IDS[7], ITEMS[0], 1), (IDS[7], ITEMS[6], 2)]);
    Scenario {
        users,
        items: ITEMS.iter().map(|&i| (i, "Film (2000)")).collect(),
        ratings,
    }
}

fn age_bins(edges: &[f64], labels: Option<&[&str]>) -> Option<GroupBy> {
    Some(GroupBy::Bins(Bins {
        field: "age".into(),
        bins: edges.to_vec(),
        labels: labels.map(|l| l.iter().map(|s| s.to_string()).collect()),
    }))
}

/// Loads, samples every window, measures on all points (rate degree, min_count 1, z* 1)
/// and evaluates them with `p_yes` by user id.
fn run(
    dir: &Path,
    opts: &LoadOptions,
    p_yes: &[(&str, f64)],
) -> (mosx_data::Stereotypes, mosx_fairness::Report) {
    let ds = load(dir, opts).unwrap();
    let seq = sample(
        &ds,
        &SampleOptions {
            window: 2,
            n: ds.users.len(),
            seed: 0,
            group_ratio: GroupRatio::Natural,
            threshold: None,
        },
    )
    .unwrap();
    let split = Split {
        train: (0..seq.points.len() as u32).collect(),
        ..Default::default()
    };
    let mopts = MeasureOptions {
        degree: Degree::Rate,
        z_star: 1.0,
        min_count: 1,
    };
    let st = measure(&ds, &seq, &split, &mopts).unwrap();
    let points: Vec<EvalPoint> = seq
        .points
        .iter()
        .map(|d| {
            let u = &ds.users[d.user as usize];
            EvalPoint {
                user_group: u.group as usize,
                target_groups: st.item_groups(d.target),
                history_share: st.history_share(&d.history),
                p_yes: p_yes.iter().find(|(id, _)| *id == u.id).unwrap().1,
                label: d.label,
            }
        })
        .collect();
    let report = evaluate(&points, ds.groups.len(), FairnessKind::Relative);
    (st, report)
}

fn close(got: f64, want: f64, what: &str) {
    if want.is_nan() {
        assert!(got.is_nan(), "{what}: {got}, expected NaN");
    } else {
        assert!((got - want).abs() < 1e-9, "{what}: {got}, expected {want}");
    }
}

fn check_matrix(got: &[Vec<f64>], want: &[Vec<f64>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (a, (g, w)) in got.iter().zip(want).enumerate() {
        for (b, (&g, &w)) in g.iter().zip(w).enumerate() {
            close(g, w, &format!("{what}[{a}][{b}]"));
        }
    }
}

/// The hand computation of the three-group scenario.
///
/// Counts c_i^g (users whose history holds i): A (2, 0, 1), B (1, 2, 0), C (0, 1, 1); group
/// totals C^g = (3, 3, 2); rates r = c / C: A (2/3, 0, 1/2), B (1/3, 2/3, 0), C (0, 1/3, 1/2).
/// d_i^g = (r^g - mean of the other two) / sum r:
///   A (sum 7/6): (2/3 - 1/4)·6/7 = 5/14, (0 - 7/12)·6/7 = -1/2, (1/2 - 1/3)·6/7 = 1/7
///   B (sum 1):   1/3 - 1/3 = 0, 2/3 - 1/6 = 1/2, 0 - 1/2 = -1/2
///   C (sum 5/6): (0 - 5/12)·6/5 = -1/2, (1/3 - 1/4)·6/5 = 1/10, (1/2 - 1/6)·6/5 = 2/5
/// z over A, B, C per group (population std): group 0 mean -1/21, std 0.35154, z_A = 1.151;
/// group 1 mean 1/30, std 0.41096, z_B = 1.136; group 2 mean 1/70, std 0.37850, z_C = 1.019.
/// Members at z* = 1: A in 0, B in 1, C in 2 (every other z is below 0.35).
///
/// P_H(b|a) (history one item): group 0 (A, A, B) = (2/3, 1/3, 0); group 1 (B, B, C) =
/// (0, 2/3, 1/3); group 2 (C, A) = (1/2, 0, 1/2). Recommended (p > 0.5): all of group 0
/// (targets B, C, A) → (1/3, 1/3, 1/3); u4, u6 of group 1 (A, B) → (1/2, 1/2, 0); all of
/// group 2 (A, C) → (1/2, 0, 1/2). F = 100 (P_R - P_H) / P_H, NaN where P_H = 0:
///   [-50, 0, NaN], [NaN, -25, -100], [0, NaN, 0]; headline (50 + 25 + 0) / 3 = 25.
fn check_three(st: &mosx_data::Stereotypes, r: &mosx_fairness::Report) {
    let want_degree = [
        [5.0 / 14.0, -0.5, 1.0 / 7.0],
        [0.0, 0.5, -0.5],
        [-0.5, 0.1, 0.4],
    ];
    for (i, want) in want_degree.iter().enumerate() {
        for (g, &w) in want.iter().enumerate() {
            close(
                st.items[i].degree[g],
                w,
                &format!("degree item {i} group {g}"),
            );
        }
        let member: Vec<bool> = (0..3).map(|g| g == i).collect();
        assert_eq!(st.items[i].member, member, "members of item {i}");
    }
    assert!(
        (st.items[0].z[0] - 1.1514).abs() < 1e-3,
        "{:?}",
        st.items[0].z
    );
    assert!(
        (st.items[1].z[1] - 1.1355).abs() < 1e-3,
        "{:?}",
        st.items[1].z
    );
    assert!(
        (st.items[2].z[2] - 1.0190).abs() < 1e-3,
        "{:?}",
        st.items[2].z
    );
    let nan = f64::NAN;
    check_matrix(
        &r.fairness,
        &[
            vec![-50.0, 0.0, nan],
            vec![nan, -25.0, -100.0],
            vec![0.0, nan, 0.0],
        ],
        "F",
    );
    close(r.headline, 25.0, "headline F");
    close(r.consistent, -25.0, "consistent F");
    assert!(r.inconsistent.is_nan());
}

const THREE_P: [(&str, f64); 8] = [
    ("1", 0.9),
    ("2", 0.8),
    ("3", 0.7),
    ("4", 0.6),
    ("5", 0.4),
    ("6", 0.9),
    ("7", 0.9),
    ("8", 0.7),
];

#[test]
fn ml1m_dat_files_with_three_age_groups_give_the_hand_computed_degrees_and_f() {
    let tmp = tempfile::tempdir().unwrap();
    write_ml1m(tmp.path(), &three());
    let opts = LoadOptions {
        group_by: age_bins(&[18.0, 50.0], Some(&["young", "middle", "senior"])),
        ..Default::default()
    };
    let (ds, raw) = load_with_counts(tmp.path(), &opts).unwrap();
    assert_eq!(ds.name, "ml-1m");
    assert_eq!(ds.groups, ["young", "middle", "senior"]);
    // item 4 has no title: dropped with u1's rating of it
    assert_eq!((raw.untitled_items, raw.ungrouped_users), (1, 0));
    assert_eq!(ds.items[1].title, "Brève: B (1991)", "Latin-1, `:` inside");
    // u9's age code 0 is young here (not ungrouped as on the RecBole files, whose u9 has
    // no occupation): the hand computation leaves u9 out, so the files are written without it
    let mut s = three();
    s.users.pop();
    s.ratings.retain(|r| r.0 != "9");
    write_ml1m(tmp.path(), &s);
    let (st, r) = run(tmp.path(), &opts, &THREE_P);
    check_three(&st, &r);
}

#[test]
fn recbole_files_with_three_occupation_groups_give_the_hand_computed_degrees_and_f() {
    let tmp = tempfile::tempdir().unwrap();
    write_recbole(tmp.path(), "toy", &three());
    let opts = LoadOptions {
        group_by: Some(GroupBy::Field("occupation".into())),
        ..Default::default()
    };
    let (ds, raw) = load_with_counts(tmp.path(), &opts).unwrap();
    assert_eq!(ds.name, "toy");
    assert_eq!(ds.groups, ["artist", "doctor", "writer"], "sorted values");
    assert_eq!((raw.untitled_items, raw.ungrouped_users), (1, 1));
    assert_eq!((ds.users.len(), ds.items.len()), (8, 3));
    let (st, r) = run(tmp.path(), &opts, &THREE_P);
    check_three(&st, &r);
}

/// The hand computation of the seven-group scenario (rate degree, G - 1 = 6 other groups).
///
/// Counts: I_g has c^g = 1 for g = 0..5, I_6 has c^6 = 1, and I_0 also c^6 = 1 (user 7);
/// totals C^g = 1 except C^6 = 2. Rates: I_0 (1, 0, 0, 0, 0, 0, 1/2), I_6 (0, .., 0, 1/2),
/// I_g (g in 1..5): 1 at g.
///   I_0 (sum 3/2): d^0 = (1 - (1/2)/6)·2/3 = 11/18; d^6 = (1/2 - 1/6)·2/3 = 2/9;
///                  d^1..5 = (0 - (3/2)/6)·2/3 = -1/6
///   I_6 (sum 1/2): d^6 = 1, the others (0 - (1/2)/6)·2 = -1/6
///   I_g:           d^g = 1, the others -1/6
/// z: group 0 over (11/18, six times -1/6): mean -1/18, std sqrt(2/27), z(I_0) = 2.449;
/// group 6 over (2/9 at I_0, 1 at I_6, five -1/6): mean 1/18, std sqrt(1/6), z(I_6) = 2.313,
/// z(I_0) = 0.408; groups 1..5: mean 0, std sqrt(1/6), z(I_g) = 2.449, others -0.408.
/// Members at z* = 1: I_g in g alone.
///
/// Groups 0..5: P_H(g|g) = 1, every target I_{g+1} is recommended and not in g, so
/// F(g, g) = -100 and F(g, g+1) is NaN (P_H = 0). Group 6 (histories I_6, I_0; targets
/// I_0, I_6, both recommended): P_H = P_R = 1/2 for groups 0 and 6, F(6,6) = F(6,0) = 0.
/// Headline (6·100 + 0) / 7 = 600/7.
fn check_seven(st: &mosx_data::Stereotypes, r: &mosx_fairness::Report) {
    let o = -1.0 / 6.0;
    let mut want = vec![vec![o; 7]; 7];
    for (g, row) in want.iter_mut().enumerate() {
        row[g] = 1.0;
    }
    want[0][0] = 11.0 / 18.0;
    want[0][6] = 2.0 / 9.0;
    for (i, w) in want.iter().enumerate() {
        for (g, &wg) in w.iter().enumerate() {
            close(
                st.items[i].degree[g],
                wg,
                &format!("degree I_{i} group {g}"),
            );
        }
        let member: Vec<bool> = (0..7).map(|g| g == i).collect();
        assert_eq!(st.items[i].member, member, "members of I_{i}");
    }
    assert!(
        (st.items[6].z[6] - 2.3134).abs() < 1e-3,
        "{:?}",
        st.items[6].z
    );
    assert!(
        (st.items[0].z[0] - 2.4495).abs() < 1e-3,
        "{:?}",
        st.items[0].z
    );
    for a in 0..7 {
        for b in 0..7 {
            let want = match (a, b) {
                (6, 6) | (6, 0) => 0.0,
                (a, b) if a == b => -100.0,
                _ => f64::NAN,
            };
            close(r.fairness[a][b], want, &format!("F[{a}][{b}]"));
        }
    }
    close(r.headline, 600.0 / 7.0, "headline F");
}

const SEVEN_EDGES: [f64; 6] = [18.0, 25.0, 35.0, 45.0, 50.0, 56.0];
const SEVEN_P: [(&str, f64); 8] = [
    ("0", 0.9),
    ("1", 0.9),
    ("2", 0.9),
    ("3", 0.9),
    ("4", 0.9),
    ("5", 0.9),
    ("6", 0.9),
    ("7", 0.9),
];

#[test]
fn ml1m_dat_files_with_seven_age_groups_give_the_hand_computed_degrees_and_f() {
    let tmp = tempfile::tempdir().unwrap();
    write_ml1m(tmp.path(), &seven());
    let opts = LoadOptions {
        group_by: age_bins(&SEVEN_EDGES, None),
        ..Default::default()
    };
    let ds = load(tmp.path(), &opts).unwrap();
    assert_eq!(
        ds.groups,
        ["<18", "18-25", "25-35", "35-45", "45-50", "50-56", ">=56"]
    );
    let groups: Vec<u8> = ds.users.iter().map(|u| u.group).collect();
    assert_eq!(groups, [0, 1, 2, 3, 4, 5, 6, 6], "left-closed bins");
    let (st, r) = run(tmp.path(), &opts, &SEVEN_P);
    check_seven(&st, &r);
}

#[test]
fn recbole_files_with_seven_age_groups_give_the_hand_computed_degrees_and_f() {
    let tmp = tempfile::tempdir().unwrap();
    write_recbole(tmp.path(), "ml-1m", &seven());
    let opts = LoadOptions {
        group_by: age_bins(&SEVEN_EDGES, None),
        ..Default::default()
    };
    let (st, r) = run(tmp.path(), &opts, &SEVEN_P);
    check_seven(&st, &r);
}

#[test]
fn ml1m_without_group_by_is_male_and_female() {
    let tmp = tempfile::tempdir().unwrap();
    write_ml1m(tmp.path(), &seven());
    let ds = load(tmp.path(), &LoadOptions::default()).unwrap();
    assert_eq!(ds.groups, ["male", "female"]);
    let groups: Vec<u8> = ds.users.iter().map(|u| u.group).collect();
    assert_eq!(groups, [0, 0, 0, 0, 0, 0, 0, 1]);
    let by_gender = LoadOptions {
        group_by: Some(GroupBy::Field("gender".into())),
        ..Default::default()
    };
    assert_eq!(load(tmp.path(), &by_gender).unwrap().groups, ["F", "M"]);
    assert_eq!(
        mosx_data::group_names(tmp.path(), &by_gender).unwrap(),
        ["F", "M"]
    );
}

#[test]
fn recbole_title_option_chooses_the_field_and_untitled_items_are_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("b.user"), "user_id:token\tgender:token\n1\tF\n").unwrap();
    fs::write(
        d.join("b.item"),
        "item_id:token\tsubtitle:token_seq\tbook_title:token_seq\n1\tS1\tFirst\n2\tS2\t\n",
    )
    .unwrap();
    fs::write(
        d.join("b.inter"),
        "user_id:token\titem_id:token\trating:float\n1\t1\t4\n1\t2\t5\n",
    )
    .unwrap();
    // default: the first field whose name contains `title` (subtitle)
    let (ds, raw) = load_with_counts(d, &LoadOptions::default()).unwrap();
    let titles: Vec<&str> = ds.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!((titles, raw.untitled_items), (vec!["S1", "S2"], 0));
    let opts = LoadOptions {
        title: Some("book_title".into()),
        ..Default::default()
    };
    let (ds, raw) = load_with_counts(d, &opts).unwrap();
    let titles: Vec<&str> = ds.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!((titles, raw.untitled_items), (vec!["First"], 1));
    assert_eq!(ds.interactions.len(), 1);
    let bad = LoadOptions {
        title: Some("name".into()),
        ..Default::default()
    };
    let e = load(d, &bad).unwrap_err().to_string();
    assert!(e.contains("header lacks column `name`"), "{e}");
}

#[test]
fn unknown_group_field_and_title_outside_recbole_are_option_errors() {
    let tmp = tempfile::tempdir().unwrap();
    write_ml1m(tmp.path(), &seven());
    let opts = LoadOptions {
        group_by: Some(GroupBy::Field("height".into())),
        ..Default::default()
    };
    let e = load(tmp.path(), &opts).unwrap_err().to_string();
    assert!(e.contains("`height` is not a field of"), "{e}");
    assert!(
        e.contains("user_id, gender, age, occupation, zip_code"),
        "{e}"
    );
    let opts = LoadOptions {
        title: Some("movie_title".into()),
        ..Default::default()
    };
    let e = load(tmp.path(), &opts).unwrap_err().to_string();
    assert!(e.contains("RecBole atomic files only"), "{e}");
}

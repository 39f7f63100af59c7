//! Hand-computed cases for METHOD.md §3 (the arithmetic is written next to each expectation).

use mosx_fairness::*;

fn pt(user_group: usize, target: &[bool], hist: &[f64], p_yes: f64, label: bool) -> EvalPoint {
    EvalPoint {
        user_group,
        target_groups: target.to_vec(),
        history_share: hist.to_vec(),
        p_yes,
        label,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

const T: bool = true;
const F: bool = false;

/// Two groups. Group 0: 3 of 4 recommended; group 1: 2 of 4 (q3 sits exactly at 0.5: not
/// recommended).
fn two_groups() -> Vec<EvalPoint> {
    vec![
        pt(0, &[T, F], &[0.4, 0.1], 0.9, T),  // p1 rec
        pt(0, &[T, F], &[0.2, 0.3], 0.7, F),  // p2 rec
        pt(0, &[F, T], &[0.3, 0.2], 0.6, T),  // p3 rec
        pt(0, &[F, F], &[0.1, 0.0], 0.2, F),  // p4
        pt(1, &[F, F], &[0.1, 0.5], 0.8, T),  // q1 rec
        pt(1, &[T, F], &[0.2, 0.3], 0.55, F), // q2 rec
        pt(1, &[F, F], &[0.0, 0.4], 0.5, T),  // q3 (0.5 is not > 0.5)
        pt(1, &[F, T], &[0.1, 0.4], 0.1, T),  // q4
    ]
}

#[test]
fn auc_with_ties_is_hand_value() {
    // ranks 1, 2.5, 2.5, 4; positives 2.5 + 4 = 6.5; (6.5 - 3) / (2 * 2) = 0.875
    assert!(close(auc(&[0.1, 0.4, 0.4, 0.8], &[F, F, T, T]), 0.875));
}

#[test]
fn auc_edge_cases() {
    assert!(close(auc(&[0.3; 5], &[T, F, T, F, F]), 0.5));
    assert!(auc(&[0.1, 0.9], &[T, T]).is_nan());
    assert!(auc(&[0.1, 0.9], &[F, F]).is_nan());
    assert!(auc(&[], &[]).is_nan());
    assert!(close(auc(&[0.1, 0.2, 0.8, 0.9], &[F, F, T, T]), 1.0));
    assert!(close(auc(&[0.1, 0.2, 0.8, 0.9], &[T, T, F, F]), 0.0));
    assert!(auc(&[f64::NAN, 0.2], &[T, F]).is_nan());
}

#[test]
fn auc_matches_pair_counting() {
    // Deterministic pseudo-random scores with many ties (10 distinct values).
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    let n = 400;
    let scores: Vec<f64> = (0..n).map(|_| (next() % 10) as f64 / 10.0).collect();
    let labels: Vec<bool> = (0..n).map(|_| next() % 3 == 0).collect();
    let (mut wins, mut pairs) = (0.0, 0.0);
    for i in 0..n {
        for j in 0..n {
            if labels[i] && !labels[j] {
                pairs += 1.0;
                if scores[i] > scores[j] {
                    wins += 1.0;
                } else if scores[i] == scores[j] {
                    wins += 0.5;
                }
            }
        }
    }
    assert!(close(auc(&scores, &labels), wins / pairs));
}

#[test]
fn precision_recall_cases() {
    // scores > 0.5: 0.9 (T), 0.7 (F) -> TP 1, FP 1; positives: 0.9, 0.3 -> FN 1
    let c = precision_recall(&[0.9, 0.7, 0.3, 0.1], &[T, F, T, F], 0.5);
    assert!(close(c.precision, 0.5) && close(c.recall, 0.5));
    // nothing predicted positive: precision undefined, recall 0
    let c = precision_recall(&[0.5, 0.2], &[T, F], 0.5);
    assert!(c.precision.is_nan());
    assert_eq!(c.recall, 0.0);
    // no actual positive: recall undefined, precision 0
    let c = precision_recall(&[0.9, 0.2], &[F, F], 0.5);
    assert_eq!(c.precision, 0.0);
    assert!(c.recall.is_nan());
}

#[test]
fn shares_two_groups() {
    let pts = two_groups();
    // group 0 recommended: p1 (t in 0), p2 (t in 0), p3 (t in 1)
    assert!(close(recommended_share(&pts, 0, 0), 2.0 / 3.0));
    assert!(close(recommended_share(&pts, 0, 1), 1.0 / 3.0));
    // group 1 recommended: q1 (neutral), q2 (t in 0)
    assert!(close(recommended_share(&pts, 1, 0), 0.5));
    assert!(close(recommended_share(&pts, 1, 1), 0.0));
    // P_H over all 4 users of the group, recommended or not
    assert!(close(
        historical_share(&pts, 0, 0),
        (0.4 + 0.2 + 0.3 + 0.1) / 4.0
    ));
    assert!(close(
        historical_share(&pts, 1, 1),
        (0.5 + 0.3 + 0.4 + 0.4) / 4.0
    ));
    assert!(recommended_share(&pts, 2, 0).is_nan());
    assert!(historical_share(&pts, 2, 0).is_nan());
}

#[test]
fn relative_fairness_is_signed() {
    let f = pairwise(&two_groups(), 2, FairnessKind::Relative);
    // F(0,0) = 100 (2/3 - 0.25) / 0.25 = 500/3 (over-recommendation)
    assert!(close(f[0][0], 500.0 / 3.0));
    // F(0,1) = 100 (1/3 - 0.15) / 0.15 = 122.2...
    assert!(close(f[0][1], 100.0 * (1.0 / 3.0 - 0.15) / 0.15));
    // F(1,0) = 100 (0.5 - 0.1) / 0.1 = 400
    assert!(close(f[1][0], 400.0));
    // F(1,1) = 100 (0 - 0.4) / 0.4 = -100 (under-recommendation)
    assert!(close(f[1][1], -100.0));
    // headline: (|500/3| + |-100|) / 2
    assert!(close(headline(&f), (500.0 / 3.0 + 100.0) / 2.0));
}

#[test]
fn absolute_fairness() {
    let f = pairwise(&two_groups(), 2, FairnessKind::Absolute);
    assert!(close(f[0][0], 100.0 * (2.0 / 3.0 - 0.25)));
    assert!(close(f[1][1], 40.0));
    assert!(f.iter().flatten().all(|&x| x >= 0.0));
}

#[test]
fn zero_historical_share_is_nan_for_both_kinds() {
    // group 0 never has item group 1 in its history but gets it recommended half the time
    let pts = vec![
        pt(0, &[T, F], &[1.0, 0.0], 0.9, T),
        pt(0, &[F, T], &[1.0, 0.0], 0.9, T),
    ];
    let rel = pairwise(&pts, 2, FairnessKind::Relative);
    assert!(rel[0][1].is_nan());
    assert!(close(rel[0][0], -50.0)); // 100 (0.5 - 1) / 1
    let abs = pairwise(&pts, 2, FairnessKind::Absolute);
    assert!(
        abs[0][1].is_nan(),
        "P_H = 0 is undefined, not |P_R - 0|: {abs:?}"
    );
    assert!(close(abs[0][0], 50.0)); // 100 |0.5 - 1|
}

#[test]
fn group_without_recommendations_is_nan() {
    let pts = vec![
        pt(0, &[T, F], &[0.5, 0.5], 0.9, T),
        pt(1, &[F, T], &[0.5, 0.5], 0.4, T),
        pt(1, &[T, F], &[0.5, 0.5], 0.1, F),
    ];
    for kind in [FairnessKind::Relative, FairnessKind::Absolute] {
        let f = pairwise(&pts, 2, kind);
        assert!(f[1][0].is_nan() && f[1][1].is_nan(), "{kind:?}: {f:?}");
        assert!(!f[0][0].is_nan());
        assert!(headline(&f).is_nan());
    }
}

#[test]
fn three_groups_and_report_summaries() {
    let pts = vec![
        pt(0, &[T, F, F], &[0.5, 0.25, 0.25], 0.9, T),
        pt(1, &[F, F, T], &[0.25, 0.5, 0.25], 0.9, T),
        pt(2, &[F, F, T], &[0.5, 0.0, 0.5], 0.9, F),
        pt(2, &[T, F, F], &[0.5, 0.0, 0.5], 0.9, T),
    ];
    let r = evaluate(&pts, 3, FairnessKind::Relative);
    let f = &r.fairness;
    assert!(close(f[0][0], 100.0) && close(f[0][1], -100.0) && close(f[0][2], -100.0));
    assert!(close(f[1][0], -100.0) && close(f[1][1], -100.0) && close(f[1][2], 300.0));
    assert!(close(f[2][0], 0.0) && f[2][1].is_nan() && close(f[2][2], 0.0));
    assert!(close(r.headline, (100.0 + 100.0 + 0.0) / 3.0));
    assert!(close(r.consistent, 0.0)); // (100 - 100 + 0) / 3
    assert!(r.inconsistent.is_nan()); // F(2,1) undefined
    assert_eq!(r.n_recommended, 4);
    assert_eq!(r.per_pair.len(), 9);
    // Fig. 6: the neutral side, then one side per group.
    assert_eq!(r.by_target_side.len(), 4);
}

#[test]
fn report_two_groups() {
    let r = evaluate(&two_groups(), 2, FairnessKind::Relative);
    assert_eq!(r.n, 8);
    assert_eq!(r.n_recommended, 5);
    assert!(close(r.consistent, (500.0 / 3.0 - 100.0) / 2.0));
    assert!(close(
        r.inconsistent,
        (100.0 * (1.0 / 3.0 - 0.15) / 0.15 + 400.0) / 2.0
    ));
    // predicted positive: .9T .7F .6T .8T .55F -> P = 3/5; positives 5, TP 3 -> R = 3/5
    assert!(close(r.precision, 60.0) && close(r.recall, 60.0));
    // positives {.9,.6,.8,.5,.1} vs negatives {.7,.2,.55}: 3+2+3+1+0 = 9 of 15 pairs
    assert!(close(r.auc, 60.0));

    // pair (0,0): p1, p2 -> scores [.9,.7], labels [T,F]
    let p00 = &r.per_pair[0];
    assert_eq!((p00.user_group, p00.target_group, p00.n), (0, 0, 2));
    assert!(close(p00.f, 500.0 / 3.0) && close(p00.auc, 100.0));
    assert!(close(p00.precision, 50.0) && close(p00.recall, 100.0));
    // pair (1,1): no user-1 point has a target in group 1 except q4 -> one class only
    let p11 = &r.per_pair[3];
    assert_eq!((p11.user_group, p11.target_group, p11.n), (1, 1, 1));
    assert!(p11.auc.is_nan() && p11.precision.is_nan() && close(p11.recall, 0.0));

    // Fig. 6 sides: neutral first, then each group's members.
    let groups: Vec<Option<usize>> = r.by_target_side.iter().map(|s| s.group).collect();
    assert_eq!(groups, vec![None, Some(0), Some(1)]);
    // item group 0, above: p1, p2, q2 -> [.9,.7,.55] [T,F,F]
    let above = &r.by_target_side[1];
    assert!(above.above());
    assert_eq!(above.n, 3);
    assert!(
        close(above.auc, 100.0)
            && close(above.precision, 100.0 / 3.0)
            && close(above.recall, 100.0)
    );
    // item group 1, above: p3, q4 -> [.6,.1] [T,T]: one class, AUC undefined
    let above1 = &r.by_target_side[2];
    assert_eq!(above1.n, 2);
    assert!(above1.auc.is_nan() && close(above1.precision, 100.0) && close(above1.recall, 50.0));
    // below = neutral targets only (METHOD.md §7): p4 q1 q3 -> [.2,.8,.5] [F,T,T]. The other
    // group's stereotyped targets (p3, q4) are not "below" group 0.
    let below = &r.by_target_side[0];
    assert!(!below.above());
    assert_eq!(below.n, 3);
    assert!(close(below.auc, 100.0) && close(below.precision, 100.0) && close(below.recall, 50.0));
}

#[test]
fn fmt_metric_never_prints_nan_as_zero() {
    assert_eq!(fmt_metric(f64::NAN, 2), "-");
    assert_eq!(fmt_metric(0.0, 2), "0.00");
    assert_eq!(fmt_metric(55.4949, 2), "55.49");
    assert_eq!(fmt_metric(-12.345, 1), "-12.3");
    assert_eq!(fmt_metric(-0.001, 2), "0.00");
    assert_eq!(fmt_metric(3.0, 0), "3");
}

#[test]
fn report_round_trips_through_json_with_nan() {
    let pts = vec![
        pt(0, &[T, F], &[1.0, 0.0], 0.9, T),
        pt(0, &[F, T], &[1.0, 0.0], 0.9, T),
    ];
    let r = evaluate(&pts, 2, FairnessKind::Relative);
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("null"));
    let back: Report = serde_json::from_str(&json).unwrap();
    assert!(back.fairness[0][1].is_nan() && back.headline.is_nan());
    assert!(close(back.fairness[0][0], -50.0));
    assert_eq!(
        serde_json::to_string(&FairnessKind::Absolute).unwrap(),
        "\"absolute\""
    );
    let k: FairnessKind = serde_json::from_str("\"relative\"").unwrap();
    assert_eq!(k, FairnessKind::Relative);
}

//! The seed-unit procedure (METHOD.md §8) against statsmodels 0.15.0 / scipy 1.17.1: every
//! expected value below was printed by `tools/stats_reference.py` (run it in a throwaway venv
//! with `pip install statsmodels scipy`); the Python call is quoted beside each case.

use mosx_stats::jackknife;
use mosx_stats::{combine, wilcoxon, AcrossSeeds, Alternative, Combined, SeedEstimate};
use mosx_stats::{Weighting, WilcoxonMethod, WilcoxonOptions};

fn close(got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol * want.abs().max(1.0),
        "got {got}, want {want}"
    );
}

fn combined(d: &[f64], se: &[f64]) -> Combined {
    let seeds: Vec<SeedEstimate> = d
        .iter()
        .zip(se)
        .map(|(&estimate, &se)| SeedEstimate { estimate, se })
        .collect();
    match combine(&seeds).unwrap() {
        AcrossSeeds::Combined(c) => c,
        other => panic!("{other:?}"),
    }
}

#[test]
fn hksj_with_dersimonian_laird_matches_statsmodels_on_five_heterogeneous_seeds() {
    // r = combine_effects(d, se**2, method_re="dl", use_t=True) with
    // d = [1.2, 3.5, -0.4, 2.1, 0.8], se = [0.5, 0.7, 0.4, 0.6, 0.5]:
    //   r.tau2 1.6759330274006365, r.q 28.66780896037103
    //   "random effect wls": mean 1.3674964863066408, sqrt(r.var_hksj_re) 0.6470111296659825,
    //   ci (-0.42889439766297177, 3.163887370276253); t 2.1135594483708595 on 4 df:
    //   p two-sided 0.10208005444424836, greater 0.05104002722212418, less 0.9489599727778758
    //   r.weights_rel_re [0.20474243411169782, 0.1820555903519077, 0.21477919405611798,
    //                     0.1936803473685788, 0.20474243411169782]
    //   stats.t.sf((mean + 2) / se, 4) 0.0032475947864291513 (non-inferiority, margin 2)
    //   mean - stats.t.ppf(0.95, 4) * se -0.011832111189359118 (one-sided 95% lower bound)
    let c = combined(&[1.2, 3.5, -0.4, 2.1, 0.8], &[0.5, 0.7, 0.4, 0.6, 0.5]);
    assert_eq!(c.weighting, Weighting::RandomEffects);
    assert_eq!((c.seeds, c.df), (5, 4.0));
    close(c.tau2, 1.6759330274006365, 1e-12);
    close(c.q_fixed, 28.66780896037103, 1e-12);
    close(c.estimate, 1.3674964863066408, 1e-12);
    close(c.se, 0.6470111296659825, 1e-12);
    let (lo, hi) = c.interval(0.95);
    close(lo, -0.42889439766297177, 1e-9);
    close(hi, 3.163887370276253, 1e-9);
    close(c.t(0.0), 2.1135594483708595, 1e-12);
    close(c.p(Alternative::TwoSided, 0.0), 0.10208005444424836, 1e-9);
    close(c.p(Alternative::Greater, 0.0), 0.05104002722212418, 1e-9);
    close(c.p(Alternative::Less, 0.0), 0.9489599727778758, 1e-9);
    for (g, w) in c.weights.iter().zip([
        0.20474243411169782,
        0.1820555903519077,
        0.21477919405611798,
        0.1936803473685788,
        0.20474243411169782,
    ]) {
        close(*g, w, 1e-12);
    }
    // Non-inferiority "a >= b - 2": H0 d <= -2.
    close(c.p(Alternative::Greater, -2.0), 0.0032475947864291513, 1e-9);
    close(
        c.one_sided_bound(Alternative::Greater, 0.95),
        -0.011832111189359118,
        1e-9,
    );
}

#[test]
fn hksj_matches_statsmodels_on_three_and_two_seeds() {
    // d = [2.0, -1.0, 4.0], se = [0.3, 0.4, 0.5]: tau2 4.986199999999999,
    //   mean 1.654816975583723, se 1.448473802096079,
    //   ci (-4.577462782975555, 7.887096734143002), p two-sided 0.3715942668411961,
    //   non-inferiority p (H0 mu <= -2) 0.06383624605814259
    let c = combined(&[2.0, -1.0, 4.0], &[0.3, 0.4, 0.5]);
    close(c.tau2, 4.986199999999999, 1e-12);
    close(c.estimate, 1.654816975583723, 1e-12);
    close(c.se, 1.448473802096079, 1e-12);
    let (lo, hi) = c.interval(0.95);
    close(lo, -4.577462782975555, 1e-9);
    close(hi, 7.887096734143002, 1e-9);
    close(c.p(Alternative::TwoSided, 0.0), 0.3715942668411961, 1e-9);
    close(c.p(Alternative::Greater, -2.0), 0.06383624605814259, 1e-9);

    // Two seeds (1 df): d = [0.3, 1.9], se = [0.4, 0.5]: tau2 1.0749999999999997,
    //   mean 1.071875, se 0.7995054623797138, ci (-9.086805092686665, 11.230555092686666),
    //   p two-sided 0.40798942106862573
    let c = combined(&[0.3, 1.9], &[0.4, 0.5]);
    assert_eq!(c.df, 1.0);
    close(c.tau2, 1.0749999999999997, 1e-12);
    close(c.estimate, 1.071875, 1e-12);
    close(c.se, 0.7995054623797138, 1e-12);
    let (lo, hi) = c.interval(0.95);
    close(lo, -9.086805092686665, 1e-9);
    close(hi, 11.230555092686666, 1e-9);
    close(c.p(Alternative::TwoSided, 0.0), 0.40798942106862573, 1e-9);
}

#[test]
fn a_homogeneous_case_truncates_tau2_at_zero_as_dersimonian_laird() {
    // d = [1.0, 1.1, 0.9], se = [0.5, 0.5, 0.6]: statsmodels' untruncated tau2 is
    //   -0.2726162790697672 (a negative weight); with tau2 = 0 the procedure is its
    //   "fixed effect wls" row: mean 1.011340206185567, se 0.05549801580905062,
    //   ci (0.7725515169690764, 1.2501288954020575), p two-sided 0.002997809597888704
    let c = combined(&[1.0, 1.1, 0.9], &[0.5, 0.5, 0.6]);
    assert_eq!(c.tau2, 0.0);
    close(c.q_fixed, 0.06639175257732077, 1e-12);
    close(c.estimate, 1.011340206185567, 1e-12);
    close(c.se, 0.05549801580905062, 1e-12);
    let (lo, hi) = c.interval(0.95);
    close(lo, 0.7725515169690764, 1e-9);
    close(hi, 1.2501288954020575, 1e-9);
    close(c.p(Alternative::TwoSided, 0.0), 0.002997809597888704, 1e-9);
}

#[test]
fn the_jackknife_deletes_one_users_points_at_a_time() {
    // num = [1,0,1,1,0,1,1], den = 1 each, user = [0,0,1,2,2,2,3]:
    //   theta 0.7142857142857143, jackknife se 0.09868932735272516 (numpy, delete-one-user loop)
    let num = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    let user = [0, 0, 1, 2, 2, 2, 3];
    let j =
        jackknife::over_points(&num, &user, |p| p.iter().sum::<f64>() / p.len() as f64).unwrap();
    close(j.estimate, 0.7142857142857143, 1e-15);
    close(j.se, 0.09868932735272516, 1e-12);
    assert_eq!((j.users, j.dropped), (4, 0));
}

#[test]
fn wilcoxon_at_its_null_mean_has_p_one_as_in_scipy() {
    // stats.wilcoxon([1,-1,1,-1,...] (14 values), correction=True)
    //   -> statistic 52.5, pvalue 1.0 (ties, n > 13: normal approximation; W+ equals its mean,
    //   so no continuity correction is applied)
    let d: Vec<f64> = (0..14)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let r = wilcoxon(&d, &[0.0; 14], WilcoxonOptions::default()).unwrap();
    assert_eq!(r.method, WilcoxonMethod::Normal);
    assert_eq!(r.statistic, 52.5);
    assert_eq!(r.z, 0.0);
    assert_eq!(r.p, 1.0);
}

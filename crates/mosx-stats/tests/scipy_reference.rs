//! Hand-checked cases against reference implementations. Every expected value below was
//! printed by scipy 1.17.1 / statsmodels 0.15.0 / numpy 2.4.6 (Python 3.11) with the
//! call quoted beside it, from a throwaway venv (`pip install scipy statsmodels`).

use mosx_stats::{holm, paired_t, summary, wilcoxon, StatsError, WilcoxonMethod, WilcoxonOptions};

fn close(got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol * want.abs().max(1.0),
        "got {got}, want {want}"
    );
}

#[test]
fn paired_t_matches_scipy_ttest_rel() {
    // stats.ttest_rel([0.71,0.69,0.73,0.70,0.72], [0.65,0.66,0.70,0.64,0.69])
    //   -> statistic 5.715476066494087, pvalue 0.0046358394179043935, df 4
    // d.mean()/d.std(ddof=1) -> 2.5560386016907777
    let r = paired_t(
        &[0.71, 0.69, 0.73, 0.70, 0.72],
        &[0.65, 0.66, 0.70, 0.64, 0.69],
    )
    .unwrap();
    close(r.t, 5.715476066494087, 1e-10);
    close(r.p, 0.0046358394179043935, 1e-9);
    assert_eq!(r.df, 4.0);
    assert_eq!(r.n, 5);
    close(r.d_z, 2.5560386016907777, 1e-10);

    // Three seeds, Table IV-like F values: stats.ttest_rel([55.5,53.7,50.9], [60.1,58.2,59.0])
    //   -> statistic -4.8436293665109105, pvalue 0.0400793238611257, df 2; d_z -2.7964707186098505
    let r = paired_t(&[55.5, 53.7, 50.9], &[60.1, 58.2, 59.0]).unwrap();
    close(r.t, -4.8436293665109105, 1e-10);
    close(r.p, 0.0400793238611257, 1e-9);
    close(r.d_z, -2.7964707186098505, 1e-10);
}

#[test]
fn paired_t_refuses_undefined_cases() {
    assert_eq!(
        paired_t(&[1.0], &[0.0]).unwrap_err(),
        StatsError::TooFew { needed: 2, got: 1 }
    );
    assert!(matches!(
        paired_t(&[1.0, 2.0], &[0.0, 1.0]).unwrap_err(),
        StatsError::Constant(_)
    ));
    // NaN pairs are dropped: 2 finite pairs remain.
    assert_eq!(
        paired_t(&[1.0, f64::NAN, 2.0], &[0.5, 1.0, 0.9]).unwrap().n,
        2
    );
}

#[test]
fn wilcoxon_exact_matches_scipy() {
    // stats.wilcoxon([1.83,0.50,1.62,2.48,1.68,1.88,1.55,3.06,1.30],
    //                [0.878,0.647,0.598,2.05,1.06,1.29,1.06,3.14,1.29])
    //   -> statistic 5.0, pvalue 0.0390625 (no ties, no zeros: exact)
    let x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
    let y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
    let r = wilcoxon(&x, &y, WilcoxonOptions::default()).unwrap();
    assert_eq!(r.method, WilcoxonMethod::Exact);
    assert_eq!(r.statistic, 5.0);
    assert_eq!(r.w_plus, 40.0);
    close(r.p, 0.0390625, 1e-12);
    // rank-biserial (40 - 5) / 45
    close(r.r_rank_biserial, 35.0 / 45.0, 1e-12);
    // Swapping the samples flips the effect, not the p-value.
    let s = wilcoxon(&y, &x, WilcoxonOptions::default()).unwrap();
    close(s.p, r.p, 1e-12);
    close(s.r_rank_biserial, -r.r_rank_biserial, 1e-12);
}

#[test]
fn wilcoxon_with_ties_and_few_pairs_is_a_permutation_test_as_in_scipy() {
    // stats.wilcoxon([1,2,3,4,5,6,7,8,9,10], [2,1,1,2,2,8,5,5,5,4])
    //   -> statistic 6.0, pvalue 0.03125 (ties, n <= 13: exact sign-flip permutation)
    let x: Vec<f64> = (1..=10).map(f64::from).collect();
    let y = [2.0, 1.0, 1.0, 2.0, 2.0, 8.0, 5.0, 5.0, 5.0, 4.0];
    let r = wilcoxon(&x, &y, WilcoxonOptions::default()).unwrap();
    assert_eq!(r.method, WilcoxonMethod::Permutation);
    assert_eq!(r.statistic, 6.0);
    close(r.p, 0.03125, 1e-12);
}

const X3: [f64; 20] = [
    0.3, 0.6, 0.0, 0.0, -0.2, -0.7, 0.4, 1.6, -0.2, -0.3, 0.8, 0.7, 0.4, -0.6, 0.3, 1.0, -1.0,
    -0.2, -1.6, -1.0,
];

#[test]
fn wilcoxon_normal_approximation_with_tie_and_continuity_correction() {
    // 20 pairs with ties and two zeros: normal approximation.
    // stats.wilcoxon(X3, zeros(20), correction=True) -> statistic 79.5, pvalue 0.810343786500431
    // stats.wilcoxon(..., correction=True, method='asymptotic').zstatistic -> -0.23998254735844693
    // stats.wilcoxon(X3, zeros(20), correction=False) -> pvalue 0.7934763001462132
    let zeros = [0.0; 20];
    let r = wilcoxon(&X3, &zeros, WilcoxonOptions::default()).unwrap();
    assert_eq!(r.method, WilcoxonMethod::Normal);
    assert_eq!((r.n, r.zeros), (18, 2));
    assert_eq!(r.statistic, 79.5);
    close(r.p, 0.810343786500431, 1e-9);
    close(-r.z.abs(), -0.23998254735844693, 1e-9);
    let r = wilcoxon(
        &X3,
        &zeros,
        WilcoxonOptions {
            correction: false,
            ..Default::default()
        },
    )
    .unwrap();
    close(r.p, 0.7934763001462132, 1e-9);
}

#[test]
fn wilcoxon_more_than_50_pairs_uses_the_normal_approximation() {
    // stats.wilcoxon(X4, correction=True) -> statistic 832.0, pvalue 0.5436304416467492
    let x4 = [
        -1.641735, -0.035091, -1.067446, 0.471264, 0.356751, 0.013069, -2.31676, -0.338693,
        0.151499, 0.313309, -1.330136, -0.277753, -0.778519, -0.608837, 1.260899, -0.607535,
        0.167478, 1.08439, -0.3836, 0.088298, 0.310464, 0.263782, -1.025056, 0.27614, 1.558823,
        -1.347145, 1.059383, 0.319354, -0.44147, 2.200417, 0.96226, -0.999289, 0.274516, 0.77669,
        0.011218, 0.88291, 0.133483, 0.867248, 1.638523, -0.475662, 0.403139, -0.263308, 0.327268,
        -0.987195, -0.379302, 0.003804, 1.098764, 1.345222, -1.123528, -0.594642, 0.846903,
        -1.79242, -0.26317, 0.102713, 1.457015, 0.889404, -0.127213, -0.168576, -0.050195,
        1.723529,
    ];
    let r = wilcoxon(&x4, &[0.0; 60], WilcoxonOptions::default()).unwrap();
    assert_eq!(r.method, WilcoxonMethod::Normal);
    assert_eq!(r.statistic, 832.0);
    close(r.p, 0.5436304416467492, 1e-9);
}

#[test]
fn wilcoxon_all_zero_differences_is_undefined() {
    assert_eq!(
        wilcoxon(&[1.0, 2.0], &[1.0, 2.0], WilcoxonOptions::default()).unwrap_err(),
        StatsError::Constant(0.0)
    );
}

#[test]
fn holm_matches_statsmodels() {
    // multipletests([0.01,0.04,0.03,0.005,0.5], method='holm')[1]
    //   -> [0.04, 0.09, 0.09, 0.025, 0.5]
    let got = holm(&[0.01, 0.04, 0.03, 0.005, 0.5]);
    for (g, w) in got.iter().zip([0.04, 0.09, 0.09, 0.025, 0.5]) {
        close(*g, w, 1e-12);
    }
    // multipletests([0.02,0.02,0.9], method='holm')[1] -> [0.06, 0.06, 0.9]
    let got = holm(&[0.02, 0.02, 0.9]);
    for (g, w) in got.iter().zip([0.06, 0.06, 0.9]) {
        close(*g, w, 1e-12);
    }
    // An untestable comparison stays NaN and does not enlarge the family.
    let got = holm(&[0.02, f64::NAN, 0.9]);
    close(got[0], 0.04, 1e-12);
    assert!(got[1].is_nan());
    close(got[2], 0.9, 1e-12);
}

#[test]
fn summary_is_numpy_mean_and_ddof1_std() {
    // np.mean([55.49, 53.71, 50.91]) -> 53.370000000000005, np.std(..., ddof=1) -> 2.308852528854975
    let s = summary(&[55.49, 53.71, 50.91]);
    close(s.mean, 53.370000000000005, 1e-12);
    close(s.sd, 2.308852528854975, 1e-12);
}

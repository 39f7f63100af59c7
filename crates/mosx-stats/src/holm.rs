//! Holm's step-down correction of a family of p-values (Holm 1979), as
//! `statsmodels.stats.multitest.multipletests(p, method="holm")`.

/// Holm-adjusted p-values, in the input order. With the `m` finite p-values sorted
/// ascending, `adj_(i) = max_{j <= i} min(1, (m - j + 1) * p_(j))` (1-based ranks).
/// NaN entries (a comparison that could not be tested) stay NaN and do not count in `m`.
pub fn holm(ps: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..ps.len()).filter(|&i| ps[i].is_finite()).collect();
    order.sort_by(|&i, &j| ps[i].total_cmp(&ps[j]));
    let m = order.len();
    let mut out = vec![f64::NAN; ps.len()];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        let adj = ((m - rank) as f64 * ps[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

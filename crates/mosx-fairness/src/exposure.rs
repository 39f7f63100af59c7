//! Exposure of the catalogue under top-K lists: how often each item is recommended, its Gini
//! coefficient, catalogue coverage and the average recommendation popularity (ARP).
//!
//! Invariants:
//! * Exposure is counted over the whole catalogue (`n_items` items, unexposed ones as 0), so
//!   a recommender that shows few items has a Gini near 1 and a coverage near 0.
//! * Undefined values (an empty catalogue, nothing exposed, no list) are NaN, never 0.
//!
//! Definitions (sources in README_PART_ranking.md): Gini of item exposure as in Fleder and
//! Hosanagar 2009 / Mansoury et al. 2020, `G = sum_i (2i - n - 1) e_(i) / (n sum_i e_i)` with
//! `e_(1) <= ... <= e_(n)`; coverage as in Ge et al. 2010 (the share of the catalogue in at
//! least one list); ARP as in Abdollahpouri et al. 2019 (the mean, over lists, of the mean
//! popularity of the list's items).

/// How many of `lists` (each a top-K list of item ids) hold each item of a catalogue of
/// `n_items`; ids at or above `n_items` are not counted.
pub fn exposure_counts<'a>(lists: impl IntoIterator<Item = &'a [u32]>, n_items: usize) -> Vec<u64> {
    let mut e = vec![0u64; n_items];
    for l in lists {
        for &i in l {
            if let Some(c) = e.get_mut(i as usize) {
                *c += 1;
            }
        }
    }
    e
}

/// Gini coefficient of `exposure` (0: every item equally exposed; `(n-1)/n`: one item takes
/// all). NaN for an empty catalogue or no exposure at all.
pub fn gini(exposure: &[u64]) -> f64 {
    let n = exposure.len();
    let total: u64 = exposure.iter().sum();
    if n == 0 || total == 0 {
        return f64::NAN;
    }
    let mut e = exposure.to_vec();
    e.sort_unstable();
    let num: f64 = e
        .iter()
        .enumerate()
        .map(|(i, &x)| (2.0 * (i + 1) as f64 - n as f64 - 1.0) * x as f64)
        .sum();
    num / (n as f64 * total as f64)
}

/// Catalogue coverage: the fraction of the catalogue exposed at least once. NaN for an empty
/// catalogue.
pub fn coverage(exposure: &[u64]) -> f64 {
    if exposure.is_empty() {
        return f64::NAN;
    }
    exposure.iter().filter(|&&x| x > 0).count() as f64 / exposure.len() as f64
}

/// Average recommendation popularity: the mean over `lists` of the mean `popularity` of each
/// list's items (an id outside `popularity` counts 0). Empty lists are left out; NaN when no
/// list remains.
pub fn arp<'a>(lists: impl IntoIterator<Item = &'a [u32]>, popularity: &[f64]) -> f64 {
    let (mut n, mut sum) = (0usize, 0.0f64);
    for l in lists.into_iter().filter(|l| !l.is_empty()) {
        let pop: f64 = l
            .iter()
            .map(|&i| popularity.get(i as usize).copied().unwrap_or(0.0))
            .sum();
        sum += pop / l.len() as f64;
        n += 1;
    }
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn exposure_counts_each_list_holding_an_item_over_the_whole_catalogue() {
        let lists: [&[u32]; 3] = [&[0, 1], &[1, 2], &[1, 9]];
        assert_eq!(exposure_counts(lists, 4), vec![1, 3, 1, 0]);
    }

    #[test]
    fn gini_matches_hand_computed_values() {
        // Equal exposure: 0.
        close(gini(&[2, 2, 2, 2]), 0.0);
        // One item takes all of 4: (2*4 - 4 - 1) * 5 / (4 * 5) = 3/4.
        close(gini(&[0, 0, 5, 0]), 0.75);
        // [1, 3, 1, 0] sorted [0, 1, 1, 3]: (-3*0 - 1*1 + 1*1 + 3*3) / (4 * 5) = 9/20.
        close(gini(&[1, 3, 1, 0]), 0.45);
        assert!(gini(&[]).is_nan() && gini(&[0, 0]).is_nan());
    }

    #[test]
    fn coverage_is_the_share_of_the_catalogue_exposed() {
        close(coverage(&[1, 3, 1, 0]), 0.75);
        close(coverage(&[0, 0, 0, 0]), 0.0);
        assert!(coverage(&[]).is_nan());
    }

    #[test]
    fn arp_averages_each_lists_mean_popularity() {
        let pop = [10.0, 2.0, 0.0, 4.0];
        let lists: [&[u32]; 3] = [&[0, 1], &[2, 3], &[]];
        // (12/2 + 4/2) / 2 lists = 4; the empty list is left out.
        close(arp(lists, &pop), 4.0);
        assert!(arp(std::iter::empty::<&[u32]>(), &pop).is_nan());
    }
}

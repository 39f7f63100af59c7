//! The ranking protocol's report: per cut-off K, HR@K, NDCG@K, the stereotype-aware fairness
//! of the top-K lists and the exposure of the catalogue; MRR over the full lists.
//!
//! Fairness on top-K lists (METHOD.md §3 with `R` = each list's top K): for user group `a` and
//! item group `b`,
//! `P_R@K(b | a) = sum_{lists of a} |{i in top-K : I(i, b)}| / sum_{lists of a} |top-K|`
//! (the share of group-`b` items among everything recommended to group `a`, as FaiRLLM,
//! Zhang et al. 2023, compares top-K lists), `P_H(b | a)` is the mean history share of the
//! same lists (as pointwise), and `F@K(a, b)`, the headline, consistent and inconsistent
//! summaries are the pointwise formulas on these shares.
//!
//! Invariants: every value that is a percentage is x100 (HR, NDCG, MRR, coverage and F);
//! Gini is in [0, 1] and ARP is in interactions; undefined values are NaN (`null` in JSON).

use serde::{Deserialize, Serialize};

use crate::exposure::{arp, coverage, exposure_counts, gini};
use crate::point::FairnessKind;
use crate::ranking::{hit_rate, mrr, ndcg, order, target_rank};
use crate::shares::{fairness_value, summaries};

/// One test point's scored candidate list.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedList {
    /// `g(u)`: index of the user's group.
    pub user_group: usize,
    /// `P_u(b)` per item group `b`.
    pub history_share: Vec<f64>,
    /// Candidate item ids; `items[0]` is the target.
    pub items: Vec<u32>,
    /// `I(item, b)` per candidate and item group.
    pub item_groups: Vec<Vec<bool>>,
    /// `p_yes` per candidate.
    pub scores: Vec<f64>,
}

impl RankedList {
    /// The positions of the `k` best candidates (ties as [`order`]).
    fn top(&self, k: usize) -> Vec<usize> {
        let mut o = order(&self.scores);
        o.truncate(k);
        o
    }
}

/// The metrics at one cut-off K.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtK {
    pub k: usize,
    #[serde(with = "crate::nan_serde::scalar")]
    pub hr: f64,
    #[serde(with = "crate::nan_serde::scalar")]
    pub ndcg: f64,
    /// `F@K[a][b]`, x100.
    #[serde(with = "crate::nan_serde::matrix")]
    pub fairness: Vec<Vec<f64>>,
    #[serde(with = "crate::nan_serde::scalar")]
    pub headline: f64,
    #[serde(with = "crate::nan_serde::scalar")]
    pub consistent: f64,
    #[serde(with = "crate::nan_serde::scalar")]
    pub inconsistent: f64,
    /// Average recommendation popularity of the top-K lists.
    #[serde(with = "crate::nan_serde::scalar")]
    pub arp: f64,
    /// Gini of item exposure over the catalogue.
    #[serde(with = "crate::nan_serde::scalar")]
    pub gini: f64,
    /// Catalogue coverage, x100.
    #[serde(with = "crate::nan_serde::scalar")]
    pub coverage: f64,
}

/// The ranking protocol's report over all lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingReport {
    /// Number of lists (test points).
    pub n: usize,
    /// MRR, x100.
    #[serde(with = "crate::nan_serde::scalar")]
    pub mrr: f64,
    pub at: Vec<AtK>,
}

/// What the exposure metrics read besides the lists.
pub struct Catalogue<'a> {
    /// Number of items of the dataset.
    pub n_items: usize,
    /// Popularity per item id (interactions in the loaded data).
    pub popularity: &'a [f64],
}

/// Evaluate `lists` at each cut-off of `ks` with `n_groups` user/item groups.
pub fn evaluate_ranking(
    lists: &[RankedList],
    n_groups: usize,
    ks: &[usize],
    kind: FairnessKind,
    catalogue: &Catalogue<'_>,
) -> RankingReport {
    let ranks: Vec<usize> = lists.iter().map(|l| target_rank(&l.scores)).collect();
    let at = ks
        .iter()
        .map(|&k| {
            let tops: Vec<Vec<usize>> = lists.iter().map(|l| l.top(k)).collect();
            let fairness = top_k_fairness(lists, &tops, n_groups, kind);
            let (headline, consistent, inconsistent) = summaries(&fairness);
            let items: Vec<Vec<u32>> = lists
                .iter()
                .zip(&tops)
                .map(|(l, t)| t.iter().map(|&c| l.items[c]).collect())
                .collect();
            let exposure = exposure_counts(items.iter().map(Vec::as_slice), catalogue.n_items);
            AtK {
                k,
                hr: 100.0 * hit_rate(&ranks, k),
                ndcg: 100.0 * ndcg(&ranks, k),
                fairness,
                headline,
                consistent,
                inconsistent,
                arp: arp(items.iter().map(Vec::as_slice), catalogue.popularity),
                gini: gini(&exposure),
                coverage: 100.0 * coverage(&exposure),
            }
        })
        .collect();
    RankingReport {
        n: lists.len(),
        mrr: 100.0 * mrr(&ranks),
        at,
    }
}

/// `F@K[a][b]`, x100, from the lists' top candidates `tops` (module note).
pub fn top_k_fairness(
    lists: &[RankedList],
    tops: &[Vec<usize>],
    n_groups: usize,
    kind: FairnessKind,
) -> Vec<Vec<f64>> {
    (0..n_groups)
        .map(|a| {
            let of_a: Vec<(&RankedList, &Vec<usize>)> = lists
                .iter()
                .zip(tops)
                .filter(|(l, _)| l.user_group == a)
                .collect();
            (0..n_groups)
                .map(|b| {
                    let shown: usize = of_a.iter().map(|(_, t)| t.len()).sum();
                    let hits: usize = of_a
                        .iter()
                        .map(|(l, t)| t.iter().filter(|&&c| member(l, c, b)).count())
                        .sum();
                    let p_r = if shown == 0 {
                        f64::NAN
                    } else {
                        hits as f64 / shown as f64
                    };
                    let p_h = if of_a.is_empty() {
                        f64::NAN
                    } else {
                        let h: f64 = of_a
                            .iter()
                            .map(|(l, _)| l.history_share.get(b).copied().unwrap_or(0.0))
                            .sum();
                        h / of_a.len() as f64
                    };
                    fairness_value(p_r, p_h, kind)
                })
                .collect()
        })
        .collect()
}

fn member(l: &RankedList, candidate: usize, b: usize) -> bool {
    l.item_groups
        .get(candidate)
        .and_then(|g| g.get(b))
        .copied()
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    /// Two groups, items 0..6: item 0, 1 in group 0; item 2, 3 in group 1; 4, 5 neutral.
    fn groups_of(items: &[u32]) -> Vec<Vec<bool>> {
        items
            .iter()
            .map(|&i| vec![i < 2, (2..4).contains(&i)])
            .collect()
    }

    fn list(user_group: usize, share: [f64; 2], items: &[u32], scores: &[f64]) -> RankedList {
        RankedList {
            user_group,
            history_share: share.to_vec(),
            items: items.to_vec(),
            item_groups: groups_of(items),
            scores: scores.to_vec(),
        }
    }

    #[test]
    fn top_k_fairness_and_exposure_match_hand_computed_values() {
        let lists = vec![
            // Group 0: top-2 = items 0 (target, 0.9) and 1 (0.8): both group 0.
            list(0, [0.5, 0.25], &[0, 1, 2, 4], &[0.9, 0.8, 0.1, 0.2]),
            // Group 0: target 5 tied with item 2 at 0.6: item 2 first, then 5; top-2 = [2, 5].
            list(0, [0.25, 0.25], &[5, 2, 4, 3], &[0.6, 0.6, 0.1, 0.0]),
            // Group 1: top-2 = items 3 (0.7) and 2 (0.5) (target 4 third).
            list(1, [0.0, 0.5], &[4, 3, 2, 0], &[0.4, 0.7, 0.5, 0.1]),
        ];
        let pop = [5.0, 1.0, 2.0, 0.0, 4.0, 3.0];
        let cat = Catalogue {
            n_items: 6,
            popularity: &pop,
        };
        let r = evaluate_ranking(&lists, 2, &[1, 2], FairnessKind::Relative, &cat);
        // Ranks 1, 2 (tie pessimistic), 3.
        close(r.mrr, 100.0 * (1.0 + 0.5 + 1.0 / 3.0) / 3.0);
        let k2 = &r.at[1];
        close(k2.hr, 100.0 * 2.0 / 3.0);
        close(k2.ndcg, 100.0 * (1.0 + 1.0 / 3f64.log2()) / 3.0);
        // Group 0 shown 4 items: group-0 items {0, 1} = 2, group-1 items {2} = 1.
        // P_H(0|0) = 0.375, P_H(1|0) = 0.25. F(0,0) = 100 (0.5 - 0.375) / 0.375.
        close(k2.fairness[0][0], 100.0 * (0.5 - 0.375) / 0.375);
        close(k2.fairness[0][1], 0.0);
        // Group 1: P_R(1|1) = 2/2 = 1, P_H(1|1) = 0.5; P_H(0|1) = 0: undefined.
        close(k2.fairness[1][1], 100.0);
        assert!(k2.fairness[1][0].is_nan());
        close(k2.headline, (100.0 / 3.0 + 100.0) / 2.0);
        close(k2.consistent, (100.0 / 3.0 + 100.0) / 2.0);
        assert!(k2.inconsistent.is_nan());
        // Exposure at K=2: items 0,1,2,5,3,2 -> counts [1,1,2,1,0,1]; coverage 5/6.
        close(k2.coverage, 100.0 * 5.0 / 6.0);
        // Sorted [0,1,1,1,1,2], sum 6: (-5*0 -3 -1 +1 +3 +5*2) / (6*6) = 10/36.
        close(k2.gini, 10.0 / 36.0);
        // ARP: (5+1)/2, (2+3)/2, (0+2)/2 -> (3 + 2.5 + 1) / 3.
        close(k2.arp, 6.5 / 3.0);
        // K = 1: tops are items 0, 2, 3.
        let k1 = &r.at[0];
        close(k1.hr, 100.0 / 3.0);
        close(k1.coverage, 50.0);
        close(k1.arp, (5.0 + 2.0 + 0.0) / 3.0);
    }

    #[test]
    fn a_report_round_trips_through_json_with_undefined_values() {
        let r = evaluate_ranking(
            &[],
            2,
            &[5],
            FairnessKind::Relative,
            &Catalogue {
                n_items: 3,
                popularity: &[],
            },
        );
        assert!(r.mrr.is_nan() && r.at[0].hr.is_nan() && r.at[0].gini.is_nan());
        let back: RankingReport =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert!(back.mrr.is_nan() && back.at[0].fairness[0][0].is_nan());
        assert_eq!(back.at[0].k, 5);
    }
}

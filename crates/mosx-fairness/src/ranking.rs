//! Top-K ranking metrics of the `ranking` protocol: each test point's target is ranked among
//! sampled negatives by `p_yes`, giving HR@K, NDCG@K and MRR (leave-one-out with sampled
//! negatives, as in NCF: He et al. 2017; and LLM rankers: Hou et al. 2024, "Large Language
//! Models are Zero-Shot Rankers for Recommender Systems").
//!
//! Invariants:
//! * A list's candidate 0 is its target; the others are negatives.
//! * **Ties are pessimistic**: a negative scored equal to the target ranks above it, so the
//!   target's rank is `1 + #{negatives with score >= target's}`; a constant scorer puts the
//!   target last, never first. [`order`] sorts by the same rule (score descending, negatives
//!   before the target on a tie, negatives among themselves by their list position), so the
//!   top-K list and the target's rank agree.
//! * Scores compare by `f64::total_cmp` (a NaN never makes the order partial).
//! * The means are NaN over no list, never 0.

/// The candidates' positions in the list, best first, under the module's tie rule.
pub fn order(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&i, &j| {
        scores[j]
            .total_cmp(&scores[i])
            .then((i == 0).cmp(&(j == 0)))
            .then(i.cmp(&j))
    });
    idx
}

/// The 1-based rank of the target (candidate 0) among `scores`, ties pessimistic.
/// `scores` must hold the target.
pub fn target_rank(scores: &[f64]) -> usize {
    let t = scores[0];
    1 + scores[1..]
        .iter()
        .filter(|s| s.total_cmp(&t) != std::cmp::Ordering::Less)
        .count()
}

/// HR@K: the fraction of lists whose target ranks in the top `k`. NaN over no list.
pub fn hit_rate(ranks: &[usize], k: usize) -> f64 {
    mean(ranks, |r| if r <= k { 1.0 } else { 0.0 })
}

/// NDCG@K with one relevant item: the mean of `1 / log2(rank + 1)` over lists whose target
/// ranks in the top `k` (0 for the others; the ideal DCG is 1). NaN over no list.
pub fn ndcg(ranks: &[usize], k: usize) -> f64 {
    mean(ranks, |r| {
        if r <= k {
            1.0 / ((r + 1) as f64).log2()
        } else {
            0.0
        }
    })
}

/// MRR: the mean of `1 / rank` over the lists (the full list, no cut-off). NaN over no list.
pub fn mrr(ranks: &[usize]) -> f64 {
    mean(ranks, |r| 1.0 / r as f64)
}

fn mean(ranks: &[usize], f: impl Fn(usize) -> f64) -> f64 {
    if ranks.is_empty() {
        return f64::NAN;
    }
    ranks.iter().map(|&r| f(r)).sum::<f64>() / ranks.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn a_tie_with_the_target_ranks_the_negative_above_it() {
        // Target 0.5; negatives 0.9 (above), 0.5 (tied: above), 0.1 (below).
        let s = [0.5, 0.9, 0.5, 0.1];
        assert_eq!(target_rank(&s), 3);
        assert_eq!(order(&s), vec![1, 2, 0, 3]);
        // A constant scorer puts the target last.
        assert_eq!(target_rank(&[0.3; 20]), 20);
        assert_eq!(order(&[0.3; 4]), vec![1, 2, 3, 0]);
        // Strictly best: rank 1.
        assert_eq!(target_rank(&[0.9, 0.8, 0.1]), 1);
    }

    #[test]
    fn the_target_rank_is_its_position_in_the_order() {
        let lists: [&[f64]; 4] = [
            &[0.5, 0.9, 0.5, 0.1],
            &[0.2, 0.2, 0.2],
            &[0.7, 0.1, 0.9, 0.7, 0.7],
            &[1.0],
        ];
        for s in lists {
            let pos = order(s).iter().position(|&i| i == 0).unwrap();
            assert_eq!(pos + 1, target_rank(s), "{s:?}");
        }
    }

    #[test]
    fn hr_ndcg_and_mrr_match_hand_computed_values_with_ties() {
        // Ranks: 1 (best), 3 (one above, one tied), 4 (constant list of 4: last).
        let ranks = [
            target_rank(&[0.9, 0.1, 0.2]),
            target_rank(&[0.5, 0.9, 0.5, 0.1]),
            target_rank(&[0.4; 4]),
        ];
        assert_eq!(ranks, [1, 3, 4]);
        close(hit_rate(&ranks, 1), 1.0 / 3.0);
        close(hit_rate(&ranks, 3), 2.0 / 3.0);
        close(hit_rate(&ranks, 5), 1.0);
        // NDCG@3 = (1/log2(2) + 1/log2(4) + 0) / 3 = (1 + 0.5) / 3.
        close(ndcg(&ranks, 3), 0.5);
        // NDCG@5 adds 1/log2(5) for rank 4.
        close(ndcg(&ranks, 5), (1.5 + 1.0 / 5f64.log2()) / 3.0);
        // MRR = (1 + 1/3 + 1/4) / 3.
        close(mrr(&ranks), (1.0 + 1.0 / 3.0 + 0.25) / 3.0);
        assert!(hit_rate(&[], 5).is_nan() && ndcg(&[], 5).is_nan() && mrr(&[]).is_nan());
    }
}

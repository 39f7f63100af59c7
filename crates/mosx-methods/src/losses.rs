//! The loss terms of METHOD.md §4-§6, on tensors.
//!
//! Invariants:
//! * `L_rec` (Eq. 12) is the cross-entropy of the answer's label token, per sample, then
//!   averaged with the per-sample weights (IFairLRS weighs each sample's own loss; the
//!   weights never multiply an already averaged loss). `RecLoss::Vocab` takes the softmax
//!   over the whole vocabulary, as a language model is trained; `RecLoss::Pair` over
//!   (Yes, No) only, which is what the evaluation's `p_yes` reads.
//! * `L_fair` (Eq. 13) is METHOD.md §3's relative gap made differentiable: on a batch, for
//!   each group `a` present (with some recommendation mass), `P_R(a|a) = Σ p_yes·I(t,a) /
//!   Σ p_yes` over the batch's users of `a`, and `P_H(a|a)` a constant computed **once from
//!   the train split** ([`train_p_h`]: the mean over the train points of users of `a` of
//!   their history share of item group `a`), never from the batch; `L_fair = mean_a |P_R -
//!   P_H| / max(P_H, ε)`, groups absent from the batch left out of the mean. Since `P_R ∈
//!   [0, 1]`, each term is at most `max(1, 1/P_H - 1)` (`1/ε` only for a train-split
//!   `P_H` of 0, which the floor guards). On hard 0/1 predictions, with `P_H` taken from
//!   the same points, it equals the metric's headline F / 100.
//! * `L_div` (Eq. 14) is the mean pairwise cosine similarity of the flattened experts.

use tch::{Kind, Reduction, Tensor};

pub use mosx_config::losses::RecLoss;

/// Floor of `P_H(a|a)` in `L_fair`'s denominator.
pub const FAIR_EPS: f64 = 1e-3;

/// Per-sample `L_rec` `[B]` from the forward's state: `hidden` `[B, d]`, the pair logits
/// `[B, 2]`, labels `[B]` (1 = Yes); `vocab_logits` computes the full head when asked.
pub fn rec_per_sample(
    kind: RecLoss,
    pair_logits: &Tensor,
    vocab_logits: impl FnOnce() -> Tensor,
    labels: &Tensor,
    answer: [i64; 2],
) -> Tensor {
    match kind {
        RecLoss::Pair => {
            // Class 0 = Yes.
            let target = labels.ones_like() - labels;
            pair_logits.cross_entropy_loss::<Tensor>(&target, None, Reduction::None, -100, 0.0)
        }
        RecLoss::Vocab => {
            let logits = vocab_logits();
            let yes = labels.ones_like() * answer[0];
            let no = labels.ones_like() * answer[1];
            let target = yes.where_self(&labels.eq(1), &no);
            logits.cross_entropy_loss::<Tensor>(&target, None, Reduction::None, -100, 0.0)
        }
    }
}

/// `Σ w_i l_i / B`: each sample's own loss weighted.
pub fn weighted_mean(per_sample: &Tensor, weights: &Tensor) -> Tensor {
    (per_sample * weights.to_kind(per_sample.kind())).mean(Kind::Float)
}

/// `P_H(a|a)` per user group `a` of `n_groups`: the mean over `points` whose user is in `a`
/// of their history share of item group `a` (0 for a group with no point).
pub fn train_p_h(points: &[crate::batch::Example], n_groups: usize) -> Vec<f64> {
    (0..n_groups)
        .map(|a| {
            let shares: Vec<f64> = points
                .iter()
                .filter(|e| e.user_group == a)
                .map(|e| e.history_share.get(a).copied().unwrap_or(0.0))
                .collect();
            if shares.is_empty() {
                0.0
            } else {
                shares.iter().sum::<f64>() / shares.len() as f64
            }
        })
        .collect()
}

/// `L_fair` on a batch (see the module note). `p_yes` `[B]`, `user_groups` `[B]` int64,
/// `target_groups` `[B, G]`, `p_h[a]` the train split's `P_H(a|a)` ([`train_p_h`]). Zero
/// when no group of the batch has a recommendation.
pub fn fair(p_yes: &Tensor, user_groups: &Tensor, target_groups: &Tensor, p_h: &[f64]) -> Tensor {
    let g = target_groups.size()[1];
    let groups: Vec<i64> =
        Vec::<i64>::try_from(user_groups.to_device(tch::Device::Cpu)).unwrap_or_default();
    let mut terms = Vec::new();
    for a in 0..g {
        let rows: Vec<i64> = groups
            .iter()
            .enumerate()
            .filter(|(_, &x)| x == a)
            .map(|(i, _)| i as i64)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let idx = Tensor::from_slice(&rows).to_device(p_yes.device());
        let p = p_yes.index_select(0, &idx);
        let denom = p.sum(Kind::Float);
        if denom.double_value(&[]) <= 0.0 {
            continue;
        }
        let member = target_groups.index_select(0, &idx).select(1, a);
        let p_r = (&p * member).sum(Kind::Float) / denom;
        let p_h_a = p_h.get(a as usize).copied().unwrap_or(0.0);
        terms.push((p_r - p_h_a).abs() / p_h_a.max(FAIR_EPS));
    }
    if terms.is_empty() {
        return Tensor::zeros([], (Kind::Float, p_yes.device()));
    }
    Tensor::stack(&terms, 0).mean(Kind::Float)
}

/// Mean pairwise cosine similarity of `experts` `[E, ...]` (0 for a single expert).
pub fn diversity(experts: &Tensor) -> Tensor {
    let e = experts.size()[0];
    if e < 2 {
        return Tensor::zeros([], (Kind::Float, experts.device()));
    }
    let flat = experts.reshape([e, -1]).to_kind(Kind::Float);
    let unit = &flat / flat.norm_scalaropt_dim(2.0, [1], true).clamp_min(1e-12);
    let sim = unit.matmul(&unit.tr());
    // Off-diagonal mean: (sum - trace) / (E (E - 1)).
    (sim.sum(Kind::Float) - sim.trace()) / (e * (e - 1)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fair_on_hard_predictions_is_the_relative_gap() {
        // Group 0: 3 users, 2 recommended, 1 of them a group-0 target -> P_R = 0.5;
        // P_H = 0.3 (given, as from the train split); |0.5-0.3|/0.3.
        // Group 1: 1 user, recommended, target in group 1 -> P_R = 1; P_H = 0.5 -> 1.0.
        let p = Tensor::from_slice(&[1.0f32, 1.0, 0.0, 1.0]);
        let ug = Tensor::from_slice(&[0i64, 0, 0, 1]);
        let tg = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0]).view([4, 2]);
        let l = fair(&p, &ug, &tg, &[0.3, 0.5]).double_value(&[]);
        let want = ((0.5f64 - 0.3).abs() / 0.3 + 1.0) / 2.0;
        assert!((l - want).abs() < 1e-6, "{l} vs {want}");
    }

    #[test]
    fn diversity_is_mean_pairwise_cosine() {
        let e = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0]).view([3, 2]);
        // cos(e0,e1)=0, cos(e0,e2)=cos(e1,e2)=1/sqrt2.
        let want = (0.0 + 2.0 * std::f64::consts::FRAC_1_SQRT_2) / 3.0;
        assert!((diversity(&e).double_value(&[]) - want).abs() < 1e-6);
    }
}

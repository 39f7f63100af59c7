//! The parts of the methods that the paper's claims rest on, each on a hand-checked case:
//! MoS routing, reweighting, L_fair and L_div; IFairLRS weights; UP5 alternation; the
//! FaiRLLM penalty; the no-op-adapter check; resume after a crash.

mod common;
use common::{adafactor_config, auc, examples, setup, tiny};

use rand::{Rng, SeedableRng};
use serde_json::json;
use tch::{Device, Kind, Tensor};

use mosx_methods::losses;
use mosx_methods::methods::{self, fairllm, ifairlrs, mos};
use mosx_methods::trainer::Quiet;
use mosx_methods::{Example, MethodError, TrainData};
use mosx_models::tiny::TinyArch;

fn t(v: &[f32], shape: &[i64]) -> Tensor {
    Tensor::from_slice(v).view(shape)
}

fn close(a: &Tensor, b: &Tensor) -> bool {
    (a - b).abs().max().double_value(&[]) < 1e-6
}

#[test]
fn top_k_keeps_the_largest_probabilities_as_they_are_and_zeroes_the_rest() {
    let p = t(&[0.1, 0.5, 0.3, 0.1, 0.4, 0.1, 0.2, 0.3], &[2, 4]);
    assert!(close(
        &mos::top_k(&p, 1, false),
        &t(&[0., 0.5, 0., 0., 0.4, 0., 0., 0.], &[2, 4])
    ));
    assert!(close(
        &mos::top_k(&p, 2, false),
        &t(&[0., 0.5, 0.3, 0., 0.4, 0., 0., 0.3], &[2, 4])
    ));
}

#[test]
fn top_k_with_renormalize_divides_the_kept_probabilities_by_their_sum() {
    let p = t(&[0.1, 0.5, 0.3, 0.1, 0.4, 0.1, 0.2, 0.3], &[2, 4]);
    assert!(close(
        &mos::top_k(&p, 1, true),
        &t(&[0., 1., 0., 0., 1., 0., 0., 0.], &[2, 4])
    ));
    let two = mos::top_k(&p, 2, true);
    assert!(close(
        &two,
        &t(
            &[0., 0.625, 0.375, 0., 0.4 / 0.7, 0., 0., 0.3 / 0.7],
            &[2, 4]
        )
    ));
}

#[test]
fn stochastic_routing_draws_k_distinct_experts_and_keeps_their_probabilities() {
    tch::manual_seed(0);
    let p = t(&[0.1, 0.2, 0.3, 0.4], &[1, 4]).repeat([800, 1]);
    let s = mos::sample_k(&p, 2, false);
    // Exactly 2 non-zero entries per row, each the drawn expert's own probability.
    let nonzero = s.gt(0.0).sum_dim_intlist(1, false, Kind::Int64);
    assert!(nonzero.eq(2).all().int64_value(&[]) == 1);
    let kept_as_is = s.eq_tensor(&p).logical_or(&s.eq(0.0));
    assert!(kept_as_is.all().int64_value(&[]) == 1, "{s}");
    // Every expert is drawn sometimes: sampling, not top-K.
    let drawn = s.gt(0.0).sum_dim_intlist(0, false, Kind::Int64);
    assert!(drawn.gt(100).all().int64_value(&[]) == 1, "{drawn}");
    // The renormalize ablation: the two drawn values sum to 1.
    let r = mos::sample_k(&p, 2, true);
    assert!(close(
        &r.sum_dim_intlist(1, false, Kind::Float),
        &Tensor::ones([800], (Kind::Float, Device::Cpu))
    ));
}

#[test]
fn mos_router_mean_pools_the_stereotype_prompt_with_the_task_and_reweighting_off_is_the_mean() {
    let (_d, mut bb, tok) = tiny(TinyArch::Gemma3);
    let s = setup(bb.as_ref(), &tok);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let cfg = methods::normalize(
        &json!({"name": "mos", "experts": 3, "tokens": 2, "routing": "top2", "reweighting": false}),
    )
    .unwrap();
    let (m, _) = methods::build(&cfg, &s, bb.as_mut(), &vs).unwrap();
    let x = tok.encode("good x1 x2", true).unwrap();
    let ids = Tensor::from_slice(&x).view([1, -1]);
    let mask = Tensor::ones([1, x.len() as i64], (Kind::Int64, Device::Cpu));
    let embeds = bb.embed(&ids);
    // The router's input for group g is the mean of Emb([s_g ; X]): recompute it directly.
    let soft = m.soft_prompt(&embeds, &mask, false).unwrap();
    let vars = vs.variables();
    let (w, b) = (&vars["mos.router.weight"], &vars["mos.router.bias"]);
    let experts = &vars["mos.experts"];
    let mut routed = Vec::new();
    for g in &s.group_prompts {
        let all: Vec<i64> = g.iter().chain(&x).copied().collect();
        let e = bb
            .embed(&Tensor::from_slice(&all).view([1, -1]))
            .mean_dim(1, false, Kind::Float);
        let p = e.linear(w, Some(b)).softmax(-1, Kind::Float);
        routed.push(mos::top_k(&p, 2, false));
    }
    let mean = (&routed[0] + &routed[1]) / 2.0;
    let want = mean.matmul(&experts.view([3, -1])).view([1, 2, -1]);
    assert!(close(&soft, &want));
}

#[test]
fn l_fair_on_hard_predictions_equals_the_metrics_relative_gap() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let n = 60;
    let mut points = Vec::new();
    for _ in 0..n {
        let g = rng.random_range(0..2usize);
        let share: f64 = rng.random_range(0.05..0.6);
        points.push(mosx_fairness::EvalPoint {
            user_group: g,
            target_groups: vec![rng.random_bool(0.4), rng.random_bool(0.3)],
            history_share: vec![share, 0.6 - share],
            p_yes: if rng.random_bool(0.6) { 1.0 } else { 0.0 },
            label: rng.random_bool(0.5),
        });
    }
    let r = mosx_fairness::evaluate(&points, 2, mosx_fairness::FairnessKind::Relative);
    let p = Tensor::from_slice(&points.iter().map(|x| x.p_yes as f32).collect::<Vec<_>>());
    let ug = Tensor::from_slice(
        &points
            .iter()
            .map(|x| x.user_group as i64)
            .collect::<Vec<_>>(),
    );
    let tg: Vec<f32> = points
        .iter()
        .flat_map(|x| x.target_groups.iter().map(|&m| m as u8 as f32))
        .collect();
    // P_H from the same points (as the metric takes it from the scored points).
    let sample: Vec<Example> = points
        .iter()
        .map(|x| Example {
            user_group: x.user_group,
            history_share: x.history_share.clone(),
            ..ex([false, false], [0.0, 0.0])
        })
        .collect();
    let p_h = losses::train_p_h(&sample, 2);
    let l = losses::fair(&p, &ug, &t(&tg, &[n, 2]), &p_h).double_value(&[]);
    assert!(
        (l * 100.0 - r.headline).abs() < 1e-3,
        "L_fair {l} vs F/100 {}",
        r.headline / 100.0
    );
}

/// A point of user group `g` whose target is in the item groups `target`.
fn point(g: usize, target: [bool; 2], share: [f64; 2]) -> Example {
    Example {
        user_group: g,
        ..ex(target, share)
    }
}

/// The bound tested: with `P_R ∈ [0, 1]`, each group's term `|P_R - P_H| / P_H` is at most
/// `max(1, 1/P_H - 1)`, so their mean is at most the mean of those bounds (< `1/min P_H`),
/// whatever the batch's own history shares are.
#[test]
fn l_fair_takes_p_h_from_the_train_split_and_stays_bounded_on_a_batch_without_history_share() {
    // Train split: group 0's own shares 0.2 and 0.4 -> P_H(0|0) = 0.3; group 1's 0.1 and
    // 0.3 -> P_H(1|1) = 0.2 (the other group's entries do not count).
    let train = vec![
        point(0, [true, false], [0.2, 0.9]),
        point(0, [false, false], [0.4, 0.0]),
        point(1, [false, true], [0.9, 0.1]),
        point(1, [false, false], [0.0, 0.3]),
    ];
    let p_h = losses::train_p_h(&train, 2);
    assert!(
        (p_h[0] - 0.3).abs() < 1e-12 && (p_h[1] - 0.2).abs() < 1e-12,
        "{p_h:?}"
    );
    // A batch of 8: six users of group 0, two of group 1 whose history holds no item of
    // group 1 (share 0) and whose targets are both in group 1, so P_R(1|1) = 1.
    let batch: Vec<Example> = (0..6)
        .map(|i| point(0, [i < 3, false], [0.5, 0.1]))
        .chain((0..2).map(|_| point(1, [false, true], [0.4, 0.0])))
        .collect();
    let p_yes = [0.9f32, 0.8, 0.7, 0.6, 0.2, 0.1, 0.6, 0.9];
    let p = Tensor::from_slice(&p_yes);
    let ug = Tensor::from_slice(
        &batch
            .iter()
            .map(|e| e.user_group as i64)
            .collect::<Vec<_>>(),
    );
    let tg: Vec<f32> = batch
        .iter()
        .flat_map(|e| e.target_groups.iter().map(|&m| m as u8 as f32))
        .collect();
    let tg = t(&tg, &[8, 2]);
    let l = losses::fair(&p, &ug, &tg, &p_h).double_value(&[]);
    let p_r0 = (0.9 + 0.8 + 0.7) / 3.3;
    let want = ((p_r0 - 0.3f64).abs() / 0.3 + (1.0 - 0.2) / 0.2) / 2.0;
    assert!((l - want).abs() < 1e-5, "{l} vs {want}");
    let bound = p_h.iter().map(|&h| (1.0 / h - 1.0).max(1.0)).sum::<f64>() / 2.0;
    assert!(l.is_finite() && l <= bound + 1e-9, "{l} > {bound}");
    assert!(l <= 1.0 / p_h[1]);
    // The batch's own P_H (group 1: 0) hits the 1e-3 floor: a 1/eps-sized term.
    let from_batch = losses::fair(&p, &ug, &tg, &losses::train_p_h(&batch, 2));
    assert!(from_batch.double_value(&[]) > 100.0, "{from_batch}");
    // A group absent from the batch is left out of its mean: group 0 alone.
    let idx = Tensor::from_slice(&[0i64, 1, 2, 3, 4, 5]);
    let only0 = losses::fair(
        &p.index_select(0, &idx),
        &ug.index_select(0, &idx),
        &tg.index_select(0, &idx),
        &p_h,
    );
    assert!((only0.double_value(&[]) - (p_r0 - 0.3).abs() / 0.3).abs() < 1e-5);
}

#[test]
fn l_div_is_the_mean_pairwise_cosine_of_the_experts() {
    let e = t(
        &[1., 0., 0., 0., 0., 1., 0., 0., 1., 1., 0., 0.],
        &[3, 2, 2],
    );
    // Flattened: e0=(1,0,0,0), e1=(0,1,0,0), e2=(1,1,0,0); cosines 0, 1/√2, 1/√2.
    let want = 2.0 * std::f64::consts::FRAC_1_SQRT_2 / 3.0;
    assert!((losses::diversity(&e).double_value(&[]) - want).abs() < 1e-6);
}

fn ex(target: [bool; 2], share: [f64; 2]) -> Example {
    Example {
        ids: vec![2, 5],
        label: true,
        user_group: 0,
        target_groups: target.to_vec(),
        history_share: share.to_vec(),
        variants: vec![],
    }
}

#[test]
fn ifairlrs_weights_on_a_hand_computed_case() {
    // History shares: group 0 mean 0.3, group 1 mean 0.1. Targets: 2 of 4 in group 0 (0.5),
    // 1 of 4 in group 1 (0.25), 1 neutral. w_0 = 0.3/0.5 = 0.6, w_1 = 0.1/0.25 = 0.4.
    let train = vec![
        ex([true, false], [0.2, 0.1]),
        ex([true, false], [0.4, 0.0]),
        ex([false, true], [0.3, 0.2]),
        ex([false, false], [0.3, 0.1]),
    ];
    let wb = ifairlrs::group_weights(&train);
    assert!((wb[0].unwrap() - 0.6).abs() < 1e-12 && (wb[1].unwrap() - 0.4).abs() < 1e-12);
    // Raw 0.6, 0.6, 0.4, 1.0 (mean 0.65), normalised to mean 1.
    let w = ifairlrs::sample_weights(&train);
    let want = [0.6 / 0.65, 0.6 / 0.65, 0.4 / 0.65, 1.0 / 0.65];
    for (a, b) in w.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{w:?}");
    }
}

#[test]
fn ifairlrs_weights_each_samples_own_loss_so_they_do_not_cancel() {
    // Per-sample losses 1 and 3 with weights 0.5 and 1.5: the weighted mean is
    // (0.5 + 4.5) / 2 = 2.5; averaging first and weighting after would give 2.0 (the mean
    // weight is 1), which is the cancellation of the public code.
    let per = t(&[1.0, 3.0], &[2]);
    let w = t(&[0.5, 1.5], &[2]);
    let l = losses::weighted_mean(&per, &w).double_value(&[]);
    assert!((l - 2.5).abs() < 1e-6, "{l}");
    let cancelled = per.mean(Kind::Float).double_value(&[]) * w.mean(Kind::Float).double_value(&[]);
    assert!((l - cancelled).abs() > 0.4);
}

#[test]
fn fairllm_penalty_is_zero_when_the_prompts_agree() {
    let a = t(&[0.2, 0.9, 0.5], &[3]);
    assert_eq!(
        fairllm::consistency_penalty(&[a.copy(), a.copy()]).double_value(&[]),
        0.0
    );
    let b = t(&[0.4, 0.9, 0.1], &[3]);
    let p = fairllm::consistency_penalty(&[a, b]).double_value(&[]);
    assert!((p - 0.2).abs() < 1e-6, "{p}");
}

#[test]
fn fairllm_penalty_over_three_groups_is_the_mean_over_all_three_pairs() {
    let a = t(&[0.2, 0.9], &[2]);
    let b = t(&[0.4, 0.9], &[2]);
    let c = t(&[0.8, 0.3], &[2]);
    // |a−b| = (0.2, 0), |a−c| = (0.6, 0.6), |b−c| = (0.4, 0.6): batch means 0.1, 0.6, 0.5.
    let p = fairllm::consistency_penalty(&[a, b, c]).double_value(&[]);
    assert!((p - 0.4).abs() < 1e-6, "{p}");
}

#[test]
fn up5_alternation_changes_both_the_discriminator_and_the_prompt() {
    let (_d, mut bb, tok) = tiny(TinyArch::T5);
    let s = setup(bb.as_ref(), &tok);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let c = methods::normalize(&json!({"name": "up5", "tokens": 2, "hidden": 4})).unwrap();
    let (m, _) = methods::build(&c, &s, bb.as_mut(), &vs).unwrap();
    let snap = |vs: &tch::nn::VarStore| -> Vec<(String, Tensor)> {
        let mut v: Vec<_> = vs
            .variables()
            .into_iter()
            .map(|(n, t)| (n, t.copy()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let before = snap(&vs);
    let train = examples(&tok, 16, 1);
    let valid = examples(&tok, 8, 2);
    let data = TrainData {
        train: &train,
        valid: &valid,
        answer: tok.answer_ids("Yes", "No").unwrap(),
        pad_id: tok.pad_id(),
    };
    let out = mosx_methods::train(
        m.as_ref(),
        bb.as_ref(),
        &vs,
        &data,
        &adafactor_config(1, 1e-2),
        None,
        &auc,
        &Quiet,
    )
    .unwrap();
    let after = snap(&vs);
    let moved = |prefix: &str| {
        before
            .iter()
            .zip(&after)
            .filter(|((n, a), (_, b))| n.starts_with(prefix) && !a.equal(b))
            .count()
    };
    assert!(moved("up5.disc") > 0, "the discriminator never moved");
    assert!(moved("up5.prompt") > 0, "the prompt never moved");
    // Steps alternate: discriminator steps log `disc` only, prompt steps `rec` and `adv`.
    for s in &out.log.steps {
        let keys: Vec<&str> = s.parts.keys().map(String::as_str).collect();
        if s.step % 2 == 0 {
            assert_eq!(keys, ["disc"], "step {}", s.step);
        } else {
            assert_eq!(keys, ["adv", "rec"], "step {}", s.step);
        }
    }
}

#[test]
fn the_no_op_check_fires_on_an_adapter_that_never_moves() {
    let (_d, mut bb, tok) = tiny(TinyArch::Gemma3);
    let s = setup(bb.as_ref(), &tok);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let c = methods::normalize(&json!("lora")).unwrap();
    let (m, _) = methods::build(&c, &s, bb.as_mut(), &vs).unwrap();
    let train = examples(&tok, 8, 1);
    let valid = examples(&tok, 8, 2);
    let data = TrainData {
        train: &train,
        valid: &valid,
        answer: tok.answer_ids("Yes", "No").unwrap(),
        pad_id: tok.pad_id(),
    };
    // lr 0: LoRA's B stays zero, so the adapter is the identity.
    match mosx_methods::train(
        m.as_ref(),
        bb.as_ref(),
        &vs,
        &data,
        &adafactor_config(1, 0.0),
        None,
        &auc,
        &Quiet,
    ) {
        Err(MethodError::NoOp { method, .. }) => assert_eq!(method, "lora"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a zero adapter passed the no-op check"),
    }
}

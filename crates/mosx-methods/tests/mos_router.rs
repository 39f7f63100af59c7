//! MoS's router learns (METHOD.md §5): with the top-K probabilities kept as they are, the
//! router gets the loss's true gradient; with the `renormalize` ablation at K = 1 it gets
//! exactly none (why the default changed); a short training moves it by that gradient; and
//! the routing internals reach the log and the train stage's metrics, for MoS only.

mod common;
use common::{auc, config, examples, setup, tiny};

use serde_json::{json, Value};
use tch::{nn, Device, Tensor};

use mosx_methods::batch::Batch;
use mosx_methods::losses::train_p_h;
use mosx_methods::trainer::{batch_loss, Quiet};
use mosx_methods::{methods, Example, Method, Objective, Outcome, TrainData};
use mosx_models::tiny::TinyArch;
use mosx_models::tokenizer::{pad_batch, TextTokenizer};
use mosx_models::Backbone;

/// A tiny backbone of `arch` with the method of `spec` built on it.
struct Rig {
    _dir: tempfile::TempDir,
    bb: Box<dyn Backbone>,
    tok: TextTokenizer,
    vs: nn::VarStore,
    m: Box<dyn Method>,
}

fn rig(arch: TinyArch, spec: Value) -> Rig {
    let (dir, mut bb, tok) = tiny(arch);
    let s = setup(bb.as_ref(), &tok);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = methods::normalize(&spec).unwrap();
    let (m, _) = methods::build(&cfg, &s, bb.as_mut(), &vs).unwrap();
    Rig {
        _dir: dir,
        bb,
        tok,
        vs,
        m,
    }
}

impl Rig {
    fn var(&self, name: &str) -> Tensor {
        self.vs.variables()[name].shallow_clone()
    }
    fn batch(&self, ex: &[Example]) -> Batch {
        let idx: Vec<usize> = (0..ex.len()).collect();
        Batch::new(ex, &idx, self.tok.pad_id(), None, false, Device::Cpu)
    }
    /// The MoS loss (`rec+fair+div`) of `ex` as one batch.
    fn loss(&self, ex: &[Example], train: bool) -> Tensor {
        let cfg = config(Objective::RecFairDiv, 1e-2, 1);
        let answer = self.tok.answer_ids("Yes", "No").unwrap();
        let p_h = train_p_h(ex, 2);
        batch_loss(
            self.m.as_ref(),
            self.bb.as_ref(),
            &self.batch(ex),
            answer,
            &p_h,
            &cfg,
            1,
            train,
        )
        .0
    }
    /// Router probabilities `[G, N, E]` of `ex` (no gradient).
    fn router_probs(&self, ex: &[Example]) -> Tensor {
        let _g = tch::no_grad_guard();
        let tb = pad_batch(
            &ex.iter().map(|e| e.ids.clone()).collect::<Vec<_>>(),
            self.tok.pad_id(),
        );
        let embeds = self.bb.embed(&tb.input_ids);
        Tensor::stack(
            &self.m.router_probs(&embeds, &tb.attention_mask).unwrap(),
            0,
        )
    }
    fn train(&self, train: &[Example], valid: &[Example], epochs: usize) -> Outcome {
        let data = TrainData {
            train,
            valid,
            answer: self.tok.answer_ids("Yes", "No").unwrap(),
            pad_id: self.tok.pad_id(),
        };
        let objective = methods::entry(self.m.name()).unwrap().default_objective;
        let cfg = config(objective, 3e-2, epochs);
        mosx_methods::train(
            self.m.as_ref(),
            self.bb.as_ref(),
            &self.vs,
            &data,
            &cfg,
            None,
            &auc,
            &Quiet,
        )
        .unwrap()
    }
}

/// L2 norm of a tensor's grad (0 when undefined).
fn grad_norm(t: &Tensor) -> f64 {
    let g = t.grad();
    if g.defined() {
        g.norm().double_value(&[])
    } else {
        0.0
    }
}

#[test]
fn the_router_gets_a_gradient_unless_top1_renormalises() {
    for arch in [TinyArch::Gemma3, TinyArch::T5] {
        for (routing, renormalize) in [
            (json!({"routing": "top1"}), false),
            (json!({"routing": "top2"}), false),
            (json!({"routing": "stochastic"}), false),
            (json!({"routing": "stochastic", "k": 2}), false),
            (json!({"routing": "top2"}), true),
            (json!({"routing": "top1"}), true),
        ] {
            let mut spec =
                json!({"name": "mos", "experts": 3, "tokens": 2, "renormalize": renormalize});
            spec.as_object_mut()
                .unwrap()
                .extend(routing.as_object().unwrap().clone());
            let r = rig(arch, spec.clone());
            let ex = examples(&r.tok, 8, 1);
            tch::manual_seed(0);
            r.loss(&ex, true).backward();
            let w = grad_norm(&r.var("mos.router.weight"));
            let b = grad_norm(&r.var("mos.router.bias"));
            let experts = grad_norm(&r.var("mos.experts"));
            eprintln!(
                "{arch:?} {spec}: |grad W_r| = {w:e}, |grad b_r| = {b:e}, |grad P| = {experts:e}"
            );
            assert!(experts > 0.0, "{arch:?} {spec}: the loss reached no expert");
            if renormalize && spec["routing"] == "top1" {
                // p~ = p_i / p_i = 1: not a rounding residue, exactly nothing.
                assert_eq!((w, b), (0.0, 0.0), "{arch:?} {spec}");
            } else {
                assert!(
                    w > 1e-6 && w.is_finite(),
                    "{arch:?} {spec}: |grad W_r| = {w:e}"
                );
            }
        }
    }
}

/// The router's gradient is the loss's derivative, not noise: a central finite difference
/// of the (deterministic, evaluation-mode) MoS loss along the gradient's direction equals
/// the gradient's norm (to 5%). On tiny Gemma-3 only: tiny T5's router derivative (~6e-5,
/// its output barely reads the soft prompt) is below what finite differences of an f32 T5
/// loss resolve (they wander between 2e-5 and 2e-4 with the step); its gradient being
/// non-zero is checked above.
#[test]
fn the_router_gradient_matches_a_finite_difference_of_the_loss() {
    {
        let arch = TinyArch::Gemma3;
        let r = rig(arch, json!({"name": "mos", "experts": 3, "tokens": 2}));
        let ex = examples(&r.tok, 8, 1);
        r.loss(&ex, false).backward();
        let w = r.var("mos.router.weight");
        let g = w.grad().copy();
        let norm = g.norm().double_value(&[]);
        let dir = &g / norm;
        // A step (in weight space; the weights are ~0.2) whose loss change, 2·h·|g| ≈ 1e-4,
        // is far above the f32 resolution of a loss near 3.5 (2.4e-7) and the loss's own
        // rounding, while the central difference's O(h²) error stays small.
        let h = 0.05;
        let at = |step: f64| {
            let _ng = tch::no_grad_guard();
            let mut v = w.shallow_clone();
            v += &dir * step;
            let l = r.loss(&ex, false).double_value(&[]);
            v -= &dir * step;
            l
        };
        let fd = (at(h) - at(-h)) / (2.0 * h);
        eprintln!("{arch:?}: |grad W_r| = {norm:e}, finite difference {fd:e}");
        assert!(
            (fd - norm).abs() <= 0.05 * norm,
            "{arch:?}: finite difference {fd:e} vs gradient norm {norm:e}"
        );
    }
}

/// Adam-type optimizers turn any non-zero gradient, even a rounding residue, into an
/// lr-sized step, so "the router moved" alone proves nothing. The check pairs two
/// trainings from the same initial state on the same data: the default (top-1, kept as
/// is), whose logged router gradient norm is positive in every epoch and whose router
/// moves, and the `renormalize: true` control, whose router gradient is exactly zero: its
/// router stays bitwise at its initial values (no weight decay), its logged norm is 0 and
/// its validation routing probabilities do not change. With the finite-difference test
/// above (the gradient is the loss's own derivative), the default's movement is learning
/// driven by the loss, not noise.
#[test]
fn a_short_mos_training_moves_the_router_by_its_gradient_and_renormalised_top1_does_not() {
    for renormalize in [false, true] {
        let r = rig(
            TinyArch::Gemma3,
            json!({"name": "mos", "experts": 3, "tokens": 4, "renormalize": renormalize}),
        );
        let train = examples(&r.tok, 64, 1);
        let valid = examples(&r.tok, 32, 2);
        let w0 = r.var("mos.router.weight").copy();
        let b0 = r.var("mos.router.bias").copy();
        let p0 = r.router_probs(&valid);
        let out = r.train(&train, &valid, 2);
        let metrics: std::collections::BTreeMap<String, f64> = out
            .log
            .internal_metrics(&["male".into(), "female".into()])
            .into_iter()
            .collect();
        let mean = metrics["router_grad_norm.mean"];
        let per_epoch: Vec<f64> = (0..2)
            .map(|e| metrics[&format!("router_grad_norm.epoch.{e}")])
            .collect();
        let moved = (r.var("mos.router.weight") - &w0)
            .abs()
            .max()
            .double_value(&[]);
        let dp = (r.router_probs(&valid) - &p0).abs().max().double_value(&[]);
        eprintln!(
            "renormalize {renormalize}: router_grad_norm.mean {mean:e}, per epoch {per_epoch:?}, \
             max |ΔW_r| {moved:e}, max |Δp| on valid {dp:e}"
        );
        if renormalize {
            assert_eq!(mean, 0.0);
            assert!(r.var("mos.router.weight").equal(&w0));
            assert!(r.var("mos.router.bias").equal(&b0));
            assert_eq!(dp, 0.0);
        } else {
            assert!(per_epoch.iter().all(|&n| n > 1e-6), "{per_epoch:?}");
            assert!(moved > 0.0, "the router never moved");
            assert!(
                dp > 1e-4,
                "the validation routing probabilities did not change: {dp:e}"
            );
        }
    }
}

#[test]
fn routing_metrics_are_named_for_mos_and_absent_for_prompt_tuning() {
    let groups = ["male".to_string(), "female".to_string()];
    let r = rig(
        TinyArch::Gemma3,
        json!({"name": "mos", "experts": 3, "tokens": 2}),
    );
    let train = examples(&r.tok, 24, 1);
    let valid = examples(&r.tok, 16, 2);
    let out = r.train(&train, &valid, 2);
    let m: std::collections::BTreeMap<String, f64> =
        out.log.internal_metrics(&groups).into_iter().collect();
    for prefix in ["routing.valid", "routing.base.valid", "routing.train"] {
        for g in &groups {
            let row: Vec<f64> = (0..3).map(|e| m[&format!("{prefix}.{g}.e{e}")]).collect();
            assert!(
                (row.iter().sum::<f64>() - 1.0).abs() < 1e-9 && row.iter().all(|&s| s >= 0.0),
                "{prefix}.{g}: {row:?}"
            );
        }
        assert!(
            !m.contains_key(&format!("{prefix}.male.e3")),
            "only 3 experts"
        );
    }
    // Epochs 0-based, as the runner's `epoch.<E>.train_loss`.
    assert!(
        m.contains_key("router_grad_norm.epoch.0") && m.contains_key("router_grad_norm.epoch.1")
    );
    assert!(!m.contains_key("router_grad_norm.epoch.2") && m["router_grad_norm.mean"] > 0.0);
    // The kept epoch's tables are the log's, and the log has one per epoch.
    let kept = out.log.kept_epoch().unwrap().routing.as_ref().unwrap();
    assert_eq!(m["routing.valid.female.e1"], kept.valid[1][1]);
    assert!(out.log.epochs.iter().all(|e| e.routing.is_some()));
    let share = |g: usize| {
        let of: Vec<&Example> = train.iter().filter(|e| e.user_group == g).collect();
        of.iter().map(|e| e.history_share[g]).sum::<f64>() / of.len() as f64
    };
    assert!((m["train_p_h.male"] - share(0)).abs() < 1e-12);
    assert!((m["train_p_h.female"] - share(1)).abs() < 1e-12);

    let p = rig(
        TinyArch::Gemma3,
        json!({"name": "prompt_tuning", "tokens": 2}),
    );
    let out = p.train(&train, &valid, 1);
    let names: Vec<String> = out
        .log
        .internal_metrics(&groups)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with("routing") && !n.contains("grad_norm")),
        "{names:?}"
    );
    assert!(out
        .log
        .epochs
        .iter()
        .all(|e| e.routing.is_none() && e.grad_norms.is_empty()));
}

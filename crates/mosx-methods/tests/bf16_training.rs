//! Mixed-precision training on a tiny random Gemma-3 (2 layers, d 32): the backbone in bf16,
//! the trainable parameters and the optimizer state in f32, against the same steps with the
//! backbone in f32 on the same (bf16-rounded) weights; bounds derived, not tuned.
//!
//! Derivation (u = 2^-8, bf16's unit roundoff; see `mosx-models/tests/bf16_parity.rs` for
//! the logit bound `B_z = n u ‖h‖ ‖w‖`, `n = 20 L + 2` rounding sites; here `‖h‖ ≤ √d
//! max|1 + w_norm|`, since the final RMSNorm output has RMS 1 before its `(1 + w)` scale, and
//! `‖w‖` is the largest answer row):
//! * At equal parameters the pair loss `softplus(z_other − z_label)` moves by at most
//!   `|Δz_yes| + |Δz_no| ≤ 2 B_z` (its derivative in the logit difference is below 1).
//! * The parameters drift apart by at most what Adam can move them. Step t's update of a
//!   coordinate is `η m̂/(√v̂ + ε)` with `m̂ = (1−β1)/(1−β1^t) Σ β1^k g_{t−k}` and
//!   `v̂ = (1−β2)/(1−β2^t) Σ β2^k g²_{t−k}`; by Cauchy–Schwarz
//!   `|m̂|/√v̂ ≤ c_t = (1−β1)/(1−β1^t) · √((1−β2^t)/(1−β2)) · √(Σ_{k<t} (β1²/β2)^k)`
//!   (1 at t = 1; ε only shrinks it; clipping rescales g, which Adam's ratio ignores), plus
//!   the decoupled decay `η λ |θ|`, for each of the two runs: so
//!   `‖Δθ_t‖∞ ≤ ‖Δθ_0‖∞ + 2 η Σ_s (c_s + λ max|θ|)`.
//! * So step t's losses differ by at most `2 B_z + ‖g_t‖₁ ‖Δθ_t‖∞` to first order in the
//!   drift (g_t the f32 run's gradient), the bound checked at every step.

mod common;

use tch::{nn, Device, Kind, Tensor};

use mosx_methods::batch::Batch;
use mosx_methods::losses::{train_p_h, RecLoss};
use mosx_methods::methods::{build, normalize};
use mosx_methods::optim::Optimizer;
use mosx_methods::trainer::batch_loss;
use mosx_methods::{Method, Objective};
use mosx_models::checkpoint::Checkpoint;
use mosx_models::tiny::{write_tiny, TinyArch};
use mosx_models::tokenizer::TextTokenizer;
use mosx_models::{load_backbone, Backbone};

const U: f64 = 1.0 / 256.0;
const SITES_PER_LAYER: f64 = 20.0;
const LR: f64 = 1e-2;
const STEPS: usize = 12;

/// One side of the comparison: its backbone, method, adapter store and optimizer.
struct Run {
    bb: Box<dyn Backbone>,
    method: Box<dyn Method>,
    _adapter: nn::VarStore,
    opt: Optimizer,
    params: Vec<(String, Tensor)>,
}

fn run(dir: &std::path::Path, kind: Kind, tok: &TextTokenizer) -> Run {
    let ck = Checkpoint::from_dir(dir).unwrap();
    let mut bb = load_backbone(&ck, Device::Cpu, kind).unwrap();
    if kind == Kind::Float {
        let _g = tch::no_grad_guard();
        for (_, mut v) in bb.var_store_mut().variables() {
            let r = v.to_kind(Kind::BFloat16).to_kind(Kind::Float);
            v.copy_(&r);
        }
    }
    let cfg = normalize(&serde_json::json!({"name": "prompt_tuning", "tokens": 4})).unwrap();
    let adapter = nn::VarStore::new(Device::Cpu);
    let setup = common::setup(bb.as_ref(), tok);
    let (method, _) = build(&cfg, &setup, bb.as_mut(), &adapter).unwrap();
    let params = method.trainable(bb.as_ref(), &adapter);
    let tcfg = common::config(Objective::Rec, LR, 1);
    let opt = Optimizer::new(
        tcfg.optim.clone(),
        params
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect(),
    )
    .unwrap();
    Run {
        bb,
        method,
        _adapter: adapter,
        opt,
        params,
    }
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

#[test]
fn bf16_training_keeps_f32_masters_and_its_loss_within_the_derived_bound() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny(dir.path(), TinyArch::Gemma3, common::WORDS, 7).unwrap();
    let ck = Checkpoint::from_dir(dir.path()).unwrap();
    let tok = TextTokenizer::from_file(&ck.tokenizer_file).unwrap();
    let (mut r32, mut r16) = (
        run(dir.path(), Kind::Float, &tok),
        run(dir.path(), Kind::BFloat16, &tok),
    );
    assert_eq!(r16.bb.kind(), Kind::BFloat16);
    for (name, p) in &r16.params {
        assert_eq!(
            p.kind(),
            Kind::Float,
            "{name}: trainable parameters stay f32 (master weights)"
        );
    }
    // The logit bound from frozen quantities: ‖h‖ ≤ √d max|1 + w_norm|, the answer rows' norms.
    let vars = r32.bb.var_store().variables();
    let norm_w = vars
        .iter()
        .find(|(n, _)| n.as_str() == "model.norm.weight")
        .unwrap()
        .1
        .shallow_clone();
    let answer = tok.answer_ids("Yes", "No").unwrap();
    let emb = &vars
        .iter()
        .find(|(n, _)| n.ends_with("embed_tokens.weight"))
        .unwrap()
        .1;
    let w = emb.index_select(0, &Tensor::from_slice(&answer));
    let d = r32.bb.hidden_size() as f64;
    let h_norm = d.sqrt() * max_abs(&(norm_w + 1.0));
    let w_norm = w.norm_scalaropt_dim(2, [1], false).max().double_value(&[]);
    let layers = ck.config["num_hidden_layers"].as_f64().unwrap();
    let b_z = (SITES_PER_LAYER * layers + 2.0) * U * h_norm * w_norm;

    let examples = common::examples(&tok, 48, 3);
    let cfg = mosx_methods::TrainConfig {
        rec_loss: RecLoss::Pair,
        ..common::config(Objective::Rec, LR, 1)
    };
    let p_h = train_p_h(&examples, 2);
    let index: Vec<usize> = (0..examples.len()).collect();
    let theta_max = |r: &Run| r.params.iter().map(|(_, t)| max_abs(t)).fold(0.0, f64::max);
    let drift0 = drift(&r32, &r16);
    let mut a_priori = drift0;
    for step in 0..STEPS {
        let idx = &index[(step * 8) % examples.len()..][..8];
        let batch = Batch::new(&examples, idx, tok.pad_id(), None, false, Device::Cpu);
        let mut losses = [0.0; 2];
        let mut g1 = 0.0;
        for (k, r) in [&mut r32, &mut r16].into_iter().enumerate() {
            r.opt.zero_grad().unwrap();
            let (loss, _) = batch_loss(
                r.method.as_ref(),
                r.bb.as_ref(),
                &batch,
                answer,
                &p_h,
                &cfg,
                step,
                true,
            );
            losses[k] = loss.double_value(&[]);
            loss.backward();
            if k == 0 {
                g1 = r
                    .params
                    .iter()
                    .map(|(_, t)| t.grad().abs().sum(Kind::Double).double_value(&[]))
                    .sum();
            }
        }
        let dtheta = drift(&r32, &r16);
        let bound = 2.0 * b_z + g1 * dtheta;
        let dl = (losses[0] - losses[1]).abs();
        println!("step {step}: loss f32 {:.5} bf16 {:.5} |Δ| {dl:.2e} <= {bound:.2e}; ‖Δθ‖∞ {dtheta:.2e} <= {a_priori:.2e}", losses[0], losses[1]);
        assert!(
            dl <= bound,
            "step {step}: |ΔL| {dl} above 2 B_z + ‖g‖₁ ‖Δθ‖∞ = {bound}"
        );
        assert!(
            dtheta <= a_priori * (1.0 + 1e-6),
            "step {step}: drift {dtheta} above Adam's bound {a_priori}"
        );
        let decay = cfg.optim.weight_decay * theta_max(&r32).max(theta_max(&r16));
        for r in [&mut r32, &mut r16] {
            r.opt.clip_grad_norm(cfg.max_grad_norm);
            r.opt.step(LR);
        }
        a_priori +=
            2.0 * LR * (adam_ratio_bound(cfg.optim.beta1, cfg.optim.beta2, step + 1) + decay);
    }
    assert!(
        drift(&r32, &r16) > 0.0,
        "bf16 and f32 trained identically: is bf16 running?"
    );
    for (name, p) in &r16.params {
        assert_eq!(p.kind(), Kind::Float, "{name} after training");
    }
    for (name, t) in r16.opt.state() {
        assert!(
            matches!(t.kind(), Kind::Float | Kind::Int64),
            "optimizer state {name}: {:?}",
            t.kind()
        );
    }
}

/// `c_t`, the Cauchy–Schwarz bound of Adam's `|m̂| / √v̂` at step `t` (1-based; module note).
fn adam_ratio_bound(b1: f64, b2: f64, t: usize) -> f64 {
    let t = t as i32;
    let gamma = b1 * b1 / b2;
    let sum: f64 = (0..t).map(|k| gamma.powi(k)).sum();
    (1.0 - b1) / (1.0 - b1.powi(t)) * ((1.0 - b2.powi(t)) / (1.0 - b2)).sqrt() * sum.sqrt()
}

/// ‖θ_f32 − θ_bf16‖∞ over the trainable parameters.
fn drift(a: &Run, b: &Run) -> f64 {
    a.params
        .iter()
        .zip(&b.params)
        .map(|((_, x), (_, y))| max_abs(&(x - y)))
        .fold(0.0, f64::max)
}

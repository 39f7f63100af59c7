//! The optimizer tests' fixtures: the reference protocol's parameters and gradients (see
//! the reference numbers in `optim.rs`), the configs under test, state snapshots and a
//! driver of several steps.

use std::collections::HashMap;

use mosx_methods::optim::{OptimConfig, Optimizer, OptimizerKind};
use tch::{Kind, Tensor};

/// The reference protocol's parameter shapes (`w`, `b`, `t`).
pub const SHAPES: [&[i64]; 3] = [&[3, 4], &[4], &[2, 2, 3]];

pub fn numel(shape: &[i64]) -> i64 {
    shape.iter().product()
}

pub fn init(c: i64, shape: &[i64], kind: Kind) -> Tensor {
    let v: Vec<f64> = (0..numel(shape))
        .map(|i| ((i * 5 + c) % 13 - 6) as f64 / 8.0)
        .collect();
    Tensor::from_slice(&v)
        .reshape(shape)
        .to_kind(kind)
        .set_requires_grad(true)
}

pub fn grad(c: i64, shape: &[i64], k: i64, kind: Kind) -> Tensor {
    let v: Vec<f64> = (0..numel(shape))
        .map(|i| ((i * 7 + 3 * k + c) % 11 - 5) as f64 / 4.0 * (1 + i % 3) as f64)
        .collect();
    Tensor::from_slice(&v).reshape(shape).to_kind(kind)
}

/// Sets `p.grad` to `g` exactly (the gradient of `sum(p * g)`) for every pair.
pub fn set_grads(pairs: &[(&Tensor, &Tensor)]) {
    let loss = pairs
        .iter()
        .map(|(p, g)| (*p * *g).sum(Kind::Double))
        .fold(Tensor::from(0.0f64), |a, b| a + b);
    loss.backward();
}

pub fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach().to_kind(Kind::Double).flatten(0, -1)).expect("values")
}

pub fn params(kind: Kind) -> Vec<(String, Tensor)> {
    ["w", "b", "t"]
        .iter()
        .zip(SHAPES)
        .enumerate()
        .map(|(c, (n, s))| (n.to_string(), init(c as i64, s, kind)))
        .collect()
}

pub fn adamw_cfg() -> OptimConfig {
    OptimConfig {
        weight_decay: 0.01,
        ..OptimConfig::for_kind(OptimizerKind::Adamw)
    }
}

pub fn adafactor_full_cfg() -> OptimConfig {
    OptimConfig {
        beta1: 0.9,
        weight_decay: 0.1,
        scale_parameter: true,
        ..OptimConfig::default()
    }
}

pub fn all_configs() -> Vec<OptimConfig> {
    vec![adamw_cfg(), OptimConfig::default(), adafactor_full_cfg()]
}

pub fn copy_map(m: &HashMap<String, Tensor>) -> HashMap<String, Tensor> {
    m.iter().map(|(n, t)| (n.clone(), t.copy())).collect()
}

pub fn snapshot(opt: &Optimizer) -> HashMap<String, Tensor> {
    opt.state()
        .into_iter()
        .map(|(n, t)| (n, t.copy()))
        .collect()
}

/// Params whose values equal `ps`'s, as fresh leaves.
pub fn clone_params(ps: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    ps.iter()
        .map(|(n, t)| (n.clone(), t.detach().copy().set_requires_grad(true)))
        .collect()
}

pub fn drive(opt: &mut Optimizer, ps: &[(String, Tensor)], steps: std::ops::Range<i64>) {
    for k in steps {
        opt.zero_grad().expect("zero_grad");
        let grads: Vec<Tensor> = ps
            .iter()
            .enumerate()
            .map(|(c, (_, p))| grad(c as i64, &p.size(), k, p.kind()) * (1.0 + 0.1 * k as f64))
            .collect();
        // Leave `b` without gradient at step 2, so the step counts differ between params.
        let pairs: Vec<(&Tensor, &Tensor)> = ps
            .iter()
            .zip(&grads)
            .filter(|((n, _), _)| !(k == 2 && n == "b"))
            .map(|((_, p), g)| (p, g))
            .collect();
        set_grads(&pairs);
        opt.step(0.01 + 0.001 * k as f64);
    }
}

/// The optimizer's own parameter tensors (shallow clones), by name, in `ps`'s order.
pub fn opt_params(opt: &Optimizer, ps: &[(String, Tensor)]) -> Vec<(String, Tensor)> {
    let names: Vec<&str> = opt.params().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ps.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
    );
    opt.params()
        .map(|(n, t)| (n.to_string(), t.shallow_clone()))
        .collect()
}

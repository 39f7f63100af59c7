//! `matrix:` stages: expansion of 1-, 2- and 3-axis matrices, map values, `exclude`, located
//! errors (named with the template and the combination), `extends`, `--set`, sweeps, claims,
//! reports and determinism. The tests are by topic: `expansion` (what a matrix expands to),
//! `errors` (located errors) and `compose` (with `extends`, `--set`, sweeps, claims and
//! reports); this file holds the specs and lookups they share.
#[path = "../common/mod.rs"]
mod common;

mod compose;
mod errors;
mod expansion;

use mosx_spec::{Spec, StageDecl};

/// 1-based (line, col) of the first occurrence of `needle` in `text`.
fn pos(text: &str, needle: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        if let Some(c) = line.find(needle) {
            return (i + 1, c + 1);
        }
    }
    panic!("`{needle}` not in the text")
}

fn names(spec: &Spec) -> Vec<&str> {
    spec.instances[0]
        .stages
        .iter()
        .map(|s| s.name.as_str())
        .collect()
}

fn stage<'a>(spec: &'a Spec, name: &str) -> &'a StageDecl {
    spec.instances[0]
        .stages
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stage `{name}`"))
}

const TABLE: &str = "\
vars: { model: m, seed: 0 }
stages:
  ml_split:
    kind: split
  ml_train_${method}:
    matrix: { method: [ifairlrs, up5, fairllm, mos] }
    kind: train
    inputs: { split: ml_split }
    params: { model: \"${model}\", method: \"${method}\", seed: \"${seed}\" }
  ml_eval_${method}_${setting}:
    matrix: { method: [ifairlrs, up5, fairllm, mos], setting: [implicit, explicit, counterfactual] }
    kind: evaluate
    inputs:
      split: ml_split
      adapter: ml_train_${method}
    params: { model: \"${model}\", setting: \"${setting}\" }
  ml_report:
    kind: metrics
    inputs: { predictions: ml_eval_mos_implicit }
";

const MAPS: &str = "\
stages:
  ml_split: { kind: split }
  ml_train_${method.id}:
    matrix:
      method:
        - { id: mos_rec, name: mos, objective: rec }
        - { id: mos, name: mos, objective: rec+fair }
        - { id: full_fair, name: full, objective: rec+fair, extra: { lr: 0.001 } }
    kind: train
    inputs: { split: ml_split }
    params: { method: \"${method.name}\", objective: \"${method.objective}\", all: \"${method}\" }
";

const BASE: &str = "\
vars: { model: m }
stages:
  ml_split: { kind: split }
  ml_eval_${method}_${setting}:
    matrix: { method: [mos, up5], setting: [implicit, explicit] }
    kind: evaluate
    inputs: { split: ml_split }
    params: { model: \"${model}\", setting: \"${setting}\" }
";

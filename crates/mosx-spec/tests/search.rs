//! `sweep.search` / `sweep.space` / `sweep.objective`: parsing, located errors with
//! suggestions, search groups per grid point, and trials expanded into instances.
mod common;

use common::{at, err, ok, Dir};
use mosx_search::{Direction, Dist, Method};
use mosx_spec::{Trial, TrialRef};
use serde_json::json;

fn spec(sweep: &str) -> String {
    format!(
        "\
vars: {{ seed: 0, z: 1.0, windows: 100 }}
stages:
  ml_load:
    kind: load
    params: {{ path: data }}
  ml_measure:
    kind: measure
    inputs: {{ samples: ml_load }}
    params: {{ z_star: \"${{z}}\", seed: \"${{seed}}\", windows: \"${{windows}}\" }}
sweep:
{sweep}"
    )
}

const SEARCH: &str = "  grid: { vars.windows: [100, 200] }
  seeds: [0, 1]
  search: { method: tpe, trials: 4, seed: 7, startup: 2 }
  space:
    vars.z: { loguniform: [0.5, 2.0] }
    stages.ml_measure.params.kind: { choice: [a, b] }
  objective: { stage: ml_measure, metric: F, direction: min }
";

#[test]
fn a_search_declares_method_space_and_objective() {
    let d = Dir::new();
    let s = ok(&d.write("s.yaml", &spec(SEARCH)), &[]);
    let decl = s.search.as_ref().expect("a search");
    assert_eq!(decl.search.method, Method::Tpe);
    assert_eq!(
        (decl.trials, decl.search.seed, decl.search.startup),
        (4, 7, 2)
    );
    assert_eq!(decl.paths, ["vars.z", "stages.ml_measure.params.kind"]);
    assert_eq!(decl.search.space[0], Dist::LogUniform { lo: 0.5, hi: 2.0 });
    assert_eq!(decl.search.direction, Direction::Min);
    assert_eq!(
        (
            decl.objective.stage.as_str(),
            decl.objective.metric.as_str()
        ),
        ("ml_measure", "F")
    );
    // The loaded spec's instances are the grid points, searched paths at their lower bound.
    assert_eq!(s.instances.len(), 4);
    assert_eq!(s.instances[0].stages[1].params["z_star"], json!(0.5));
    assert!(s.instances.iter().all(|i| i.trial.is_none()));
}

#[test]
fn a_search_runs_per_grid_point_over_its_replicates() {
    let d = Dir::new();
    let s = ok(&d.write("s.yaml", &spec(SEARCH)), &[]);
    assert_eq!(s.search_groups(), [vec![0, 1], vec![2, 3]]);
    let t = s
        .with_trials(&[Trial {
            group: 1,
            index: 3,
            values: vec![json!(1.25), json!("b")],
            prune: None,
        }])
        .unwrap();
    assert_eq!(t.instances.len(), 2, "one instance per seed of the group");
    for (inst, seed) in t.instances.iter().zip([0, 1]) {
        let m = &inst.stages[1].params;
        assert_eq!(m["z_star"], json!(1.25));
        assert_eq!(m["kind"], json!("b"));
        assert_eq!(m["windows"], json!(200));
        assert_eq!(m["seed"], json!(seed));
        assert_eq!(inst.trial, Some(TrialRef { group: 1, index: 3 }));
        assert_eq!(inst.point["vars.z"], json!(1.25));
    }
    assert!(t
        .sweep_paths
        .ends_with(&["vars.z".into(), "stages.ml_measure.params.kind".into()]));
    let e = t.error_at_instance(0, "vars.z", "bad", None);
    assert_eq!((e.line, e.col), (15, 5), "at the space entry: {e}");
}

#[test]
fn search_keys_and_values_are_strict_and_located() {
    let d = Dir::new();
    let cases: &[(&str, (usize, usize, &str), &str, Option<&str>)] = &[
        (
            "  search: { method: tpe, trails: 4 }\n  space: { vars.z: { uniform: [0, 1] } }\n  objective: { stage: ml_measure, metric: F, direction: max }\n",
            (11, 26, "sweep.search.trails"),
            "unknown field",
            Some("trials"),
        ),
        (
            "  search: { method: grid, trials: 4 }\n  space: { vars.z: { uniform: [0, 1] } }\n  objective: { stage: ml_measure, metric: F, direction: max }\n",
            (11, 21, "sweep.search.method"),
            "not one of random, tpe",
            None,
        ),
        (
            "  search: { method: random, trials: 4 }\n  space: { vars.z: { loguniforn: [1, 2] } }\n  objective: { stage: ml_measure, metric: F, direction: max }\n",
            (12, 22, "sweep.space.vars.z.loguniforn"),
            "unknown distribution",
            Some("loguniform"),
        ),
        (
            "  search: { method: random, trials: 4 }\n  space: { vars.z: { loguniform: [0, 2] } }\n  objective: { stage: ml_measure, metric: F, direction: max }\n",
            (12, 34, "sweep.space.vars.z.loguniform"),
            "above 0",
            None,
        ),
        (
            "  search: { method: random, trials: 4 }\n  space: { vars.zz.q: { int: [1, 3] } }\n  objective: { stage: ml_measure, metric: F, direction: max }\n",
            (12, 12, "sweep.space.vars.zz.q"),
            "`vars.zz` does not exist",
            Some("vars.z.q"),
        ),
        (
            "  search: { method: random, trials: 0 }\n  space: { vars.z: { int: [1, 3] } }\n  objective: { stage: ml_measure, metric: F, direction: max }\n",
            (11, 37, "sweep.search.trials"),
            "integer >= 1",
            None,
        ),
        (
            "  search: { method: random, trials: 2, startup: 1 }\n  space: { vars.z: { int: [1, 3] } }\n  objective: { stage: ml_measure, metric: F, direction: max }\n",
            (11, 49, "sweep.search.startup"),
            "method: tpe",
            None,
        ),
        (
            "  search: { method: random, trials: 2 }\n  space: { vars.z: { int: [1, 3] } }\n  objective: { stage: ml_mesure, metric: F, direction: max }\n",
            (13, 23, "sweep.objective.stage"),
            "no stage `ml_mesure`",
            Some("ml_measure"),
        ),
        (
            "  search: { method: random, trials: 2 }\n  space: { vars.z: { int: [1, 3] } }\n  objective: { stage: ml_measure, metric: F, direction: up }\n",
            (13, 57, "sweep.objective.direction"),
            "not one of max, min",
            None,
        ),
        (
            "  search: { method: random, trials: 2 }\n  space: { vars.z: { int: [1, 3] } }\n",
            (11, 3, "sweep.search"),
            "`objective` missing",
            None,
        ),
        (
            "  grid: { vars.z: [1, 2] }\n  search: { method: random, trials: 2 }\n  space: { vars.z: { int: [1, 3] } }\n  objective: { stage: ml_measure, metric: F, direction: max }\n",
            (13, 12, "sweep.space.vars.z"),
            "both a grid path and searched",
            None,
        ),
        (
            "  serach: { method: random, trials: 2 }\n",
            (11, 3, "sweep.serach"),
            "unknown field",
            Some("search"),
        ),
    ];
    for (i, (sweep, where_, msg, hint)) in cases.iter().enumerate() {
        let p = d.write(&format!("bad{i}.yaml"), &spec(sweep));
        let e = err(&p, &[]);
        assert_eq!(at(&e), *where_, "case {i}: {e}");
        assert!(e.message.contains(msg), "case {i}: {e}");
        assert_eq!(e.suggestion.as_deref(), *hint, "case {i}: {e}");
    }
}

/// A spec with two `train` stages (`tr_a` searched, `tr_b` not) and `sweep` appended.
fn train_spec(sweep: &str, trains: &[&str]) -> String {
    let mut s = String::from("stages:\n  ml_load:\n    kind: load\n    params: { path: data }\n");
    for t in trains {
        s.push_str(&format!(
            "  {t}:\n    kind: train\n    inputs: {{ split: ml_load }}\n    params: {{ model: m, method: lora, epochs: 9, lr: 0.01 }}\n"
        ));
    }
    s.push_str("sweep:\n");
    s.push_str(sweep);
    s
}

const PRUNED: &str = "  search: { method: random, trials: 4, parallel: 2 }
  space:
    stages.tr_a.params.lr: { choice: [0.01, 0.1] }
  objective: { stage: tr_a, metric: best_valid_auc, direction: max }
  prune: { method: asha, metric: valid_auc, min_epochs: 1, reduction_factor: 3 }
";

#[test]
fn a_pruned_search_declares_asha_and_its_parallel_trials() {
    let d = Dir::new();
    let s = ok(&d.write("p.yaml", &train_spec(PRUNED, &["tr_a"])), &[]);
    let decl = s.search.as_ref().unwrap();
    assert_eq!(decl.search.parallel, 2);
    assert!(
        decl.search.sequential,
        "ASHA's floors depend on earlier trials"
    );
    let p = decl.prune.as_ref().unwrap();
    assert_eq!(
        (
            p.metric.as_str(),
            p.min_epochs,
            p.reduction_factor,
            p.stage.as_str()
        ),
        ("valid_auc", 1, 3, "tr_a")
    );
    // The trial's `prune` param lands in its training's params, not in its point.
    let prune =
        json!({ "metric": "valid_auc", "min_epochs": 1, "reduction_factor": 3, "floors": [0.6] });
    let t = s
        .with_trials(&[Trial {
            group: 0,
            index: 1,
            values: vec![json!(0.1)],
            prune: Some(prune.clone()),
        }])
        .unwrap();
    let train = t.instances[0]
        .stages
        .iter()
        .find(|st| st.name == "tr_a")
        .unwrap();
    assert_eq!(train.params["prune"], prune);
    assert_eq!(train.params["lr"], json!(0.1));
    assert!(!t.instances[0]
        .point
        .contains_key("stages.tr_a.params.prune"));
}

#[test]
fn prune_keys_are_strict_and_name_their_training() {
    let d = Dir::new();
    let typo = PRUNED.replace("min_epochs: 1", "min_epoch: 1");
    let e = err(&d.write("a.yaml", &train_spec(&typo, &["tr_a"])), &[]);
    assert_eq!(e.field, "sweep.prune.min_epoch");
    assert_eq!(e.suggestion.as_deref(), Some("min_epochs"));

    let bad = PRUNED.replace("method: asha", "method: hyperband");
    let e = err(&d.write("b.yaml", &train_spec(&bad, &["tr_a"])), &[]);
    assert_eq!(e.field, "sweep.prune.method");

    let eta = PRUNED.replace("reduction_factor: 3", "reduction_factor: 1");
    let e = err(&d.write("c.yaml", &train_spec(&eta, &["tr_a"])), &[]);
    assert_eq!(e.field, "sweep.prune.reduction_factor");

    let e = err(
        &d.write("d.yaml", &train_spec(PRUNED, &["tr_a", "tr_b"])),
        &[],
    );
    assert_eq!(e.field, "sweep.prune");
    assert!(
        e.to_string().contains("name the pruned one with `stage`"),
        "{e}"
    );
    let named = PRUNED.replace("reduction_factor: 3", "reduction_factor: 3, stage: tr_b");
    let s = ok(
        &d.write("e.yaml", &train_spec(&named, &["tr_a", "tr_b"])),
        &[],
    );
    assert_eq!(s.search.unwrap().prune.unwrap().stage, "tr_b");
    let typo = PRUNED.replace("reduction_factor: 3", "reduction_factor: 3, stage: tr_c");
    let e = err(
        &d.write("f.yaml", &train_spec(&typo, &["tr_a", "tr_b"])),
        &[],
    );
    assert_eq!(e.field, "sweep.prune.stage");

    let alone = "  prune: { method: asha }\n";
    let e = err(&d.write("g.yaml", &train_spec(alone, &["tr_a"])), &[]);
    assert_eq!(e.field, "sweep.prune");
    assert!(e.to_string().contains("needs `search`"), "{e}");

    let zero = PRUNED.replace("parallel: 2", "parallel: 0");
    let e = err(&d.write("h.yaml", &train_spec(&zero, &["tr_a"])), &[]);
    assert_eq!(e.field, "sweep.search.parallel");
}

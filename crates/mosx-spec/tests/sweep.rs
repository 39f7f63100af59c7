//! Sweep expansion: cartesian order, seeds, point values, locations of swept values, scale.
mod common;

use common::{at, err, ok, Dir};
use serde_json::json;

const SPEC: &str = "\
vars: { seed: 0, data: data }
stages:
  ml_load:
    kind: load
    params: { path: \"${data}/ml-100k\" }
  ml_measure:
    kind: measure
    inputs: { samples: ml_load }
    params: { z_star: 1.96, seed: \"${seed}\" }
sweep:
  grid:
    stages.ml_measure.params.z_star: [1.0, 1.645]
    vars.data: [a, b, c]
  seeds: [0, 1]
";

#[test]
fn points_follow_grid_order_then_seeds_last_axis_fastest() {
    let d = Dir::new();
    let p = d.write("s.yaml", SPEC);
    let s = ok(&p, &[]);
    assert_eq!(
        s.sweep_paths,
        ["stages.ml_measure.params.z_star", "vars.data", "vars.seed"]
    );
    assert_eq!(s.instances.len(), 12);
    let got: Vec<(f64, String, i64)> = s
        .instances
        .iter()
        .map(|i| {
            let m = &i.stages[1].params;
            let path = i.stages[0].params["path"].as_str().unwrap().to_string();
            (
                m["z_star"].as_f64().unwrap(),
                path,
                m["seed"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut want = Vec::new();
    for z in [1.0, 1.645] {
        for data in ["a", "b", "c"] {
            for seed in [0, 1] {
                want.push((z, format!("{data}/ml-100k"), seed));
            }
        }
    }
    assert_eq!(got, want);
    assert_eq!(
        s.instances[3].point,
        [
            ("stages.ml_measure.params.z_star".to_string(), json!(1.0)),
            ("vars.data".to_string(), json!("b")),
            ("vars.seed".to_string(), json!(1)),
        ]
        .into_iter()
        .collect()
    );
}

#[test]
fn no_sweep_gives_one_instance_with_an_empty_point() {
    let d = Dir::new();
    let p = d.write("s.yaml", SPEC.split("sweep:").next().unwrap());
    let s = ok(&p, &[]);
    assert_eq!(s.instances.len(), 1);
    assert!(s.instances[0].point.is_empty());
    assert!(s.sweep_paths.is_empty());
}

#[test]
fn seeds_alone_create_vars_seed() {
    let d = Dir::new();
    let p = d.write("s.yaml", "stages:\n  a: { kind: sample, params: { seed: \"${seed}\" } }\nsweep: { seeds: [5, 6, 7] }\n");
    let s = ok(&p, &[]);
    let seeds: Vec<i64> = s
        .instances
        .iter()
        .map(|i| i.stages[0].params["seed"].as_i64().unwrap())
        .collect();
    assert_eq!(seeds, [5, 6, 7]);
    assert_eq!(s.sweep_paths, ["vars.seed"]);
}

#[test]
fn set_applies_before_sweep_expansion() {
    let d = Dir::new();
    let p = d.write("s.yaml", SPEC);
    let s = ok(&p, &["sweep.seeds=[3]", "stages.ml_load.params.extra=1"]);
    assert_eq!(s.instances.len(), 6);
    assert!(s
        .instances
        .iter()
        .all(|i| i.stages[0].params["extra"] == json!(1)));
    assert!(s.instances.iter().all(|i| i.point["vars.seed"] == json!(3)));
}

#[test]
fn grid_path_with_missing_parent_is_an_error_at_the_sweep_entry() {
    let d = Dir::new();
    let p = d.write(
        "s.yaml",
        &SPEC.replace(
            "stages.ml_measure.params.z_star:",
            "stages.ml_mesure.params.z_star:",
        ),
    );
    let e = err(&p, &[]);
    assert_eq!(at(&e), (12, 5, "sweep.grid.stages.ml_mesure.params.z_star"));
    assert_eq!(
        e.suggestion.as_deref(),
        Some("stages.ml_measure.params.z_star")
    );

    let p = d.write("t.yaml", &SPEC.replace("vars.data:", "name.x:"));
    let e = err(&p, &[]);
    assert_eq!(at(&e), (13, 5, "sweep.grid.name.x"));
}

#[test]
fn invalid_swept_values_are_reported_at_the_sweep_value() {
    let d = Dir::new();
    let p = d.write(
        "s.yaml",
        "stages:\n  a: { kind: load }\n  b: { kind: sample, inputs: { d: a } }\nsweep:\n  grid:\n    stages.b.inputs.d: [a, zz]\n",
    );
    let e = err(&p, &[]);
    assert_eq!(at(&e), (6, 28, "stages.b.inputs.d"));
    assert!(e.message.contains("unknown stage `zz`"), "{e}");
}

#[test]
fn error_at_instance_points_to_the_swept_value() {
    let d = Dir::new();
    let p = d.write("s.yaml", SPEC);
    let s = ok(&p, &[]);
    let e = s.error_at_instance(7, "stages.ml_measure.params.z_star", "bad", None);
    assert_eq!((e.line, e.col), (12, 44), "second z_star value (1.645)");
    let e = s.error_at_instance(7, "vars.seed", "bad", None);
    assert_eq!((e.line, e.col), (14, 14), "second seed");
    let e = s.error_at_instance(7, "stages.ml_load.kind", "bad", None);
    assert_eq!((e.line, e.col), (4, 11), "not swept: the declaration");
}

#[test]
fn sweep_keys_are_strict() {
    let d = Dir::new();
    let p = d.write("s.yaml", &SPEC.replace("  seeds:", "  sedes:"));
    let e = err(&p, &[]);
    assert_eq!(at(&e), (14, 3, "sweep.sedes"));
    assert_eq!(e.suggestion.as_deref(), Some("seeds"));
    let p = d.write("t.yaml", &SPEC.replace("seeds: [0, 1]", "seeds: []"));
    assert_eq!(at(&err(&p, &[])), (14, 10, "sweep.seeds"));
    let p = d.write("u.yaml", &SPEC.replace("seeds: [0, 1]", "seeds: 3"));
    assert_eq!(at(&err(&p, &[])), (14, 10, "sweep.seeds"));
}

/// 5 stages x 250 points = 1,250 stage declarations from one parse.
fn big_spec(d: &Dir) -> std::path::PathBuf {
    let z: Vec<String> = (0..50)
        .map(|i| format!("{:.2}", 1.0 + i as f64 / 50.0))
        .collect();
    let text = format!(
        "\
vars: {{ seed: 0, data: data }}
stages:
  ml_load: {{ kind: load, params: {{ path: \"${{data}}/ml-100k\" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ seed: \"${{seed}}\", windows: 10000 }} }}
  ml_split: {{ kind: split, inputs: {{ samples: ml_sample }}, params: {{ seed: \"${{seed}}\" }} }}
  ml_measure: {{ kind: measure, inputs: {{ samples: ml_split }}, params: {{ z_star: 1.96 }} }}
  ml_metrics: {{ kind: metrics, inputs: {{ m: ml_measure }}, params: {{ name: \"run-${{seed}}\" }} }}
sweep:
  grid:
    stages.ml_measure.params.z_star: [{}]
  seeds: [0, 1, 2, 3, 4]
",
        z.join(", ")
    );
    d.write("big.yaml", &text)
}

#[test]
fn large_sweeps_expand_fully() {
    let d = Dir::new();
    let s = ok(&big_spec(&d), &[]);
    assert_eq!(s.instances.len(), 250);
    assert_eq!(
        s.instances.iter().map(|i| i.stages.len()).sum::<usize>(),
        1250
    );
    let last = &s.instances[249];
    assert_eq!(last.stages[4].params["name"], json!("run-4"));
    assert_eq!(last.stages[3].params["z_star"], json!(1.98));
}

#[test]
#[ignore = "timing print; run with --ignored --nocapture"]
fn large_sweep_load_time() {
    let d = Dir::new();
    let p = big_spec(&d);
    let runs = 20;
    let start = std::time::Instant::now();
    for _ in 0..runs {
        ok(&p, &[]);
    }
    println!(
        "load of 5 stages x 250 points: {:.2?} per load",
        start.elapsed() / runs
    );
}

#[test]
fn replicates_name_grid_paths_that_reports_pool() {
    let d = Dir::new();
    let s = d.write(
        "s.yaml",
        "vars: { seed: 0, train_seed: 0, lr: 1 }\nstages:\n  a: { kind: load }\nsweep:\n  grid: { vars.lr: [1, 2], vars.train_seed: [0, 1] }\n  seeds: [0, 1]\n  replicates: [vars.train_seed]\n",
    );
    let spec = ok(&s, &[]);
    assert_eq!(spec.instances.len(), 8);
    assert_eq!(spec.replicate_paths, ["vars.train_seed", "vars.seed"]);
    let bad = d.write(
        "bad.yaml",
        "vars: { seed: 0, train_seed: 0 }\nstages:\n  a: { kind: load }\nsweep:\n  grid: { vars.train_seed: [0, 1] }\n  replicates: [vars.train_sed]\n",
    );
    let e = err(&bad, &[]);
    assert_eq!(at(&e), (6, 16, "sweep.replicates.0"));
    assert_eq!(e.suggestion.as_deref(), Some("vars.train_seed"));
    let none = d.write(
        "none.yaml",
        "vars: { seed: 0 }\nstages:\n  a: { kind: load }\nsweep:\n  seeds: [0, 1]\n",
    );
    assert_eq!(ok(&none, &[]).replicate_paths, ["vars.seed"]);
}

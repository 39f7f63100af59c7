//! The paper's specs: every spec in `experiments/` compiles and renders as a DAG;
//! `paper.yaml` is the union of the table and figure specs; the whole `paper.yaml` runs
//! end to end on a tiny backbone, renders every table and figure from the cache, and a
//! second run executes nothing; adding a value to the MoS sweep runs only the new point.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn paper_yaml_is_the_union_of_every_table_and_figure_spec() {
    // Its parents are exactly the table and figure specs of `experiments/`, so a new table
    // that is not added to the paper fails here.
    let dir = repo().join("experiments");
    let mut parts: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            (n.starts_with("table") || n.starts_with("fig")) && n.ends_with(".yaml")
        })
        .collect();
    parts.sort();
    let paper = mosx_spec::load(&dir.join("paper.yaml"), &[]).unwrap();
    let mut parents: Vec<std::path::PathBuf> = paper
        .parents
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap())
        .collect();
    parents.sort();
    let parts: Vec<_> = parts
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap())
        .collect();
    assert_eq!(
        parents, parts,
        "paper.yaml must extend every table and figure spec"
    );
    // Every stage of every part is in the paper, declared identically at every sweep point,
    // and the paper has no stage of its own.
    let mut union = BTreeMap::new();
    for part in &parts {
        let spec = mosx_spec::load(part, &[]).unwrap();
        // A part without the seeds axis (Table III, Fig. 3: data only) is the paper's first point.
        assert!(
            spec.instances.len() == paper.instances.len() || spec.instances.len() == 1,
            "{part:?}: its seeds differ from the paper's"
        );
        for (i, inst) in spec.instances.iter().enumerate() {
            for s in &inst.stages {
                if let Some(old) = union.insert((i, s.name.clone()), s.clone()) {
                    assert_eq!(old, *s, "stage `{}` differs between specs", s.name);
                }
            }
        }
    }
    let mine: BTreeMap<_, _> = paper
        .instances
        .iter()
        .enumerate()
        .flat_map(|(i, inst)| {
            inst.stages
                .iter()
                .map(move |s| ((i, s.name.clone()), s.clone()))
        })
        .collect();
    assert_eq!(
        mine, union,
        "paper.yaml's stages are the union of its parts'"
    );
}

#[test]
fn every_spec_compiles_and_renders_as_a_dag() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("dry.db");
    let mut specs: Vec<_> = std::fs::read_dir(repo().join("experiments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    specs.sort();
    assert!(specs.len() >= 15, "{specs:?}");
    let data = format!("vars.data={}", repo().join("data").display());
    for spec in &specs {
        let s = spec.to_str().unwrap();
        // Run from the repository: the specs name `models/...` and `templates/`.
        let o = mosx(
            &repo(),
            &[
                "run",
                s,
                "--dry-run",
                "--store",
                store.to_str().unwrap(),
                "--set",
                &data,
            ],
        );
        let (out, err) = text(&o);
        assert!(o.status.success(), "{s}: {out}\n{err}");
        assert!(
            out.contains("would run") || err.contains("would run"),
            "{s}: {out}{err}"
        );
        if s.ends_with("paper.yaml") {
            // Each unique training once, and what the parts would train one by one.
            let number_before = |text: &str, marker: &str| -> usize {
                let head = &text[..text
                    .find(marker)
                    .unwrap_or_else(|| panic!("{marker}: {text}"))];
                head.split_whitespace().last().unwrap().parse().unwrap()
            };
            let once = number_before(&out, " trainings, each unique training once");
            let parts = number_before(&out, " times (");
            assert!(once > 0 && parts > once, "{out}");
            assert!(out.contains("table4.yaml"), "{out}");
        }
        for format in ["text", "mermaid"] {
            let o = mosx(&repo(), &["dag", s, "--format", format, "--set", &data]);
            let (out, err) = text(&o);
            assert!(o.status.success(), "{s} dag {format}: {err}");
            assert!(!out.trim().is_empty(), "{s} dag {format}");
        }
    }
    assert!(!store.exists(), "a dry run writes no store");
}

/// Tiny sizes for the end-to-end runs.
fn tiny_sets(model: &Path) -> Vec<String> {
    vec![
        format!("vars.model={}", model.display()),
        format!("vars.data={}", repo().join("data").display()),
        "vars.windows=400".into(),
        "vars.train_points=8".into(),
        "vars.valid_points=8".into(),
        "vars.test_points=24".into(),
        "vars.epochs=1".into(),
        "sweep.seeds=[0, 1]".into(),
    ]
}

fn with_sets<'a>(head: &[&'a str], sets: &'a [String]) -> Vec<&'a str> {
    let mut v: Vec<&str> = head.to_vec();
    for s in sets {
        v.push("--set");
        v.push(s);
    }
    v
}

/// The reports of the paper whose provenance names the seeds and the backbone.
const REPORTS: [&str; 10] = [
    "results/table1.md",
    "results/table2.md",
    "results/table4.md",
    "results/table5.md",
    "results/table6.md",
    "results/claims.md",
    "results/fig5-ml_metrics_mos_implicit.png",
    "results/fig5-bx_metrics_mos_implicit.svg",
    "results/fig6-ml_metrics_mos_implicit.svg",
    "results/fig6-bx_metrics_mos_implicit.png",
];

/// Every file of `REPORTS` exists and ends with its provenance. `out` is the run's output.
fn assert_reports_written_with_provenance(dir: &Path, out: &str) {
    for f in REPORTS {
        let p = dir.join(f);
        assert!(p.exists(), "{f} missing; wrote:\n{out}");
        let bytes = std::fs::read(&p).unwrap();
        let tail = String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(4000)..]).into_owned();
        assert!(
            tail.contains("seeds: 0, 1"),
            "{f} has no provenance: {tail}"
        );
        assert!(tail.contains("model/tokenizer.json"), "{f}: {tail}");
    }
}

/// Table III and Fig. 3 (data only, no backbone in their provenance; one histogram per
/// measure stage, i.e. per dataset and seed).
fn assert_data_only_reports_written(dir: &Path, out: &str) {
    assert!(dir.join("results/table3.md").exists(), "{out}");
    let fig3: Vec<String> = std::fs::read_dir(dir.join("results"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("fig3-") && n.ends_with(".png"))
        .collect();
    assert_eq!(fig3.len(), 4, "2 datasets x 2 seeds: {fig3:?}");
}

/// Tables IV and V hold the paper's and the tiny run's rows; every claim has a verdict.
fn assert_tables_and_claims_rendered(dir: &Path) {
    let t4 = std::fs::read_to_string(dir.join("results/table4.md")).unwrap();
    assert!(
        t4.contains("| MovieLens-100K | *MoS (paper)* | 55.49 | 53.71 | 50.91 | 69.64 |"),
        "{t4}"
    );
    assert!(t4.contains("| MovieLens-100K | MoS |"), "{t4}");
    assert!(t4.contains("F MoS vs UP5"), "{t4}");
    let t5 = std::fs::read_to_string(dir.join("results/table5.md")).unwrap();
    assert!(
        t5.contains("| MovieLens-100K | MoS | L_rec + L_fair + L_div |"),
        "{t5}"
    );
    let claims = std::fs::read_to_string(dir.join("results/claims.md")).unwrap();
    let verdicts = claims
        .lines()
        .filter(|l| {
            l.contains("**holds**")
                || l.contains("**does not hold**")
                || l.contains("**inconclusive**")
        })
        .count();
    assert_eq!(verdicts, 20, "{claims}");
}

/// The reports re-render from the cache alone, byte for byte.
fn assert_report_rerenders_from_the_cache(dir: &Path, spec: &str, sets: &[String]) {
    let first = std::fs::read(dir.join("results/table4.md")).unwrap();
    std::fs::remove_file(dir.join("results/table4.md")).unwrap();
    let o = mosx(dir, &with_sets(&["report", spec], sets));
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(std::fs::read(dir.join("results/table4.md")).unwrap(), first);
}

#[test]
fn paper_runs_end_to_end_on_a_tiny_backbone_and_renders_everything() {
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("templates"), tmp.path().join("templates")).unwrap();
    let model = tiny_model(tmp.path());
    let sets = tiny_sets(&model);
    let spec = repo().join("experiments/paper.yaml");
    let spec = spec.to_str().unwrap();

    let o = mosx(tmp.path(), &with_sets(&["run", spec, "-q"], &sets));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert_reports_written_with_provenance(tmp.path(), &out);
    assert_data_only_reports_written(tmp.path(), &out);
    assert_tables_and_claims_rendered(tmp.path());

    // Nothing left to do on a second run.
    let o = mosx(tmp.path(), &with_sets(&["run", spec, "-q"], &sets));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains(" 0 executed") || err.contains(" 0 executed"),
        "{out}{err}"
    );
    assert_report_rerenders_from_the_cache(tmp.path(), spec, &sets);
}

#[test]
fn adding_a_grid_value_to_the_mos_sweep_runs_only_the_new_point() {
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo().join("templates"), tmp.path().join("templates")).unwrap();
    let model = tiny_model(tmp.path());
    let sets = tiny_sets(&model);
    let sweep = repo().join("experiments/sweep_mos.yaml");
    let write = |values: &str| {
        let p = tmp.path().join("sweep.yaml");
        std::fs::write(
            &p,
            format!(
                "extends: {}\nsweep:\n  grid: {{ vars.lambda_fair: [{values}], vars.experts: [2] }}\n",
                sweep.display()
            ),
        )
        .unwrap();
        p
    };
    let spec = write("0.0, 1.0");
    let o = mosx(
        tmp.path(),
        &with_sets(&["run", spec.to_str().unwrap()], &sets),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let spec = write("0.0, 0.5, 1.0");
    let o = mosx(
        tmp.path(),
        &with_sets(&["run", spec.to_str().unwrap()], &sets),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    // Two seeds x (train, evaluate, metrics) of the one new grid point.
    let summary = format!("{out}{err}");
    assert!(summary.contains("6 executed"), "{summary}");
    let table = std::fs::read_to_string(tmp.path().join("results/sweep_mos.md")).unwrap();
    assert!(table.contains("lambda_fair=0.5"), "{table}");
}

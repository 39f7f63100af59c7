//! `sweep.search` end to end on ML-100K (CPU stages only): trials are reproducible, a rerun
//! executes nothing, a larger budget runs only the new trials, TPE's later trials are
//! proposed from stored results (joining the run under way, locally and on Slurm, the same
//! trials on both), and `mosx compare` lists every trial with failed ones marked.

mod common;
use common::*;

use std::path::{Path, PathBuf};

/// load → sample (`windows` searched) → split; the objective is the split's `train` count.
fn write_spec(dir: &Path, search: &str, space: &str) -> PathBuf {
    let text = format!(
        r#"name: search
vars: {{ windows: 1000 }}
stages:
  ml_load:
    kind: load
    params: {{ path: "{data}" }}
  ml_sample:
    kind: sample
    inputs: {{ dataset: ml_load }}
    params: {{ windows: "${{windows}}" }}
  ml_split:
    kind: split
    inputs: {{ sequences: ml_sample }}
sweep:
  search: {search}
  space:
    vars.windows: {space}
  objective: {{ stage: ml_split, metric: train, direction: max }}
"#,
        data = ml_data().display()
    );
    let path = dir.join("search.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The number of stages each `N stages: … M executed` line of a run reports, summed.
fn executed(out: &str) -> usize {
    out.lines()
        .filter_map(|l| {
            l.split(" executed")
                .next()?
                .rsplit(", ")
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum()
}

fn run_ok(dir: &Path, spec: &Path) -> String {
    let o = mosx(dir, &["run", spec.to_str().unwrap(), "-q"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    out
}

fn compare(dir: &Path, spec: &Path, extra: &[&str]) -> String {
    let mut args = vec!["compare", spec.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = mosx(dir, &args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    out
}

#[test]
fn a_random_search_reruns_nothing_and_a_larger_budget_runs_only_the_new_trials() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = dir.join("results/mosx.db");
    let space = "{ int: [1000, 3000] }";
    let spec = write_spec(dir, "{ method: random, trials: 3, seed: 5 }", space);
    let out = run_ok(dir, &spec);
    assert!(
        out.contains("search (random): 3 of 3 trials with an outcome, 0 failed"),
        "{out}"
    );
    let rows = stage_rows(&db).len();
    assert_eq!(executed(&out), rows, "{out}");
    let first = compare(dir, &spec, &["--format", "csv"]);
    assert_eq!(
        first.lines().count(),
        4,
        "a header and one row per trial: {first}"
    );

    let out = run_ok(dir, &spec);
    assert_eq!(executed(&out), 0, "a rerun executes nothing: {out}");

    let spec = write_spec(dir, "{ method: random, trials: 5, seed: 5 }", space);
    let out = run_ok(dir, &spec);
    let new_rows = stage_rows(&db).len() - rows;
    assert!(
        new_rows > 0 && new_rows <= 4,
        "two new trials, two stages each: {out}"
    );
    assert_eq!(executed(&out), new_rows, "only the new trials ran: {out}");
    assert!(
        executions(&db).iter().all(|(_, n)| *n == 1),
        "no stage ran twice"
    );
    let larger = compare(dir, &spec, &["--format", "csv"]);
    let old: Vec<&str> = first.lines().skip(1).collect();
    let kept: Vec<&str> = larger.lines().skip(1).take(3).collect();
    assert_eq!(
        old, kept,
        "the first three trials are the same trials: {larger}"
    );
}

#[test]
fn a_tpe_search_is_reproducible_and_proposes_later_trials_from_stored_results() {
    let search = "{ method: tpe, trials: 4, seed: 2, startup: 2 }";
    let space = "{ int: [1000, 3000] }";
    let mut tables = Vec::new();
    for _ in 0..2 {
        let tmp = tempfile::tempdir().unwrap();
        let spec = write_spec(tmp.path(), search, space);
        let out = run_ok(tmp.path(), &spec);
        assert!(
            out.contains("search (tpe): 4 of 4 trials with an outcome"),
            "{out}"
        );
        // Two startup trials, then each later trial as soon as the ones before it ended, all
        // in one run; the rerun takes every trial from the cache, also in one run.
        let runs = |out: &str| out.lines().filter(|l| l.contains(" stages: ")).count();
        assert_eq!(runs(&out), 1, "{out}");
        let again = run_ok(tmp.path(), &spec);
        assert_eq!(executed(&again), 0, "{again}");
        assert_eq!(runs(&again), 1, "{again}");
        let table = compare(tmp.path(), &spec, &["--format", "csv"]);
        assert_eq!(table.lines().count(), 5, "{table}");
        assert!(table.lines().skip(1).all(|l| l.contains(",ok,")), "{table}");
        tables.push(table);
    }
    assert_eq!(
        tables[0], tables[1],
        "the same seed proposes the same trials"
    );
}

#[test]
fn compare_lists_every_trial_with_the_failed_ones_marked_and_the_best_trial() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let spec = write_spec(
        dir,
        "{ method: random, trials: 6, seed: 1 }",
        "{ choice: [1000, 2000, 50000000] }",
    );
    let o = mosx(dir, &["run", spec.to_str().unwrap(), "-q"]);
    let (out, err) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a failed trial fails the run: {out}\n{err}"
    );
    assert!(
        out.contains("search (random): 6 of 6 trials with an outcome"),
        "{out}"
    );

    let md = compare(dir, &spec, &["--sort", "train"]);
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| trial ")).collect();
    assert_eq!(rows.len(), 6, "{md}");
    for r in &rows {
        let failed = r.contains("| failed |");
        assert_eq!(
            failed,
            r.contains("| 50000000 |"),
            "only the impossible sample fails: {r}"
        );
        assert_eq!(!failed, r.contains("(n=1)"), "{r}");
    }
    assert!(
        rows.iter().any(|r| r.contains("| failed |")),
        "seed 1 draws the failing value: {md}"
    );
    assert!(rows.iter().any(|r| r.contains("| ok |")), "{md}");
    assert!(
        rows[0].contains("| 2000 |"),
        "sorted best first (more windows, more train rows): {md}"
    );
    assert!(md.contains("best of group 0: trial"), "{md}");
    assert!(md.contains("vars.windows=2000) ml_split.train = "), "{md}");

    let json = compare(
        dir,
        &spec,
        &[
            "--format",
            "json",
            "--metrics",
            "ml_split.train,ml_sample.points",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["table"]["rows"].as_array().unwrap().len(), 6, "{json}");
    assert_eq!(v["table"]["columns"][1]["metric"], "points", "{json}");

    let o = mosx(
        dir,
        &["compare", spec.to_str().unwrap(), "--metrics", "tarin"],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no stage of the spec writes a metric `tarin`"),
        "{err}"
    );
}

#[test]
fn a_tpe_search_on_slurm_runs_its_later_trials_in_the_same_run_and_proposes_the_same_trials() {
    let Some(base) = common::cluster::services() else {
        return;
    };
    let search = "{ method: tpe, trials: 4, seed: 2, startup: 2 }";
    let space = "{ int: [1000, 3000] }";
    let local = tempfile::tempdir().unwrap();
    let spec = write_spec(local.path(), search, space);
    run_ok(local.path(), &spec);
    let expected = compare(local.path(), &spec, &["--format", "csv"]);

    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let spec = write_spec(d, search, space);
    let (schema, url) = common::cluster::fresh_schema(&base, "search");
    let objects = d.join("objects");
    let pg = [
        "--store",
        url.as_str(),
        "--objects",
        objects.to_str().unwrap(),
    ];
    let mut args = vec![
        "run",
        spec.to_str().unwrap(),
        "-q",
        "--executor",
        "slurm",
        "--poll",
        "0.3",
    ];
    args.extend_from_slice(&pg);
    let o = mosx(d, &args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains("search (tpe): 4 of 4 trials with an outcome"),
        "{out}"
    );
    let runs = out.lines().filter(|l| l.contains(" stages: ")).count();
    assert_eq!(
        runs, 1,
        "the later trials were submitted into the run: {out}\n{err}"
    );
    let job_runs = std::fs::read_dir(objects.join(".jobs")).unwrap().count();
    assert_eq!(job_runs, 1, "one run's jobs");
    let mut compare_args = vec!["--format", "csv"];
    compare_args.extend_from_slice(&pg);
    assert_eq!(
        compare(d, &spec, &compare_args),
        expected,
        "the same trials as the local run"
    );
    common::cluster::psql(&base, &format!("DROP SCHEMA {schema} CASCADE"));
}

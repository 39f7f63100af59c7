//! Claims, comparisons and exports on the non-LLM `baseline` rows (no backbone needed):
//! a spec's claims get the verdicts their data supports, the comparison table renders with
//! Holm-corrected p-values, and predictions export with their groups.

mod common;
use common::*;

fn key_of(dir: &std::path::Path, name: &str) -> String {
    let c = rusqlite::Connection::open(dir.join("results/mosx.db")).unwrap();
    c.query_row("SELECT key FROM stages WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .unwrap()
}

/// MovieLens, three seeds, two baseline rules scored on 200 test points each.
fn write_spec(dir: &std::path::Path) -> std::path::PathBuf {
    let text = format!(
        r#"name: stats
vars: {{ seed: 0 }}
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 4000, seed: "${{seed}}" }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: "${{seed}}" }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }} }}
  ml_baseline_user: {{ kind: baseline, inputs: {{ split: ml_split }}, params: {{ rule: user_like_rate, max_points: 200 }} }}
  ml_baseline_pop: {{ kind: baseline, inputs: {{ split: ml_split }}, params: {{ rule: item_popularity, max_points: 200 }} }}
  ml_metrics_user: {{ kind: metrics, inputs: {{ predictions: ml_baseline_user, stereotypes: ml_measure }} }}
  ml_metrics_pop: {{ kind: metrics, inputs: {{ predictions: ml_baseline_pop, stereotypes: ml_measure }} }}
sweep:
  seeds: [0, 1, 2]
claims:
  - name: user like-rate ranks better than popularity
    test: "ml_metrics_user.auc > ml_metrics_pop.auc"
  - name: popularity ranks better than user like-rate
    test: "ml_metrics_pop.auc > ml_metrics_user.auc"
  - name: a metric against itself
    test: "ml_metrics_user.auc >= ml_metrics_user.auc"
report:
  - template: claims.md.j2
    output: results/claims.md
  - template: table2.md.j2
    output: results/t.md
    options:
      datasets: []
      rules: []
      comparisons:
        - {{ label: "AUC user vs pop", a: ml_metrics_user.auc, b: ml_metrics_pop.auc }}
        - {{ label: "recall user vs pop", a: ml_metrics_user.recall, b: ml_metrics_pop.recall }}
"#,
        data = ml_data().display()
    );
    let p = dir.join("stats.yaml");
    std::fs::write(&p, text).unwrap();
    // Reports read ./templates first.
    std::os::unix::fs::symlink(repo().join("templates"), dir.join("templates")).unwrap();
    p
}

#[test]
fn claims_get_the_verdicts_their_data_support() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path());
    let o = mosx(tmp.path(), &["run", spec.to_str().unwrap(), "-q"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");

    let claims = std::fs::read_to_string(tmp.path().join("results/claims.md")).unwrap();
    let row = |name: &str| {
        claims
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no row `{name}` in\n{claims}"))
            .to_string()
    };
    // Measured on 3 x 200 MovieLens test points: the user like-rate's AUC is far above
    // popularity's, on every seed and across users.
    assert!(
        row("user like-rate ranks better than popularity").contains("**holds**"),
        "{claims}"
    );
    assert!(
        row("popularity ranks better than user like-rate").contains("**does not hold**"),
        "{claims}"
    );
    let same = row("a metric against itself");
    assert!(same.contains("**inconclusive**"), "{same}");
    assert!(same.contains("the test is undefined"), "{same}");
    // Three seeds, and the provenance footer.
    assert!(row("user like-rate ranks better than popularity").contains("| users |"));
    assert!(claims.contains("**Provenance**"), "{claims}");
    assert!(claims.contains("- seeds: 0, 1, 2"), "{claims}");

    // The comparison table: two comparisons, Holm-corrected, with seeds and users.
    let t = std::fs::read_to_string(tmp.path().join("results/t.md")).unwrap();
    let line = t
        .lines()
        .find(|l| l.starts_with("| AUC user vs pop |"))
        .unwrap_or_else(|| panic!("{t}"));
    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
    assert_eq!(cells[5], "3", "three seeds paired: {line}");
    let users: usize = cells[7].parse().unwrap();
    // 200 points per seed come from about 60 users (points are grouped by user).
    assert!(users > 100, "users pooled over seeds: {line}");
    let p_users: f64 = cells[8].parse().unwrap_or(0.0);
    assert!(p_users < 0.01, "{line}");
    // Holm-corrected over the two comparisons: the per-seed t-test on 3 seeds is not
    // significant, the user-level one is.
    let p_seeds: f64 = cells[6].parse().unwrap();
    assert!(p_seeds > 0.01, "{line}");
}

#[test]
fn predictions_export_with_user_and_item_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path());
    assert!(mosx(tmp.path(), &["run", spec.to_str().unwrap(), "-q"])
        .status
        .success());
    let key = key_of(tmp.path(), "ml_baseline_user[seed=0]");
    let o = mosx(tmp.path(), &["export", &key[..12], "--format", "csv"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        "index,user,user_group,target,title,target_group,label,p_yes,setting,history_share_male,history_share_female"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 200);
    // The measure stage is found through the metrics stage reading these predictions.
    assert!(
        rows.iter()
            .all(|r| r.contains(",male,") || r.contains(",female,") || r.contains(",neutral,")),
        "{out}"
    );
    // p_yes of the user like-rate is a share of 10 history items.
    let first: Vec<&str> = rows[0].split(',').collect();
    let p: f64 = first[first.len() - 4].parse().unwrap();
    assert!(((p * 10.0).round() - p * 10.0).abs() < 1e-9, "{}", rows[0]);

    // JSON lines carry the same rows; a missing output folder is named.
    let o = mosx(
        tmp.path(),
        &[
            "export",
            &key[..12],
            "--format",
            "jsonl",
            "-o",
            "missing/p.jsonl",
        ],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("missing/p.jsonl") && err.contains("folder `missing` does not exist"),
        "{err}"
    );

    // A stage's metrics as a table.
    let m = key_of(tmp.path(), "ml_metrics_user[seed=0]");
    let o = mosx(
        tmp.path(),
        &["export", &m[..12], "--metrics", "--format", "csv"],
    );
    let (out, _) = text(&o);
    assert!(
        out.starts_with("stage,kind,key,seed,metric,value\n"),
        "{out}"
    );
    assert!(out.lines().any(|l| l.contains(",auc,")), "{out}");
}

#[test]
fn a_claim_naming_an_unknown_stage_is_a_located_spec_error() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path());
    let yaml = std::fs::read_to_string(&spec).unwrap().replace(
        "ml_metrics_pop.auc > ml_metrics_user.auc",
        "ml_metrics_pops.auc > ml_metrics_user.auc",
    );
    std::fs::write(&spec, yaml).unwrap();
    let o = mosx(tmp.path(), &["run", spec.to_str().unwrap(), "--dry-run"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("stats.yaml:"), "{err}");
    assert!(err.contains("claims.1.test"), "{err}");
    assert!(err.contains("no stage `ml_metrics_pops`"), "{err}");
    assert!(err.contains("ml_metrics_pop"), "suggestion: {err}");
}

/// `sweep.replicates`: a grid axis that repeats the experiment (here the split's seed) is
/// pooled into the table cells (mean ± sd over its values) like `seeds`; without it, each of
/// its values is a setting of its own and a cell shows one.
#[test]
fn replicate_axes_are_pooled_into_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir_all(d.join("templates")).unwrap();
    std::fs::write(
        d.join("templates/cells.md.j2"),
        "n={{ cells.ml_metrics_user.auc.n }} replicates={{ seeds | length }} settings={{ groups.ml_metrics_user | length }}\n",
    )
    .unwrap();
    let spec = |replicates: &str| {
        format!(
            r#"name: reps
vars: {{ seed: 0, split_seed: 0 }}
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 2000, seed: "${{seed}}" }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: "${{split_seed}}" }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }} }}
  ml_baseline_user: {{ kind: baseline, inputs: {{ split: ml_split }}, params: {{ rule: user_like_rate, max_points: 100 }} }}
  ml_metrics_user: {{ kind: metrics, inputs: {{ predictions: ml_baseline_user, stereotypes: ml_measure }} }}
sweep:
  grid: {{ vars.split_seed: [0, 1, 2] }}
{replicates}
report:
  - template: cells.md.j2
    output: results/cells.md
"#,
            data = ml_data().display()
        )
    };
    for (reps, expected) in [
        (
            "  replicates: [vars.split_seed]",
            "n=3 replicates=3 settings=1",
        ),
        ("", "n=1 replicates=0 settings=3"),
    ] {
        let p = d.join("reps.yaml");
        std::fs::write(&p, spec(reps)).unwrap();
        let o = mosx(d, &["run", p.to_str().unwrap(), "-q"]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}\n{err}");
        let cells = std::fs::read_to_string(d.join("results/cells.md")).unwrap();
        assert!(cells.starts_with(expected), "{reps:?}: {cells}");
    }
}

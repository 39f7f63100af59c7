//! Claims, comparisons and exports on the non-LLM `baseline` rows (no backbone needed):
//! a spec's claims get the verdicts their data supports with the seed as the unit (METHOD.md
//! §8), the comparison table renders with Holm-corrected p-values, one seed is no test, a
//! seed with an undefined value is counted in the cell, the compact `compare:` declaration
//! expands, and predictions export with their groups. The last test trains on a tiny random
//! backbone to check that a metrics stage's cell carries its train stage's metrics.

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
  - name: popularity's AUC within 30 points of the user like-rate's
    test: "ml_metrics_pop.auc >= ml_metrics_user.auc - 30"
  - name: popularity's AUC within 1 point of the user like-rate's
    test: "ml_metrics_pop.auc >= ml_metrics_user.auc - 1"
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

/// The cells of a Markdown table row, trimmed.
fn cells_of(line: &str) -> Vec<String> {
    line.split('|').map(|c| c.trim().to_string()).collect()
}

fn row<'a>(table: &'a str, first: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(&format!("| {first} |")))
        .unwrap_or_else(|| panic!("no row `{first}` in\n{table}"))
}

#[test]
fn claims_get_the_verdicts_their_data_support() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path());
    let o = mosx(tmp.path(), &["run", spec.to_str().unwrap(), "-q"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");

    let claims = std::fs::read_to_string(tmp.path().join("results/claims.md")).unwrap();
    // Columns: claim, test, verdict, mean left, mean right, Δ, 95% CI, p, p (Holm), seeds,
    // users/seed, note. Measured on 3 x 200 MovieLens test points: the user like-rate's AUC
    // is 9 points above popularity's (HKSJ over the 3 seeds: 95% CI about [2.5, 15.7]).
    let holds = cells_of(row(&claims, "user like-rate ranks better than popularity"));
    assert_eq!(holds[3], "**holds**", "{claims}");
    let d: f64 = holds[6].parse().unwrap();
    assert!(d > 5.0 && d < 15.0, "{d}");
    let (lo, hi) = holds[7]
        .trim_matches(|c| c == '[' || c == ']')
        .split_once(", ")
        .map(|(a, b)| (a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap()))
        .unwrap();
    assert!(lo > 0.0 && lo < d && d < hi, "{holds:?}");
    assert_eq!(holds[10], "3", "three seeds: {holds:?}");
    // About 60 test users per seed (200 points grouped by user), one count per seed.
    let users: Vec<usize> = holds[11].split('/').map(|u| u.parse().unwrap()).collect();
    assert_eq!(users.len(), 3, "{holds:?}");
    assert!(users.iter().all(|&u| u > 40 && u < 100), "{users:?}");
    // The opposite claim: its interval lies below 0, so it does not hold.
    let opposite = cells_of(row(&claims, "popularity ranks better than user like-rate"));
    assert_eq!(opposite[3], "**does not hold**", "{claims}");
    // Identical values on every seed: no test.
    let same = row(&claims, "a metric against itself");
    assert!(same.contains("**inconclusive**"), "{same}");
    assert!(same.contains("no test"), "{same}");
    // Non-inferiority: popularity is within 30 points (the lower bound of Δ lies above −30),
    // but 1 point is excluded by the interval.
    let within30 = row(
        &claims,
        "popularity's AUC within 30 points of the user like-rate's",
    );
    assert!(within30.contains("**holds**"), "{within30}");
    let within1 = row(
        &claims,
        "popularity's AUC within 1 point of the user like-rate's",
    );
    assert!(within1.contains("**does not hold**"), "{within1}");
    assert!(claims.contains("Hartung-Knapp-Sidik-Jonkman"), "{claims}");
    assert!(claims.contains("**Provenance**"), "{claims}");
    assert!(claims.contains("- seeds: 0, 1, 2"), "{claims}");

    // The comparison table: two comparisons, Holm-corrected, with seeds and users.
    let t = std::fs::read_to_string(tmp.path().join("results/t.md")).unwrap();
    let c = cells_of(row(&t, "AUC user vs pop"));
    // comparison, H₁, mean a, mean b, Δ, CI, p, p (Holm), verdict, seeds, users/seed, τ², note
    assert_eq!(c[2], "Δ ≠ 0.00", "{c:?}");
    assert_eq!(c[10], "3", "{c:?}");
    let p: f64 = c[7].parse().unwrap();
    let p_holm: f64 = c[8].parse().unwrap();
    assert!(p < 0.05, "{c:?}");
    // Holm over the two comparisons doubles the smaller p at most.
    assert!(p_holm >= p && p_holm <= 2.0 * p + 1e-3, "{c:?}");
    assert_eq!(c[9], "", "a two-sided comparison has no verdict: {c:?}");
}

/// One seed: there is no test across seeds. The claim is inconclusive whatever its data
/// and the row shows the within-seed interval with the note saying so.
#[test]
fn one_seed_is_no_test_across_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path());
    let yaml = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("seeds: [0, 1, 2]", "seeds: [0]");
    std::fs::write(&spec, yaml).unwrap();
    let o = mosx(tmp.path(), &["run", spec.to_str().unwrap(), "-q"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let claims = std::fs::read_to_string(tmp.path().join("results/claims.md")).unwrap();
    let c = cells_of(row(&claims, "user like-rate ranks better than popularity"));
    assert_eq!(c[3], "**inconclusive**", "{c:?}");
    assert_eq!((c[8].as_str(), c[9].as_str()), ("-", "-"), "no p: {c:?}");
    assert_eq!(c[10], "1", "{c:?}");
    assert!(c[12].contains("one seed: no test across seeds"), "{c:?}");
    // The within-seed (jackknife, normal) interval is shown and contains the estimate.
    let d: f64 = c[6].parse().unwrap();
    let (lo, hi) = c[7]
        .trim_matches(|ch| ch == '[' || ch == ']')
        .split_once(", ")
        .map(|(a, b)| (a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap()))
        .unwrap();
    assert!(lo < d && d < hi && hi - lo < 40.0, "{c:?}");
    let t = std::fs::read_to_string(tmp.path().join("results/t.md")).unwrap();
    assert!(
        row(&t, "AUC user vs pop").contains("one seed: no test across seeds"),
        "{t}"
    );
}

/// A seed whose value is undefined is counted: on 5 test points the first seed has no
/// female user, so its headline F is undefined, and the cell prints `(n=2)`.
#[test]
fn a_cell_with_an_undefined_seed_prints_its_n() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path());
    let yaml = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("max_points: 200", "max_points: 5");
    std::fs::write(&spec, yaml).unwrap();
    std::fs::create_dir_all(tmp.path().join("results")).unwrap();
    let o = mosx(tmp.path(), &["run", spec.to_str().unwrap(), "-q"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    // The cell through the `pm` filter, via a template of our own.
    let dir = tmp.path().join("own");
    std::fs::create_dir_all(&dir).unwrap();
    for f in std::fs::read_dir(repo().join("templates"))
        .unwrap()
        .flatten()
    {
        if f.path().is_file() {
            std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
        }
    }
    std::fs::write(
        dir.join("cell.md.j2"),
        "F {{ cells.ml_metrics_user.F | pm }} values {{ cells.ml_metrics_user.F.values }}; AUC {{ cells.ml_metrics_user.auc | pm }}\n",
    )
    .unwrap();
    std::fs::remove_file(tmp.path().join("templates")).unwrap();
    std::os::unix::fs::symlink(&dir, tmp.path().join("templates")).unwrap();
    let yaml = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("template: claims.md.j2", "template: cell.md.j2");
    std::fs::write(&spec, yaml).unwrap();
    let o = mosx(tmp.path(), &["report", spec.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let cell = std::fs::read_to_string(tmp.path().join("results/claims.md")).unwrap();
    let first = cell.lines().next().unwrap();
    assert!(first.starts_with("F "), "{cell}");
    assert!(
        first.contains("values [None, "),
        "seed 0's F is undefined: {first}"
    );
    assert!(
        first.split("; AUC").next().unwrap().contains("(n=2)"),
        "{first}"
    );
    // Every seed's AUC is defined: no count printed.
    assert!(
        !first.split("; AUC").nth(1).unwrap().contains("(n="),
        "{first}"
    );
}

/// Three baseline rows scored at two z* thresholds, and a compact `compare:` declaration over
/// both thresholds, plus a "best of" side.
fn write_compare_spec(dir: &std::path::Path, b_pattern: &str) -> std::path::PathBuf {
    let mut text = format!(
        r#"name: compare
vars: {{ seed: 0 }}
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 3000, seed: "${{seed}}" }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: "${{seed}}" }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }}, params: {{ z_star: 1.0 }} }}
  ml_measure_z2: {{ kind: measure, inputs: {{ split: ml_split }}, params: {{ z_star: 1.645 }} }}
"#,
        data = ml_data().display()
    );
    for rule in ["user_like_rate", "item_like_rate", "item_popularity"] {
        text.push_str(&format!(
            "  ml_baseline_{rule}: {{ kind: baseline, inputs: {{ split: ml_split }}, params: {{ rule: {rule}, max_points: 150 }} }}\n"
        ));
        for (suffix, m) in [("", "ml_measure"), ("_z2", "ml_measure_z2")] {
            text.push_str(&format!(
                "  ml_metrics_{rule}{suffix}: {{ kind: metrics, inputs: {{ predictions: ml_baseline_{rule}, stereotypes: {m} }} }}\n"
            ));
        }
    }
    text.push_str(&format!(
        r#"sweep:
  seeds: [0, 1, 2]
report:
  - template: table2.md.j2
    output: results/t.md
    options:
      datasets: []
      rules: []
      comparisons:
        - {{ label: "plain: AUC user vs popularity", a: ml_metrics_user_like_rate.auc, b: ml_metrics_item_popularity.auc }}
      compare:
        - a: {{ stage: "ml_metrics_user_like_rate{{z}}", label: user like-rate }}
          b: [ {{ stage: "{b_pattern}", label: target like-rate }}, {{ stage: "ml_metrics_item_popularity{{z}}", label: popularity }} ]
          metrics: [F, auc]
          margin: {{ auc: -2 }}
          alternative: {{ auc: greater }}
          over: {{ z: [ {{ value: "", label: "z* 1.0" }}, {{ value: "_z2", label: "z* 1.645" }} ] }}
        - a: {{ best_of: [ {{ stage: ml_metrics_item_like_rate, label: target like-rate }}, ml_metrics_item_popularity ], by: auc, label: best target rule }}
          b: ml_metrics_user_like_rate
          metrics: auc
"#
    ));
    let p = dir.join("compare.yaml");
    std::fs::write(&p, text).unwrap();
    std::os::unix::fs::symlink(repo().join("templates"), dir.join("templates")).unwrap();
    p
}

#[test]
fn the_compact_declaration_expands_to_labelled_comparisons() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_compare_spec(tmp.path(), "ml_metrics_item_like_rate{z}");
    let o = mosx(tmp.path(), &["run", spec.to_str().unwrap(), "-q"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let t = std::fs::read_to_string(tmp.path().join("results/t.md")).unwrap();
    let labels: Vec<String> = t
        .lines()
        .skip_while(|l| !l.starts_with("| comparison |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| cells_of(l)[1].clone())
        .collect();
    let mut want = vec!["plain: AUC user vs popularity".to_string()];
    for z in ["z* 1.0", "z* 1.645"] {
        for b in ["target like-rate", "popularity"] {
            want.push(format!("{z}: F user like-rate vs {b}"));
            want.push(format!("{z}: auc user like-rate vs {b} (margin -2)"));
        }
    }
    assert_eq!(labels[..9], want[..], "{t}");
    // The best-of side names its pick, and the note says the pick makes the test optimistic.
    assert_eq!(labels.len(), 10, "{t}");
    // The pick is the candidate with the higher mean AUC over seeds (mean b of the rows
    // comparing with each at z* 1.0; AUC does not depend on z*).
    let mean_b = |label: &str| -> f64 { cells_of(row(&t, label))[4].parse().unwrap() };
    let like = mean_b("z* 1.0: auc user like-rate vs target like-rate (margin -2)");
    let pop = mean_b("z* 1.0: auc user like-rate vs popularity (margin -2)");
    let picked = if like >= pop {
        "target like-rate"
    } else {
        "ml_metrics_item_popularity"
    };
    let best = &labels[9];
    assert_eq!(
        best,
        &format!("auc best target rule ({picked}) vs ml_metrics_user_like_rate"),
        "{t}"
    );
    assert!(row(&t, best).contains("optimistic"), "{t}");
    // Per-metric margin and alternative: the AUC rows are non-inferiority tests with a verdict.
    let auc = cells_of(row(
        &t,
        "z* 1.0: auc user like-rate vs popularity (margin -2)",
    ));
    assert_eq!(auc[2], "Δ > -2.00", "{auc:?}");
    assert!(
        ["holds", "does not hold", "inconclusive"].contains(&auc[9].as_str()),
        "{auc:?}"
    );
    let f = cells_of(row(&t, "z* 1.645: F user like-rate vs popularity"));
    assert_eq!((f[2].as_str(), f[9].as_str()), ("Δ ≠ 0.00", ""), "{f:?}");
}

#[test]
fn a_compact_declaration_naming_an_unknown_stage_is_a_located_error() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_compare_spec(tmp.path(), "ml_metrics_item_like_rat{z}");
    let o = mosx(tmp.path(), &["run", spec.to_str().unwrap(), "-q"]);
    let (_, err) = text(&o);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("compare.yaml:"), "{err}");
    assert!(
        err.contains("report.0.options.compare.0.b.0.stage"),
        "{err}"
    );
    assert!(
        err.contains("no stage `ml_metrics_item_like_rat`") && err.contains("with z="),
        "{err}"
    );
    assert!(
        err.contains("ml_metrics_item_like_rate"),
        "suggestion: {err}"
    );
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

/// A metrics stage's cell carries its train stage's metrics under `train.` (lineage: metrics
/// → evaluate → adapter → train), and the `internals` filter renders the MoS routing line
/// exactly when the train stage wrote routing metrics (and nothing otherwise), on a tiny
/// random backbone.
#[test]
fn a_metrics_cell_carries_its_train_stage_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = mosx(
        d,
        &["tiny-model", "tiny", "--data", ml_data().to_str().unwrap()],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    std::fs::create_dir_all(d.join("templates")).unwrap();
    std::fs::write(
        d.join("templates/cell.md.j2"),
        "{{ cells.ml_metrics_mos['train.best_valid_auc'].mean }}|{{ by_stage.ml_train_mos[0].metrics.best_valid_auc }}|{{ cells.ml_metrics_mos | internals }}|{{ cells.ml_metrics_base | internals }}\n",
    )
    .unwrap();
    let spec = d.join("lineage.yaml");
    std::fs::write(
        &spec,
        format!(
            r#"name: lineage
vars: {{ seed: 0, model: tiny }}
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 600, seed: "${{seed}}" }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: "${{seed}}" }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }} }}
  ml_train_mos:
    kind: train
    inputs: {{ split: ml_split, measure: ml_measure }}
    params: {{ model: "${{model}}", method: {{ name: mos, experts: 3, tokens: 4 }}, epochs: 1, seed: "${{seed}}", max_train_points: 16, max_valid_points: 16 }}
  ml_eval_mos: {{ kind: evaluate, inputs: {{ split: ml_split, adapter: ml_train_mos }}, params: {{ model: "${{model}}", setting: implicit, max_points: 20 }} }}
  ml_metrics_mos: {{ kind: metrics, inputs: {{ predictions: ml_eval_mos, stereotypes: ml_measure }} }}
  ml_baseline: {{ kind: baseline, inputs: {{ split: ml_split }}, params: {{ rule: user_like_rate, max_points: 20 }} }}
  ml_metrics_base: {{ kind: metrics, inputs: {{ predictions: ml_baseline, stereotypes: ml_measure }} }}
report:
  - template: cell.md.j2
    output: results/cell.md
"#,
            data = ml_data().display()
        ),
    )
    .unwrap();
    let o = mosx(d, &["run", spec.to_str().unwrap(), "-q", "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let cell = std::fs::read_to_string(d.join("results/cell.md")).unwrap();
    let parts: Vec<&str> = cell.lines().next().unwrap().split('|').collect();
    assert_eq!(
        parts[0], parts[1],
        "the train metric through lineage: {cell}"
    );
    assert!(parts[0].parse::<f64>().is_ok(), "{cell}");
    // Which routing metrics the train stage wrote decides what the line says.
    let key = key_of(d, "ml_train_mos");
    let o = mosx(d, &["export", &key[..12], "--metrics", "--format", "csv"]);
    let (csv, _) = text(&o);
    if csv.contains(",routing.valid.") {
        assert!(
            parts[2].starts_with("routing (validation, kept epoch): "),
            "{cell}"
        );
    } else {
        assert_eq!(parts[2], "", "{cell}");
    }
    // A row without a training has no internals.
    assert_eq!(parts[3], "", "{cell}");
}

//! The ranking protocol (issue 18) through the real binary on a tiny random backbone: one
//! `candidates` stage ranked by two zero-shot evaluates (implicit and explicit prompts) under
//! `protocol: ranking`, a pointwise evaluate of the same points, metrics with `k`, the
//! candidate lists exported, and a rerun that executes nothing.

mod common;
use common::stage_key as key_of;
use common::stage_metric as metric;
use common::*;

use std::path::Path;

/// 20 test points, 9 negatives each (lists of 10), cut-offs 1, 5 and 10.
fn write_spec(dir: &Path, model: &Path) -> std::path::PathBuf {
    let mut s = format!(
        r#"name: ranking
vars: {{ seed: 0, model: "{model}" }}
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 600, seed: "${{seed}}" }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: "${{seed}}" }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }} }}
  ml_candidates:
    kind: candidates
    inputs: {{ split: ml_split }}
    params: {{ negatives: 9, seed: "${{seed}}", max_points: 20 }}
  ml_point:
    kind: evaluate
    inputs: {{ split: ml_split }}
    params: {{ model: "${{model}}", setting: implicit, max_points: 20 }}
"#,
        model = model.display(),
        data = ml_data().display()
    );
    for setting in ["implicit", "explicit"] {
        s.push_str(&format!(
            r#"  ml_rank_{setting}:
    kind: evaluate
    inputs: {{ split: ml_split, candidates: ml_candidates }}
    params: {{ model: "${{model}}", setting: {setting}, protocol: ranking }}
  ml_metrics_{setting}:
    kind: metrics
    inputs: {{ predictions: ml_rank_{setting}, rankings: ml_rank_{setting}, stereotypes: ml_measure }}
    params: {{ k: [1, 5, 10] }}
"#
        ));
    }
    let path = dir.join("ranking.yaml");
    std::fs::write(&path, s).unwrap();
    path
}

/// `mosx export KEY --artifact NAME` as CSV lines.
fn export(dir: &Path, key: &str, artifact: &str) -> Vec<String> {
    let o = mosx(
        dir,
        &["export", key, "--artifact", artifact, "--format", "csv"],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    out.lines().map(str::to_string).collect()
}

#[test]
fn ranking_protocol_end_to_end_then_a_rerun_executes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model(tmp.path());
    let spec = write_spec(tmp.path(), &model);
    let spec = spec.to_str().unwrap();
    let o = mosx(tmp.path(), &["run", spec, "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("10 stages: 0 cached, 10 executed"), "{out}");
    let db = tmp.path().join("results/mosx.db");

    assert_eq!(metric(&db, "ml_candidates", "n"), 20.0);
    for setting in ["implicit", "explicit"] {
        let (ev, m) = (
            format!("ml_rank_{setting}"),
            format!("ml_metrics_{setting}"),
        );
        assert_eq!(metric(&db, &ev, "lists"), 20.0);
        assert_eq!(metric(&db, &ev, "candidates"), 200.0);
        assert_eq!(metric(&db, &m, "lists"), 20.0);
        // A list of 10 always holds its target in its top 10.
        assert_eq!(metric(&db, &m, "hr.10"), 100.0, "{setting}");
        let (h1, h5) = (metric(&db, &m, "hr.1"), metric(&db, &m, "hr.5"));
        assert!(0.0 <= h1 && h1 <= h5 && h5 <= 100.0, "{setting}: {h1} {h5}");
        let mrr = metric(&db, &m, "mrr");
        assert!(
            (10.0..=100.0).contains(&mrr),
            "{setting}: MRR {mrr} (rank <= 10)"
        );
        assert!(metric(&db, &m, "ndcg.5") <= metric(&db, &m, "ndcg.10"));
        for k in [1, 5, 10] {
            let g = metric(&db, &m, &format!("gini.{k}"));
            assert!((0.0..1.0).contains(&g), "{setting}: gini.{k} {g}");
            let c = metric(&db, &m, &format!("coverage.{k}"));
            assert!(c > 0.0 && c <= 100.0, "{setting}: coverage.{k} {c}");
            assert!(metric(&db, &m, &format!("arp.{k}")) > 0.0);
            // F on top-K lists: written per (user group, item group), NaN allowed.
            metric(&db, &m, &format!("F.at.{k}.male.male"));
        }
        // The pointwise metrics of the targets are still written.
        assert!((0.0..=100.0).contains(&metric(&db, &m, "auc")));
    }
    // A ranking evaluate scores each target with the pointwise prompt: its predictions are
    // the pointwise evaluate's on the same points.
    let (a, b) = (
        metric(&db, "ml_point", "mean_p_yes"),
        metric(&db, "ml_rank_implicit", "mean_p_yes"),
    );
    assert!((a - b).abs() < 1e-5, "pointwise {a} vs ranking {b}");
    // The explicit prompt states the profile: other scores on the same lists.
    assert_ne!(
        metric(&db, "ml_rank_implicit", "mean_p_yes"),
        metric(&db, "ml_rank_explicit", "mean_p_yes")
    );

    // The candidates are exported one row per candidate, and both evaluates ranked them.
    let cand = export(tmp.path(), &key_of(&db, "ml_candidates"), "candidates");
    assert_eq!(cand[0], "index,position,item,target");
    assert_eq!(cand.len(), 1 + 200);
    let items = |rows: &[String]| -> Vec<String> {
        rows[1..]
            .iter()
            .map(|r| r.splitn(4, ',').take(3).collect::<Vec<_>>().join(","))
            .collect()
    };
    for setting in ["implicit", "explicit"] {
        let key = key_of(&db, &format!("ml_rank_{setting}"));
        let ranked = export(tmp.path(), &key, "rankings");
        assert_eq!(ranked[0], "index,position,item,target,p_yes");
        assert_eq!(items(&ranked), items(&cand), "{setting} ranked other lists");
    }

    let o = mosx(tmp.path(), &["run", spec, "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("10 stages: 10 cached, 0 executed"), "{out}");
}

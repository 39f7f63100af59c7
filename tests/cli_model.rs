//! The backbone through the CLI: `mosx probe`, and a zero-shot evaluate → metrics
//! run on the real Gemma-3-270M that `make model` builds (skipped with a message
//! when the folder is absent).

mod common;
use common::*;

fn gemma() -> Option<std::path::PathBuf> {
    let p = repo().join("models/gemma-3-270m");
    if p.join("model.safetensors").exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: {} absent (make model builds it)", p.display());
        None
    }
}

#[test]
fn probe_prints_yes_no_probabilities() {
    let Some(model) = gemma() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let o = mosx(
        tmp.path(),
        &[
            "probe",
            model.to_str().unwrap(),
            "Is Paris the capital of France? Answer:",
            "--device",
            "cpu",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("yes id 8438, no id 2301"), "{out}");
    let p: f64 = out.split("p(Yes) = ").nth(1).unwrap()[..6].parse().unwrap();
    let q: f64 = out.split("p(No) = ").nth(1).unwrap()[..6].parse().unwrap();
    assert!((p + q - 1.0).abs() < 1e-3, "{out}");

    // The task template, from a real user and target, under the three settings.
    let data = ml_data();
    let o = mosx(
        tmp.path(),
        &[
            "probe",
            model.to_str().unwrap(),
            "--template",
            "tallrec",
            "--data",
            data.to_str().unwrap(),
            "--user",
            "196",
            "--target",
            "242",
            "--device",
            "cpu",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert_eq!(out.matches("p(Yes) =").count(), 3, "{out}");
    assert!(
        out.contains("The user is a male."),
        "explicit: user 196 is male\n{out}"
    );
    assert!(
        out.contains("The user is a female."),
        "counterfactual flips it\n{out}"
    );
    assert!(out.contains("Kolya (1996)"), "target 242\n{out}");
}

#[test]
fn zero_shot_evaluate_then_metrics() {
    let Some(model) = gemma() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_ml_spec(tmp.path(), &[0]);
    let mut text_in = std::fs::read_to_string(&spec).unwrap();
    text_in = text_in.replace("sweep:\n  seeds: [0]\n", "");
    for setting in ["implicit", "counterfactual"] {
        text_in.push_str(&format!(
            "  eval_{setting}:\n    kind: evaluate\n    inputs: {{ split: ml_split }}\n    params: {{ model: \"{}\", setting: {setting}, max_points: 12, batch_size: 4 }}\n  metrics_{setting}:\n    kind: metrics\n    inputs: {{ predictions: eval_{setting}, stereotypes: ml_measure }}\n",
            model.display()
        ));
    }
    std::fs::write(&spec, text_in).unwrap();
    let o = mosx(
        tmp.path(),
        &["run", spec.to_str().unwrap(), "-q", "--device", "cpu"],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("8 stages: 0 cached, 8 executed"), "{out}");
    let db = tmp.path().join("results/mosx.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    let get = |stage: &str, metric: &str| -> Option<f64> {
        c.query_row(
            "SELECT m.value FROM metrics m JOIN stages s ON s.key = m.key WHERE s.name = ?1 AND m.name = ?2",
            [stage, metric],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(get("eval_implicit", "n"), Some(12.0));
    assert_eq!(get("metrics_implicit", "n"), Some(12.0));
    let auc = get("metrics_implicit", "auc");
    assert!(
        auc.is_none() || (0.0..=100.0).contains(&auc.unwrap()),
        "{auc:?}"
    );
    // Implicit and counterfactual prompts differ, so do their scores.
    let m1 = get("eval_implicit", "mean_p_yes").unwrap();
    let m2 = get("eval_counterfactual", "mean_p_yes").unwrap();
    assert!((m1 - m2).abs() > 1e-6, "{m1} vs {m2}");
    // A rerun is free: the checkpoint's content hash is part of the key, not re-scored.
    let o = mosx(tmp.path(), &["run", spec.to_str().unwrap(), "-q"]);
    assert!(
        text(&o).0.contains("8 stages: 8 cached, 0 executed"),
        "{:?}",
        text(&o)
    );
}

/// `probe --json` prints full-precision numbers: p(Yes) is the f64 softmax of the two
/// printed logits, p(Yes) + p(No) = 1, and the text output is the same p(Yes) rounded.
#[test]
fn probe_json_gives_logits_and_probabilities_at_full_precision() {
    let tmp = tempfile::tempdir().unwrap();
    let data = ml_data();
    let o = mosx(
        tmp.path(),
        &["tiny-model", "tiny", "--data", data.to_str().unwrap()],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    let prompts = ["Will the user like it? Answer:", "Yes or no? Answer:"];
    let mut args = vec!["probe", "tiny", "--device", "cpu", "--json"];
    args.extend(prompts);
    let o = mosx(tmp.path(), &args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["dtype"], "f32", "{out}");
    let rows = v["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{out}");
    let mut p_yes = Vec::new();
    for (r, prompt) in rows.iter().zip(prompts) {
        assert_eq!(r["prompt"], prompt, "results in input order");
        let (ly, ln) = (
            r["logit_yes"].as_f64().unwrap(),
            r["logit_no"].as_f64().unwrap(),
        );
        let (py, pn) = (r["p_yes"].as_f64().unwrap(), r["p_no"].as_f64().unwrap());
        let want = 1.0 / (1.0 + (ln - ly).exp());
        assert!((py - want).abs() < 1e-12, "p_yes {py} vs softmax {want}");
        assert!((py + pn - 1.0).abs() < 1e-12, "{py} + {pn}");
        assert!(r["n_tokens"].as_u64().unwrap() > 0);
        assert_ne!(r["yes_id"], r["no_id"]);
        p_yes.push(py);
    }
    args.retain(|a| *a != "--json");
    let o = mosx(tmp.path(), &args);
    let (out, _) = text(&o);
    for py in p_yes {
        assert!(
            out.contains(&format!("p(Yes) = {py:.4}")),
            "{py:.4} in\n{out}"
        );
    }
}

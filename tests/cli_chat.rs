//! `prompt_format: chat` through the real binaries: on a tiny Qwen2 backbone (whose
//! `tiny-model` checkpoint carries a ChatML chat template, as Qwen's instruct checkpoints
//! do) a prompt-tuning training and its evaluation read the prompts wrapped in the template;
//! the chat and plain evaluations are different stages scoring differently; the chat
//! template's file is a key file; a backbone without a template is refused at plan time at
//! `prompt_format`; a rerun executes nothing.

mod common;
use common::ml1m::write_ml1m;
use common::stage_metric as metric;
use common::*;

use std::path::Path;

fn write_spec(dir: &Path, data: &Path, model: &Path, file: &str) -> std::path::PathBuf {
    let s = format!(
        r#"name: chat
vars: {{ seed: 0, model: "{model}" }}
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}", group_by: gender }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 60, seed: "${{seed}}" }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: "${{seed}}" }} }}
  ml_measure: {{ kind: measure, inputs: {{ split: ml_split }}, params: {{ min_count: 1 }} }}
  ml_train_chat:
    kind: train
    inputs: {{ split: ml_split, measure: ml_measure }}
    params: {{ model: "${{model}}", method: {{ name: prompt_tuning, tokens: 2 }}, prompt_format: chat, epochs: 1, seed: "${{seed}}", max_train_points: 16, max_valid_points: 8 }}
  ml_eval_chat:
    kind: evaluate
    inputs: {{ split: ml_split, adapter: ml_train_chat }}
    params: {{ model: "${{model}}", setting: implicit, prompt_format: chat, max_points: 12 }}
  ml_eval_zero_chat:
    kind: evaluate
    inputs: {{ split: ml_split }}
    params: {{ model: "${{model}}", setting: implicit, prompt_format: chat, max_points: 12 }}
  ml_eval_zero_plain:
    kind: evaluate
    inputs: {{ split: ml_split }}
    params: {{ model: "${{model}}", setting: implicit, prompt_format: plain, max_points: 12 }}
"#,
        model = model.display(),
        data = data.display()
    );
    let path = dir.join(file);
    std::fs::write(&path, s).unwrap();
    path
}

#[test]
fn a_chat_templated_backbone_trains_and_scores_prompts_in_its_template() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ml-1m");
    write_ml1m(&data);
    let model = tiny_model_arch(tmp.path(), "tiny_qwen2", "qwen2", &data);
    assert!(model.join("tokenizer_config.json").is_file());
    let spec = write_spec(tmp.path(), &data, &model, "chat.yaml");
    let spec = spec.to_str().unwrap();
    let o = mosx(tmp.path(), &["run", spec, "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("8 stages: 0 cached, 8 executed"), "{out}");
    let db = tmp.path().join("results/mosx.db");
    let chat = metric(&db, "ml_eval_zero_chat", "mean_p_yes");
    let plain = metric(&db, "ml_eval_zero_plain", "mean_p_yes");
    assert!(chat.is_finite() && plain.is_finite());
    assert_ne!(
        chat, plain,
        "the chat template changed nothing the backbone read"
    );
    assert!(metric(&db, "ml_eval_chat", "mean_p_yes").is_finite());
    // The template's file is part of the chat stages' keys.
    let key: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT key FROM stages WHERE name = 'ml_eval_zero_chat'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let o = mosx(tmp.path(), &["show", &key]);
    let (shown, err) = text(&o);
    assert!(o.status.success(), "{shown}\n{err}");
    assert!(shown.contains("model/chat_template"), "{shown}");

    let o = mosx(tmp.path(), &["run", spec, "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("8 stages: 8 cached, 0 executed"), "{out}");
}

#[test]
fn chat_on_a_backbone_without_a_template_is_a_plan_error_at_prompt_format() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("ml-1m");
    write_ml1m(&data);
    let model = tiny_model_arch(tmp.path(), "tiny_llama", "llama", &data);
    let spec = write_spec(tmp.path(), &data, &model, "nochat.yaml");
    let o = mosx(
        tmp.path(),
        &["run", spec.to_str().unwrap(), "--device", "cpu"],
    );
    let (out, err) = text(&o);
    assert!(!o.status.success(), "{out}\n{err}");
    assert!(
        err.contains("prompt_format") && err.contains("no chat template"),
        "{err}"
    );
    assert!(!out.contains("executed"), "nothing ran: {out}");
}

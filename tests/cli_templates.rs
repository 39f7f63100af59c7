//! The templates folder is resolved once, at plan time, and carried in the job: a prompt
//! template that lies only beside the spec (`study/templates/prompts/NAME.j2`, the working
//! directory having no `templates/`) is the one the planner checks, the key hashes and the
//! worker's runner renders.

mod common;
use common::*;

#[test]
fn a_prompt_template_beside_the_spec_is_the_one_the_worker_renders() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let o = mosx(
        dir,
        &["tiny-model", "tiny", "--data", ml_data().to_str().unwrap()],
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(!dir.join("templates").exists());
    let prompts = dir.join("study/templates/prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    std::fs::create_dir_all(dir.join("study/experiments")).unwrap();
    // The built-in prompt with a different first line: another input, other scores.
    let builtin = std::fs::read_to_string(repo().join("templates/prompts/tallrec.j2")).unwrap();
    let mine = format!("A question about one user of a recommender.\n{builtin}");
    std::fs::write(prompts.join("mine.j2"), mine).unwrap();
    let spec = dir.join("study/experiments/t.yaml");
    std::fs::write(
        &spec,
        format!(
            r#"name: templates
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 300, seed: 1 }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: 1 }} }}
  ml_eval_builtin: {{ kind: evaluate, inputs: {{ split: ml_split }}, params: {{ model: tiny, setting: implicit, max_points: 8 }} }}
  ml_eval_mine: {{ kind: evaluate, inputs: {{ split: ml_split }}, params: {{ model: tiny, setting: implicit, max_points: 8, template: mine }} }}
"#,
            data = ml_data().display()
        ),
    )
    .unwrap();
    let spec = spec.to_str().unwrap();
    let o = mosx(dir, &["run", spec, "-q", "--device", "cpu"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let means: Vec<f64> = metrics(&dir.join("results/mosx.db"))
        .into_iter()
        .filter(|(_, name, _)| name == "mean_p_yes")
        .map(|(_, _, v)| v.unwrap())
        .collect();
    assert_eq!(means.len(), 2, "{means:?}");
    assert_ne!(
        means[0], means[1],
        "the custom prompt scored like the built-in one"
    );

    // The template's content is in the key: editing it reruns that evaluation only.
    let edited = std::fs::read_to_string(prompts.join("mine.j2")).unwrap();
    std::fs::write(prompts.join("mine.j2"), format!("Once more. {edited}")).unwrap();
    let o = mosx(dir, &["run", spec, "--device", "cpu"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("1 executed"), "{out}{err}");
}

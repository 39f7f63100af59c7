//! The worker binary on its own: an impossible `--device` is a `fatal` event and exit 2, and
//! `tiny-model` writes a checkpoint folder. (Its protocol with jobs from a plan is tested from
//! the planner's side, `tests/worker_serve.rs` at the root.) These tests also make
//! `cargo test --workspace` build the worker binary the root tests run.

use std::process::{Command, Stdio};

use mosx_stage::protocol::{Event, FatalReason};

fn worker() -> &'static str {
    env!("CARGO_BIN_EXE_mosx-worker")
}

#[test]
fn an_impossible_device_is_a_fatal_event() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(worker())
        .args(["serve", "--store", "s/mosx.db", "--device", "cuda:99"])
        .current_dir(tmp.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let line = String::from_utf8_lossy(&o.stdout);
    match serde_json::from_str::<Event>(line.trim()).unwrap() {
        Event::Fatal { reason, error } => {
            assert_eq!(reason, FatalReason::Device);
            assert!(error.contains("cuda:99"), "{error}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tiny_model_writes_a_checkpoint_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(worker())
        .args(["tiny-model", "tiny", "--arch", "t5"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(tmp.path().join("tiny").join(f).is_file(), "{f} missing");
    }
}

//! LoRA on every projection (`targets: all-linear`) against peft 0.21 on transformers 5.24
//! (`tools/golden_lora.py`): with peft's random adapters loaded under mosx's names, the
//! adapted answer logits and pooled states of tiny Qwen2, Qwen3 and Gemma-3 checkpoints
//! equal peft's on padded batches, with and without a soft prompt; the adapters are
//! exactly those peft creates (names and shapes), so no projection is missed or doubled.

mod common;
use common::{golden_in, max_diffs};

use std::path::PathBuf;

use tch::{Device, Kind};

use mosx_models::checkpoint::Checkpoint;
use mosx_models::{load_backbone, LoraConfig, Targets};

fn golden(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(rel)
}

#[test]
fn all_linear_lora_equals_peft_on_every_projection() {
    for name in ["qwen2", "qwen3", "gemma3"] {
        let dir = golden(&format!("lora/{name}"));
        let g = golden_in(&dir);
        let src = golden(g["checkpoint"].as_str().unwrap());
        let ck = Checkpoint::resolve(src.to_str().unwrap()).unwrap();
        let mut model = load_backbone(&ck, Device::Cpu, Kind::Float).unwrap();
        let mut adapters = tch::nn::VarStore::new(Device::Cpu);
        let cfg = LoraConfig {
            rank: 2,
            alpha: 4.0,
            dropout: 0.0,
            targets: Targets::all_linear(),
        };
        model.enable_lora(&adapters.root(), cfg).unwrap();
        let peft = tch::Tensor::read_safetensors(dir.join("adapter.safetensors")).unwrap();
        let mut ours: Vec<(String, Vec<i64>)> = adapters
            .variables()
            .into_iter()
            .map(|(n, t)| (n, t.size()))
            .collect();
        let mut theirs: Vec<(String, Vec<i64>)> =
            peft.iter().map(|(n, t)| (n.clone(), t.size())).collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{name}: adapters differ from peft's");
        adapters.load(dir.join("adapter.safetensors")).unwrap();
        let (dl, dp) = max_diffs(model.as_ref(), &g, &g["cases"]);
        assert!(
            dl < 1e-4 && dp < 1e-4,
            "{name}: logits {dl:e}, pooled {dp:e}"
        );
        eprintln!("{name}: max |Δ| logits {dl:.1e}, pooled {dp:.1e}");
    }
}

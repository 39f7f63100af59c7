//! `mosx tiny-model DIR`: writes a tiny random checkpoint whose word-level tokenizer knows
//! the task template and a dataset's titles, so a whole spec (training included) runs in
//! seconds on a laptop or in CI. Its numbers mean nothing; its plumbing is the real one.
//!
//! The arguments are defined (and checked) here, in the kernel, so that the planner's
//! `mosx tiny-model` and the worker parse the same ones; the command runs in the stage worker
//! (`mosx-worker tiny-model`, which parses these same arguments), since it needs libtorch.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Arch {
    Gemma3,
    T5,
    /// Llama-3-style (tied head, `llama3` RoPE scaling), with a byte-level BPE tokenizer.
    Llama,
    /// Qwen2 (q/k/v biases), byte-level BPE.
    Qwen2,
    /// Qwen3 (per-head q/k norms, explicit head_dim), byte-level BPE.
    Qwen3,
    /// Mistral (sliding window, untied head), byte-level BPE.
    Mistral,
}

#[derive(clap::Args)]
#[command(
    about = "Write a tiny random checkpoint (config, weights, tokenizer: word-level for gemma3/t5, byte-level BPE for llama/qwen2/qwen3/mistral) for quick runs",
    after_help = "Example:\n  mosx tiny-model models/tiny-gemma3 --data data/ml-100k\n  mosx run experiments/smoke.yaml --set vars.model=models/tiny-gemma3"
)]
pub struct TinyArgs {
    /// Output folder.
    pub out: PathBuf,
    #[arg(long, value_enum, default_value = "gemma3")]
    pub arch: Arch,
    /// Dataset folders whose titles the tokenizer should know (unknown words become <unk>).
    #[arg(long)]
    pub data: Vec<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: i64,
}

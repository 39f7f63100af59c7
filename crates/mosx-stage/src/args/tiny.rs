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
}

#[derive(clap::Args)]
#[command(
    about = "Write a tiny random checkpoint (config, weights, word-level tokenizer) for quick runs",
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

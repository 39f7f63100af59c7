//! `mosx tiny-model DIR`: writes a tiny random checkpoint whose word-level tokenizer knows
//! the task template and a dataset's titles, so a whole spec (training included) runs in
//! seconds on a laptop or in CI. Its numbers mean nothing; its plumbing is the real one.

use std::path::PathBuf;

use mosx_models::tiny::{words_of, write_tiny, TinyArch};

use super::EXIT_OK;
use crate::prompt::{noun, profile_sentence};

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

pub fn run(a: TinyArgs) -> anyhow::Result<i32> {
    let mut text = String::from(include_str!("../../templates/prompts/tallrec.j2"));
    text.push_str(" Yes No none ");
    let mut n_titles = 0;
    for dir in &a.data {
        let ds = mosx_data::load(dir, &Default::default())?;
        text.push_str(noun(ds.kind));
        for g in &ds.groups {
            text.push(' ');
            text.push_str(&profile_sentence(ds.kind, g));
        }
        for item in &ds.items {
            text.push(' ');
            text.push_str(&item.title);
        }
        n_titles += ds.items.len();
    }
    let words = words_of(&text);
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let arch = match a.arch {
        Arch::Gemma3 => TinyArch::Gemma3,
        Arch::T5 => TinyArch::T5,
    };
    write_tiny(&a.out, arch, &refs, a.seed)?;
    println!(
        "wrote {} ({:?}, {} titles' words)",
        a.out.display(),
        a.arch,
        n_titles
    );
    Ok(EXIT_OK)
}

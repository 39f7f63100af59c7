//! `mosx-worker tiny-model DIR` (what `mosx tiny-model` runs): writes a tiny random checkpoint
//! whose word-level tokenizer knows the task template and a dataset's titles, so a whole spec
//! (training included) runs in seconds on a laptop or in CI. Its numbers mean nothing; its
//! plumbing is the real one. The arguments are `mosx_stage::args::tiny::TinyArgs`.

use mosx_models::tiny::{words_of, write_tiny, TinyArch};
use mosx_stage::args::tiny::{Arch, TinyArgs};
use mosx_stage::prompt::{noun, profile_sentence};

const EXIT_OK: i32 = 0;

pub fn run(a: TinyArgs) -> anyhow::Result<i32> {
    let mut text = String::from(include_str!("../../../templates/prompts/tallrec.j2"));
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
        Arch::Llama => TinyArch::Llama,
        Arch::Qwen2 => TinyArch::Qwen2,
        Arch::Qwen3 => TinyArch::Qwen3,
        Arch::Mistral => TinyArch::Mistral,
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

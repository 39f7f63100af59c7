//! Loads a spec and prints its instances (or the located error) and the load time.
//! Usage: cargo run --release -p mosx-spec --example load_spec -- SPEC.yaml [--set a.b=v ...]

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: load_spec SPEC.yaml [--set a.b=v ...]");
        std::process::exit(2);
    };
    let mut sets = Vec::new();
    while let Some(a) = args.next() {
        if a == "--set" {
            sets.extend(args.next());
        }
    }
    let start = Instant::now();
    let result = mosx_spec::load(&PathBuf::from(path), &sets);
    let elapsed = start.elapsed();
    match result {
        Ok(spec) => {
            let stages: usize = spec.instances.iter().map(|i| i.stages.len()).sum();
            println!(
                "{}: {} instances, {} stages, sweep {:?}, hash {}, loaded in {:.2?}",
                spec.name,
                spec.instances.len(),
                stages,
                spec.sweep_paths,
                spec.hash,
                elapsed
            );
        }
        Err(e) => {
            println!("{e}");
            std::process::exit(1);
        }
    }
}

//! The command line (clap). This is the only place that uses `anyhow`: every
//! layer below returns typed errors, and here they get context and an exit code.
//!
//! `probe` and `tiny-model` need libtorch: their arguments are checked here, then this
//! process is replaced by the stage worker's command of the same name and arguments
//! (`mosx-worker probe ...`), so their output and exit code are the worker's.

mod common;
mod compare;
mod dag;
mod export;
mod fsck;
mod inspect;
mod report;
mod run;
mod search;

use clap::{Parser, Subcommand};

/// Exit codes.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

#[derive(Parser)]
#[command(
    name = "mosx",
    version,
    about = "Declarative, cached experiments on stereotype-aware unfairness in LLM-based recommenders",
    after_help = "Example:\n  mosx run experiments/table3.yaml\n  mosx run experiments/table3.yaml --explain --set stages.ml_measure.params.z_star=1.645"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    Run(run::RunArgs),
    Dag(dag::DagArgs),
    Report(report::ReportArgs),
    Compare(compare::CompareArgs),
    Ls(inspect::LsArgs),
    Show(inspect::ShowArgs),
    Gc(inspect::GcArgs),
    Fsck(fsck::FsckArgs),
    Export(export::ExportArgs),
    Probe(mosx_stage::args::ProbeArgs),
    TinyModel(mosx_stage::args::TinyArgs),
}

/// Replace this process by the stage worker run with this process's arguments (a subcommand
/// the worker has too); returns only if that fails.
fn exec_worker() -> anyhow::Result<i32> {
    use std::os::unix::process::CommandExt;
    let exe = crate::exec::worker::locate()?;
    let err = std::process::Command::new(&exe)
        .args(std::env::args_os().skip(1))
        .exec();
    Err(anyhow::anyhow!(
        "running the stage worker {}: {err}",
        exe.display()
    ))
}

/// Run the CLI; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run::run(a),
        Command::Dag(a) => dag::run(a),
        Command::Report(a) => report::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Ls(a) => inspect::ls(a),
        Command::Show(a) => inspect::show(a),
        Command::Gc(a) => inspect::gc(a),
        Command::Fsck(a) => fsck::run(a),
        Command::Export(a) => export::run(a),
        Command::Probe(_) => exec_worker(),
        Command::TinyModel(_) => exec_worker(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // `mosx export ... | head`: the reader left; that is not a failure.
            if e.downcast_ref::<std::io::Error>().map(|io| io.kind())
                == Some(std::io::ErrorKind::BrokenPipe)
            {
                return EXIT_OK;
            }
            if let Some(spec) = e.downcast_ref::<mosx_spec::SpecError>() {
                eprintln!("error: {spec}");
                return EXIT_USAGE;
            }
            if e.downcast_ref::<common::UsageError>().is_some() {
                eprintln!("error: {e:#}");
                return EXIT_USAGE;
            }
            eprintln!("error: {e:#}");
            EXIT_FAILED
        }
    }
}

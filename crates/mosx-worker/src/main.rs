//! `mosx-worker`: the stage worker, the one mosx executable that links libtorch. It runs the
//! stages that need it (`train`, `evaluate`) for the planner `mosx`, which links no libtorch:
//!
//! * `serve [--device D]`: a long-lived child of `mosx run` (one per device), taking jobs one
//!   after another, so a backbone is loaded once per run; the store comes in `MOSX_STORE`;
//! * `stage --store-file FILE [--device D] --job FILE`: one job, as a cluster job runs it;
//!
//! The store location (a PostgreSQL URL may hold a password) never comes on the command line
//! mosx builds: `MOSX_STORE`/`MOSX_OBJECTS` in the environment, or `--store-file` (0600).
//! * `tiny-model`, `probe`: the commands `mosx tiny-model` and `mosx probe` run.
//!
//! Exit codes: 0 success, 1 a stage or the command failed, 2 a bad command line, job file or
//! device.

mod device;
mod pool;
mod probe;
mod prompting;
mod runners;
mod serve;
mod tiny;

use clap::{Parser, Subcommand};

/// A bad command line or input (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

#[derive(Parser)]
#[command(
    name = "mosx-worker",
    version,
    about = "The mosx stage worker: runs the stages that need libtorch (train, evaluate) for `mosx run`, locally or as a cluster job"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Serve(serve::ServeArgs),
    Stage(serve::StageArgs),
    TinyModel(mosx_stage::args::tiny::TinyArgs),
    Probe(mosx_stage::args::probe::ProbeArgs),
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Cmd::Serve(a) => serve::serve(a),
        Cmd::Stage(a) => serve::stage(a),
        Cmd::TinyModel(a) => edge(tiny::run(a)),
        Cmd::Probe(a) => edge(probe::run(a)),
    };
    std::process::exit(code);
}

/// The exit code of a command (`anyhow` only here, at the command line's edge).
fn edge(result: anyhow::Result<i32>) -> i32 {
    match result {
        Ok(code) => code,
        Err(e) => {
            if e.downcast_ref::<std::io::Error>().map(|io| io.kind())
                == Some(std::io::ErrorKind::BrokenPipe)
            {
                return 0;
            }
            eprintln!("error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                1
            }
        }
    }
}

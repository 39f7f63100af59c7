//! `mosx dag SPEC`: print the compiled plan.

use std::path::PathBuf;

use super::common;
use super::EXIT_OK;
use crate::plan::render::{render, Format};

#[derive(clap::Args)]
#[command(
    about = "Print the DAG a spec compiles to",
    after_help = "Examples:\n  mosx dag experiments/table3.yaml\n  mosx dag experiments/fig3.yaml --format dot | dot -Tsvg > dag.svg\n  mosx dag experiments/fig3.yaml --format mermaid"
)]
pub struct DagArgs {
    pub spec: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
}

pub fn run(a: DagArgs) -> anyhow::Result<i32> {
    // `dag` writes no report: outputs are not confined here, templates are still checked.
    let plan = common::plan(&a.spec, &a.sets, true)?;
    print!("{}", render(&plan, a.format));
    Ok(EXIT_OK)
}

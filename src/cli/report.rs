//! `mosx report SPEC`: render the spec's reports from the cache alone.

use std::path::PathBuf;

use super::common::{self, StoreArgs};
use super::{EXIT_FAILED, EXIT_OK};

#[derive(clap::Args)]
#[command(
    about = "Render a spec's reports from the cache only (never computes)",
    after_help = "Example:\n  mosx report experiments/table3.yaml\n\nExits 1 and lists the missing stages if any result is not cached."
)]
pub struct ReportArgs {
    pub spec: PathBuf,
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// Let report outputs be written outside the project folder (the working directory).
    #[arg(long)]
    pub allow_outside_outputs: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(a: ReportArgs) -> anyhow::Result<i32> {
    let plan = common::plan(&a.spec, &a.sets, a.allow_outside_outputs)?;
    let store = common::existing_store(&a.store)?;
    let missing = common::missing_stages(
        &plan,
        store.as_deref(),
        &common::location(&a.store)?,
        &a.spec,
    )?;
    if !missing.is_empty() {
        return Ok(EXIT_FAILED);
    }
    let Some(store) = store else {
        return Ok(EXIT_FAILED);
    };
    for f in crate::report::render_all(&plan, &*store, a.allow_outside_outputs)? {
        println!("wrote {}", f.display());
    }
    Ok(EXIT_OK)
}

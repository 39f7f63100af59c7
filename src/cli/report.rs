//! `mosx report SPEC`: render the spec's reports from the cache alone (a search: over the
//! trials the store determines, then each group's best trial).

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
    let spec = mosx_spec::load(&a.spec, &a.sets)?;
    let store = common::existing_store(&a.store)?;
    // A search's trials are those the stored results determine.
    let (plan, search) = common::replay(spec, store.as_deref(), a.allow_outside_outputs)?;
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
    for line in search.iter().flat_map(|d| d.best_lines()) {
        println!("{line}");
    }
    Ok(EXIT_OK)
}

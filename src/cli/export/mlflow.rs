//! `mosx export --to mlflow URI SPEC`: the spec's trainings and their evaluations as runs
//! on an MLflow tracking server (see [`crate::mlflow`] for what maps to what).
//!
//! Like `mosx report`, it reads the cache only: every stage of the spec must be stored
//! (else it exits 1 listing the missing ones). The spec's reports are rendered first (as
//! `mosx report` writes them), so the runs carry the current ones.

use std::path::Path;

use super::ExportArgs;
use crate::cli::common::{self, UsageError};
use crate::cli::{EXIT_FAILED, EXIT_OK};
use crate::mlflow::{push_all, training_runs, Client, MlflowError};

pub(super) fn export(uri: &str, spec: &Path, a: &ExportArgs) -> anyhow::Result<i32> {
    let client = Client::new(uri).map_err(|e| match e {
        MlflowError::Scheme { .. } => anyhow::Error::from(UsageError(e.to_string())),
        other => other.into(),
    })?;
    let plan = common::plan(spec, &a.sets, false)?;
    let location = common::location(&a.store)?;
    let store = common::existing_store(&a.store)?;
    if !common::missing_stages(&plan, store.as_deref(), &location, spec)?.is_empty() {
        return Ok(EXIT_FAILED);
    }
    let store = store.ok_or_else(|| UsageError(format!("no store at {location}")))?;
    let reports = crate::report::render_all(&plan, &*store, false)?;
    let runs = training_runs(&plan, &*store, &reports)?;
    if runs.is_empty() {
        return Err(UsageError(format!(
            "spec {} has no train stage: nothing to export to MLflow",
            spec.display()
        ))
        .into());
    }
    let experiment = &plan.spec.name;
    let (id, pushed) = push_all(&client, experiment, &runs, &*store)?;
    for p in &pushed {
        println!(
            "{} run {} for stage {} in experiment `{experiment}` ({}/#/experiments/{id}/runs/{})",
            if p.created { "created" } else { "updated" },
            p.run_id,
            p.stage,
            client.uri(),
            p.run_id
        );
    }
    Ok(EXIT_OK)
}

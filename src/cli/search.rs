//! `mosx run SPEC` of a spec with `sweep.search`: the planning loop (`crate::search`).
//!
//! Each round proposes the trials whose proposals are determined, compiles them, runs what
//! is dirty (a round of cached trials executes nothing) and reads their objectives from the
//! store; it ends when every trial has an outcome or a round learns nothing. Reports are
//! rendered once, from the last round's plan.

use std::sync::Arc;

use super::common;
use super::run::{execute, render_reports, RunArgs};
use super::{EXIT_FAILED, EXIT_OK};
use crate::search::Driver;

pub fn run(a: &RunArgs, spec: mosx_spec::Spec) -> anyhow::Result<i32> {
    let mut driver = Driver::new(spec).expect("called for a spec with a search");
    let mut code = EXIT_OK;
    loop {
        driver.propose()?;
        let plan = Arc::new(common::plan_of(driver.spec()?, a.allow_outside_outputs)?);
        code = code.max(execute(a, plan.clone(), false)?);
        if a.dry_run {
            let (_, all) = driver.counts();
            let proposed: usize = driver.groups.iter().map(Vec::len).sum();
            println!(
                "search: {proposed} of {all} trials proposed before any result (the rest are proposed from results)"
            );
            return Ok(code);
        }
        let store = common::open_store(&a.store)?;
        let learned = driver.observe(&plan, &*store)?;
        if driver.finished() || learned == 0 {
            print_outcome(&driver);
            if driver.finished() && code == EXIT_OK && !a.no_report && !plan.spec.report.is_empty()
            {
                code = render_reports(&plan, &*store, a.allow_outside_outputs);
            }
            if !driver.finished() {
                code = EXIT_FAILED;
            }
            return Ok(code);
        }
    }
}

/// The search's totals and each group's best trial.
fn print_outcome(driver: &Driver) {
    let (done, all) = driver.counts();
    let failed = driver
        .groups
        .iter()
        .flatten()
        .filter(|t| t.outcome == Some(mosx_search::Outcome::Failed))
        .count();
    let pruned = driver
        .groups
        .iter()
        .flatten()
        .filter(|t| matches!(t.outcome, Some(mosx_search::Outcome::Pruned { .. })))
        .count();
    let pruned = if driver.decl.prune.is_some() {
        format!(", {pruned} pruned")
    } else {
        String::new()
    };
    println!(
        "search ({}): {done} of {all} trials with an outcome, {failed} failed{pruned}",
        driver.decl.search.method.name()
    );
    for line in driver.best_lines() {
        println!("  {line}");
    }
}

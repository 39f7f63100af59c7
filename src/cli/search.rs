//! `mosx run SPEC` of a spec with `sweep.search`: the planning loop (`crate::search`).
//!
//! Trials are asynchronous: a run starts with the trials whose proposals are determined, and
//! each time one of its objective (or pruned) stages ends, the outcomes are read from the
//! store and every trial that became determined joins the run under way ([`Trials`], the
//! scheduler's `Grow`), on the local executor and on Slurm alike, without waiting for the
//! other running trials. Which trials exist stays a function of the seed and the stored
//! results (`crate::search`), not of which one ended first.
//!
//! A run that could not take the new trials in (their plan does not extend the running one)
//! is followed by another, as rounds: the loop ends when every trial has an outcome or a run
//! learns nothing. Reports are rendered once, from the last run's plan.

use std::sync::Arc;

use petgraph::graph::NodeIndex;

use mosx_store::Store;

use super::common;
use super::run::{execute, force_globs, render_reports, RunArgs};
use super::{EXIT_FAILED, EXIT_OK};
use crate::exec::scheduler::{Grow, NoGrow};
use crate::exec::{self, Status};
use crate::plan::Plan;
use crate::search::Driver;

pub fn run(a: &RunArgs, spec: mosx_spec::Spec) -> anyhow::Result<i32> {
    let mut driver = Driver::new(spec).expect("called for a spec with a search");
    let mut code = EXIT_OK;
    loop {
        driver.propose()?;
        let plan = Arc::new(common::plan_of(driver.spec()?, a.allow_outside_outputs)?);
        if a.dry_run {
            code = code.max(execute(a, plan, false, &mut NoGrow)?.0);
            let (_, all) = driver.counts();
            let proposed: usize = driver.groups.iter().map(Vec::len).sum();
            println!(
                "search: {proposed} of {all} trials proposed before any result (the rest are proposed from results)"
            );
            return Ok(code);
        }
        let store = common::open_store(&a.store)?;
        let known = driver.counts().0;
        let mut trials = Trials {
            driver: &mut driver,
            args: a,
            store: store.clone(),
            forced: force_globs(&a.force)?,
        };
        let (c, plan) = execute(a, plan, false, &mut trials)?;
        code = code.max(c);
        driver.observe(&plan, &*store)?;
        if driver.finished() || driver.counts().0 == known {
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

/// The trials that join a run under way (see the module note).
struct Trials<'a> {
    driver: &'a mut Driver,
    args: &'a RunArgs,
    store: Arc<dyn Store>,
    forced: globset::GlobSet,
}

impl Grow for Trials<'_> {
    fn grow(&mut self, plan: &Plan, ended: &[NodeIndex]) -> Option<(Arc<Plan>, Vec<Status>)> {
        if !self.decides(plan, ended) {
            return None;
        }
        match self.next(plan) {
            Ok(next) => next,
            Err(e) => {
                // The trials stay proposed: the next run of the loop takes them.
                eprintln!("  search: the new trials wait for the next run ({e})");
                None
            }
        }
    }
}

impl Trials<'_> {
    /// Whether the stages that ended can give a trial its outcome: an objective or pruned
    /// stage, or a failure (then its trial failed); when nothing runs (`ended` empty), the
    /// stored results may already hold outcomes (cached trials).
    fn decides(&self, plan: &Plan, ended: &[NodeIndex]) -> bool {
        let d = &self.driver.decl;
        ended.is_empty()
            || ended.iter().any(|i| {
                let base = &plan.graph[*i].base;
                *base == d.objective.stage
                    || d.prune.as_ref().is_some_and(|p| p.stage == *base)
                    || self
                        .store
                        .record(&plan.graph[*i].key)
                        .ok()
                        .flatten()
                        .is_none()
            })
    }

    /// The outcomes read, and the trials now determined as a plan extending `plan`.
    fn next(&mut self, plan: &Plan) -> anyhow::Result<Option<(Arc<Plan>, Vec<Status>)>> {
        self.driver.observe(plan, &*self.store)?;
        if self.driver.propose()? == 0 {
            return Ok(None);
        }
        let spec = self.driver.spec()?;
        let next = common::plan_of(spec, self.args.allow_outside_outputs)?.extending(plan)?;
        let forced = &self.forced;
        let statuses = exec::check(&next, Some(&*self.store), &|n| forced.is_match(n))?;
        exec::clear_committed_work(&next, &*self.store, &statuses);
        Ok(Some((Arc::new(next), statuses)))
    }
}

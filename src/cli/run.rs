//! `mosx run SPEC`: plan, check the cache, run what is dirty, render the reports.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use globset::{Glob, GlobSetBuilder};

use super::common::{self, StoreArgs, UsageError};
use super::{EXIT_FAILED, EXIT_OK};
use crate::device::DeviceRequest;
use crate::exec::scheduler::{Grow, NoGrow};
use crate::exec::worker::{WorkerError, WorkerPool};
use crate::exec::{self, Status};
use crate::plan::validate_resources::KindResources;
use crate::plan::Plan;
use crate::provenance;

#[derive(clap::Args)]
#[command(
    about = "Run a spec: every stage not in the cache, then its reports",
    after_help = "Examples:\n  mosx run experiments/table3.yaml\n  mosx run experiments/table3.yaml --dry-run --explain\n  mosx run experiments/fig3.yaml --set stages.ml_measure.params.z_star=1.96 -j 2\n  mosx run experiments/table3.yaml --force 'bx_*'"
)]
pub struct RunArgs {
    /// The YAML spec.
    pub spec: PathBuf,
    /// Show what would run (and why, with --explain) without running or writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Print why each stage is (re)run: the fingerprint part that changed.
    #[arg(long)]
    pub explain: bool,
    /// Override a spec value: `--set stages.ml_measure.params.z_star=1.645` (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// Parallel CPU stages: 1 to 4 × the cores (at least 8, at most 256).
    #[arg(short = 'j', long, default_value_t = default_jobs(), value_parser = parse_jobs)]
    pub jobs: usize,
    /// cpu, cuda or cuda:N (default: cuda when available), for the stages the worker runs.
    #[arg(long, value_parser = DeviceRequest::checked_arg)]
    pub device: Option<String>,
    /// Rerun stages whose name matches this glob even if cached (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub force: Vec<String>,
    /// Do not render the spec's reports.
    #[arg(long)]
    pub no_report: bool,
    /// Let report outputs be written outside the project folder (the working directory).
    #[arg(long)]
    pub allow_outside_outputs: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    /// Where dirty stages run: `local` (this machine: CPU stages in parallel, device stages in
    /// a worker) or `slurm` (one `sbatch` job per stage running `mosx-worker stage`, with
    /// `afterok` dependencies and the spec's `resources:`; needs a store every node sees,
    /// e.g. `--store postgres://… --objects /shared/dir`).
    #[arg(long, value_enum, default_value = "local")]
    pub executor: Executor,
    /// Slurm executor: seconds between polls of the jobs and the store.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub poll: f64,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    Local,
    Slurm,
}

fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Holds the plan until the process exits instead of freeing it: the command ends right
/// after, and freeing a 100,000-stage plan node by node took a fifth of its planning time.
struct KeptToExit(Option<Arc<crate::plan::Plan>>);

impl Drop for KeptToExit {
    fn drop(&mut self) {
        std::mem::forget(self.0.take());
    }
}

/// The most parallel stages `-j` takes: each is a thread and an open store connection, and
/// stages are CPU-bound, so more than a few per core only adds contention.
fn max_jobs() -> usize {
    (4 * default_jobs()).clamp(8, 256)
}

fn parse_jobs(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    let max = max_jobs();
    if n == 0 || n > max {
        return Err(format!(
            "{n} parallel stages: give 1 to {max} (4 × the {} cores, at least 8, at most 256)",
            default_jobs()
        ));
    }
    Ok(n)
}

pub fn run(a: RunArgs) -> anyhow::Result<i32> {
    let spec = mosx_spec::load(&a.spec, &a.sets)?;
    if spec.search.is_some() {
        return super::search::run(&a, spec);
    }
    let plan = Arc::new(common::plan_of(spec, a.allow_outside_outputs)?);
    Ok(execute(&a, plan, true, &mut NoGrow)?.0)
}

/// Runs `plan`: checks the cache, runs what is dirty (or only shows it, `--dry-run`), and
/// with `render` the spec's reports; the exit code and the plan the run ended with (`grow`
/// may extend it while it runs, see `exec::scheduler::Grow`).
pub(super) fn execute(
    a: &RunArgs,
    plan: Arc<Plan>,
    render: bool,
    grow: &mut dyn Grow,
) -> anyhow::Result<(i32, Arc<Plan>)> {
    let _kept = KeptToExit(Some(plan.clone()));
    // Checked before anything runs: a bad `resources:` entry is a spec error (exit 2).
    let slurm_resources = slurm_resources(a.executor, &plan)?;
    let forced = force_globs(&a.force)?;
    let store = if a.dry_run {
        common::existing_store(&a.store)?
    } else {
        Some(common::open_store(&a.store)?)
    };
    let statuses = exec::check(&plan, store.as_deref(), &|name| forced.is_match(name))?;
    let dirty = count_dirty(&statuses);
    if a.explain || a.dry_run {
        print_statuses(&plan, &statuses, a.dry_run);
    }
    if a.dry_run {
        print_dry_run(&plan, &statuses, dirty)?;
        return Ok((EXIT_OK, plan));
    }
    let store = store.ok_or_else(|| UsageError("no store".into()))?;
    // A rerun of a pruned trial: its evaluation is dirty but will be skipped, not run.
    let cut = exec::PrunedCut { store: &*store };
    let skipped_anyway = exec::cut_by_cached(&plan, &statuses, &cut);
    let workers = if dirty > skipped_anyway.len() {
        start_workers(a, &plan, &statuses, &skipped_anyway)?
    } else {
        None
    };
    // A plan that may grow may need a worker later: one that starts with its first stage.
    let workers = workers.or_else(|| idle_workers(a, grow.may_grow()));
    // The run's device: the one the worker resolved, else what was asked (or the CPU).
    let device_label = match &workers {
        Some(w) => w.label(),
        None => a.device.clone().unwrap_or_else(|| "cpu".into()),
    };
    let info = run_info(a, &plan, device_label);
    // `--force` deletes nothing here: a forced stage's commit replaces its stored row in one
    // transaction (`exec::job`), so a forced run killed before that leaves the old result.
    recover(&*store)?;
    exec::clear_committed_work(&plan, &*store, &statuses);
    let run_id = store.begin_run(&info)?;
    let (summary, plan) = match &slurm_resources {
        None => {
            let opts = exec::Options {
                jobs: a.jobs,
                quiet: a.quiet,
                workers,
            };
            exec::run(
                plan.clone(),
                store.clone(),
                run_id,
                &info,
                &statuses,
                &opts,
                grow,
            )
        }
        Some(resources) => {
            let slurm = slurm_options(a)?;
            exec::slurm::run(
                plan.clone(),
                store.clone(),
                run_id,
                &info,
                &statuses,
                resources,
                &slurm,
                grow,
            )?
        }
    };
    let _kept_final = KeptToExit(Some(plan.clone()));
    exec::remember_fingerprints(&plan, &*store, &summary)?;
    let mut code = print_summary(&summary);
    if render && code == EXIT_OK && !a.no_report && !plan.spec.report.is_empty() {
        code = render_reports(&plan, &*store, a.allow_outside_outputs);
    }
    exec::end_run(&*store, run_id, code == EXIT_OK, &summary)?;
    Ok((code, plan))
}

/// The resources of each stage kind the Slurm executor asks for (`None` for a local run).
fn slurm_resources(
    executor: Executor,
    plan: &Plan,
) -> anyhow::Result<Option<BTreeMap<String, KindResources>>> {
    Ok(match executor {
        Executor::Slurm => Some(exec::slurm::resources(
            plan,
            &crate::stages::registry::builtin(),
        )?),
        Executor::Local => None,
    })
}

fn count_dirty(statuses: &[Status]) -> usize {
    statuses
        .iter()
        .filter(|s| matches!(s, Status::Dirty(_)))
        .count()
}

/// A run killed earlier left its `runs` row `running` and maybe temp objects: settle them.
fn recover(store: &dyn mosx_store::Store) -> anyhow::Result<()> {
    let rec = store.recover()?;
    if rec.runs_interrupted > 0 || rec.temp_files_removed > 0 {
        eprintln!(
            "recovered: {} interrupted run(s) marked, {} temp object(s) removed",
            rec.runs_interrupted, rec.temp_files_removed
        );
    }
    Ok(())
}

/// The `--force` globs as one matcher.
pub(super) fn force_globs(force: &[String]) -> anyhow::Result<globset::GlobSet> {
    let mut globs = GlobSetBuilder::new();
    for f in force {
        globs.add(Glob::new(f).map_err(|e| UsageError(format!("--force `{f}`: {e}")))?);
    }
    Ok(globs.build().map_err(|e| UsageError(e.to_string()))?)
}

/// `--explain` / `--dry-run`: each dirty stage with why (and each fresh one on a dry run).
fn print_statuses(plan: &Plan, statuses: &[Status], dry_run: bool) {
    for i in &plan.order {
        let n = &plan.graph[*i];
        match &statuses[i.index()] {
            Status::Fresh if dry_run => println!("  fresh  {:<8} {}", n.kind.name(), n.name),
            Status::Fresh => {}
            Status::Dirty(r) => println!("  dirty  {:<8} {}: {r}", n.kind.name(), n.name),
        }
    }
}

/// The dry run's totals: trainings (and what the extended specs would train one by one),
/// then stages cached and to run.
fn print_dry_run(plan: &Plan, statuses: &[Status], dirty: usize) -> anyhow::Result<()> {
    let trainings: Vec<usize> = plan
        .graph
        .node_indices()
        .filter(|i| plan.graph[*i].kind.name() == crate::stages::train::NAME)
        .map(|i| i.index())
        .collect();
    if !trainings.is_empty() {
        let to_run = trainings
            .iter()
            .filter(|&&i| matches!(statuses[i], Status::Dirty(_)))
            .count();
        println!(
            "{} trainings, each unique training once ({} to run)",
            trainings.len(),
            to_run
        );
        if plan.spec.parents.len() > 1 {
            let parts = crate::plan::trainings_per_part(&plan.spec.parents)?;
            let total: usize = parts.iter().map(|(_, n)| n).sum();
            let each: Vec<String> = parts
                .iter()
                .map(|(p, n)| format!("{} {n}", p.display()))
                .collect();
            println!(
                "the {} specs it extends, run one by one without a shared cache, would train {total} times ({})",
                parts.len(),
                each.join(", ")
            );
        }
    }
    println!(
        "{} stages: {} cached, {} would run (dry run: nothing run or written)",
        plan.graph.node_count(),
        plan.graph.node_count() - dirty,
        dirty
    );
    Ok(())
}

/// `--device` is checked here; the local workers are started only when a stage that executes
/// in them is to run (the worker resolves the device and says which it got).
fn start_workers(
    a: &RunArgs,
    plan: &Plan,
    statuses: &[Status],
    skipped: &std::collections::HashSet<petgraph::graph::NodeIndex>,
) -> anyhow::Result<Option<Arc<WorkerPool>>> {
    let device =
        DeviceRequest::parse(a.device.as_deref()).map_err(|e| UsageError(e.to_string()))?;
    if a.executor != Executor::Local || !exec::needs_worker(plan, statuses, skipped) {
        return Ok(None);
    }
    let pool = WorkerPool::new(&common::location(&a.store)?, device)?;
    pool.start().map_err(|e| match e {
        WorkerError::Device(m) => anyhow::Error::from(UsageError(m)),
        other => other.into(),
    })?;
    Ok(Some(Arc::new(pool)))
}

/// Local workers not started yet, for a plan that may grow (`may_grow`): the worker starts
/// with the first stage it is given; none when the worker cannot be found (a stage given to
/// it then fails saying so).
fn idle_workers(a: &RunArgs, may_grow: bool) -> Option<Arc<WorkerPool>> {
    if !may_grow || a.executor != Executor::Local {
        return None;
    }
    let device = DeviceRequest::parse(a.device.as_deref()).ok()?;
    let pool = WorkerPool::new(&common::location(&a.store).ok()?, device).ok()?;
    Some(Arc::new(pool))
}

/// The provenance the run and its stage rows record.
fn run_info(a: &RunArgs, plan: &Plan, device: String) -> mosx_store::RunInfo {
    mosx_store::RunInfo {
        spec_path: a.spec.to_string_lossy().into_owned(),
        spec_hash: plan.spec.hash.clone(),
        // Recorded in the store and shown by `mosx show`: a URL's password is not.
        argv: std::env::args()
            .map(|a| mosx_store::redact_arg(&a))
            .collect::<Vec<_>>()
            .join(" "),
        mosx_version: provenance::VERSION.into(),
        git_commit: provenance::git_commit(),
        git_dirty: provenance::git_dirty(),
        host: provenance::host(),
        device,
        pid: std::process::id(),
    }
}

/// How the Slurm executor reaches the worker and the store, from the arguments.
fn slurm_options(a: &RunArgs) -> anyhow::Result<exec::slurm::SlurmOptions> {
    let location = common::location(&a.store)?;
    let jobs_dir = location
        .objects_dir()
        .map(|o| o.join(".jobs"))
        .ok_or_else(|| UsageError("--executor slurm: the store needs --objects".into()))?;
    Ok(exec::slurm::SlurmOptions {
        worker: exec::worker::locate()?,
        store: absolute(&location),
        device: a.device.clone().unwrap_or_else(|| "auto".into()),
        jobs_dir: std::path::absolute(&jobs_dir)?,
        poll: std::time::Duration::from_secs_f64(a.poll.max(0.05)),
        quiet: a.quiet,
    })
}

/// The totals line, and the failures on stderr; the exit code so far.
fn print_summary(summary: &exec::Summary) -> i32 {
    println!(
        "{} stages: {} cached, {} executed{}, {} failed, {} skipped{}",
        summary.total,
        summary.cached,
        summary.executed.len(),
        if summary.by_other > 0 {
            format!(", {} by another process", summary.by_other)
        } else {
            String::new()
        },
        summary.failed.len(),
        summary.skipped.len(),
        if summary.pruned.is_empty() {
            String::new()
        } else {
            format!(", {} skipped as pruned", summary.pruned.len())
        }
    );
    for (n, why) in &summary.pruned {
        println!("  {n}: skipped ({why})");
    }
    if !summary.failed.is_empty() {
        eprintln!("failures:");
        for (n, e) in &summary.failed {
            eprintln!("  {n}: {e}");
        }
        for (n, why) in &summary.skipped {
            eprintln!("  {n}: skipped ({why})");
        }
    }
    if summary.failed.is_empty() && summary.skipped.is_empty() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// Render the spec's reports, printing each file written; the exit code.
pub(super) fn render_reports(plan: &Plan, store: &dyn mosx_store::Store, outside: bool) -> i32 {
    match crate::report::render_all(plan, store, outside) {
        Ok(files) => {
            for f in files {
                println!("wrote {}", f.display());
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: report: {e}");
            EXIT_FAILED
        }
    }
}

/// The location with relative paths made absolute, for jobs that start in another process.
fn absolute(l: &crate::store::Location) -> crate::store::Location {
    let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    crate::store::Location::new(
        if l.is_postgres() {
            l.store.clone()
        } else {
            abs(std::path::Path::new(&l.store))
                .to_string_lossy()
                .into_owned()
        },
        l.objects.as_deref().map(abs),
    )
}

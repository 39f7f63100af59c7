//! The one scheduler every executor runs under, like cargo's job queue: it decides which dirty
//! stage may start, an [`Executor`] starts it (in this process and the local workers, or as a
//! Slurm job) and says when it ended.
//!
//! Every dirty stage is in one state: **waiting** (a dirty parent has not finished, or, for an
//! executor that orders dependencies itself, has not started), **ready**, **running**, ended
//! (ran, by another process, or **failed**), or **blocked** (an upstream failed: reported
//! skipped, and never started, or withdrawn from the executor if it was).
//!
//! Invariants:
//! * A stage starts only when each dirty parent has finished (or, when
//!   [`Executor::orders_dependencies`], has started: the executor then holds it until its
//!   parents succeed, as Slurm's `afterok` does). Fresh parents are in the store already.
//! * Ready stages start in plan order; the scheduler waits only while a stage is running.
//! * A failure blocks exactly the dirty descendants of the failed stage; everything else
//!   still runs. An ended stage is reported once; a blocked stage is never reported as ended.
//! * A stage whose result says its descendants must not run (a training ASHA pruned, see
//!   [`Cut`]) cuts exactly its dirty descendants: reported skipped with the reason
//!   (`Summary::pruned`), never started, and not a failure. This is checked when the stage
//!   ends and, for a cached stage, before anything starts, so a rerun reports the same.
//! * Ctrl-C runs the executor's cleanup ([`Executor::interrupt`]), then exits 130: results
//!   already committed stay, interrupted stages left nothing behind and run again next time.

use std::collections::{HashMap, HashSet};

use petgraph::graph::NodeIndex;
use petgraph::Direction;

use super::job::Done;
use super::progress::RunProgress;
use super::{Status, Summary};
use crate::plan::Plan;

/// How one started stage ended.
pub struct Ended {
    pub node: NodeIndex,
    pub done: Done,
    /// Where it ran, for the `ran` line (` as job 42`); empty when it ran here.
    pub via: String,
}

/// What runs the stages the scheduler starts (see the module note).
pub trait Executor {
    /// Whether a stage may start as soon as its dirty parents have started, because the
    /// executor itself holds it until they succeeded (Slurm's `afterok`).
    fn orders_dependencies(&self) -> bool {
        false
    }
    /// Start stage `i` (`force`: a forced rerun). An error is the stage's failure before it
    /// ran (a job that could not be submitted).
    fn start(&mut self, i: NodeIndex, force: bool) -> Result<(), String>;
    /// Wait until started stages end and return them: at least one while any is running.
    fn wait(&mut self) -> Vec<Ended>;
    /// Stop following a started stage that an upstream failure blocked.
    fn withdraw(&mut self, _i: NodeIndex) {}
    /// What Ctrl-C must do before the process exits 130 (kill workers, release leases,
    /// cancel jobs, say so); called on the signal handler's thread.
    fn interrupt(&self) -> Box<dyn Fn() + Send + 'static>;
    /// The run is over (e.g. the workers may exit).
    fn finish(&mut self) {}
}

/// Which stage results cut their descendants (see the module note).
pub trait Cut {
    /// Whether stage `i` may cut (then an executor that orders dependencies itself gets its
    /// children only after it ended, so a cut child never starts).
    fn may_cut(&self, i: NodeIndex) -> bool;
    /// Whether `i`'s stored result cuts its descendants: the reason (`trial pruned at epoch
    /// 1`); read after the stage ended or, for a cached stage, before the run starts.
    fn cut(&self, i: NodeIndex) -> Option<String>;
}

/// No stage cuts.
pub struct NoCut;

impl Cut for NoCut {
    fn may_cut(&self, _: NodeIndex) -> bool {
        false
    }
    fn cut(&self, _: NodeIndex) -> Option<String> {
        None
    }
}

/// The dirty nodes of a run and its summary before anything ran.
pub fn start(plan: &Plan, statuses: &[Status]) -> (HashSet<NodeIndex>, Summary) {
    let g = &plan.graph;
    let dirty: HashSet<NodeIndex> = g
        .node_indices()
        .filter(|i| matches!(statuses[i.index()], Status::Dirty(_)))
        .collect();
    let summary = Summary {
        total: g.node_count(),
        cached: g.node_count() - dirty.len(),
        ..Default::default()
    };
    (dirty, summary)
}

/// The nodes forced to rerun (`--force`).
pub fn forced(statuses: &[Status]) -> HashSet<NodeIndex> {
    statuses
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Status::Dirty(super::Reason::Forced)))
        .map(|(i, _)| NodeIndex::new(i))
        .collect()
}

/// Runs the dirty stages of `plan` on `executor` and says what happened to each.
pub fn run(
    plan: &Plan,
    statuses: &[Status],
    executor: &mut dyn Executor,
    progress: &RunProgress,
    cut: &dyn Cut,
) -> Summary {
    let on_interrupt = executor.interrupt();
    let _ = ctrlc::set_handler(move || {
        on_interrupt();
        std::process::exit(130);
    });
    let (dirty, summary) = start(plan, statuses);
    let mut s = Schedule {
        plan,
        progress,
        forced: forced(statuses),
        position: plan
            .order
            .iter()
            .enumerate()
            .map(|(k, i)| (*i, k))
            .collect(),
        waiting: dirty
            .iter()
            .map(|i| {
                let parents = plan.graph.neighbors_directed(*i, Direction::Incoming);
                (*i, parents.filter(|u| dirty.contains(u)).count())
            })
            .collect(),
        dirty,
        running: HashSet::new(),
        blocked: HashSet::new(),
        summary,
        cut,
    };
    // Cached stages that cut their descendants (a rerun of a pruned trial).
    for &i in &plan.order {
        if !s.dirty.contains(&i) {
            if let Some(why) = cut.cut(i) {
                s.cut_descendants(executor, i, &why);
            }
        }
    }
    let mut ready: Vec<NodeIndex> = plan
        .order
        .iter()
        .copied()
        .filter(|i| s.waiting.get(i) == Some(&0))
        .collect();
    s.start_all(executor, &mut ready);
    while !s.running.is_empty() {
        let ended = executor.wait();
        if ended.is_empty() {
            // The executor lost its stages (a bug of the executor): do not wait forever.
            for i in std::mem::take(&mut s.running) {
                s.failed(executor, i, "the executor lost this stage".into());
            }
            break;
        }
        for e in ended {
            s.ended(executor, e, &mut ready);
        }
        s.start_all(executor, &mut ready);
    }
    executor.finish();
    progress.clear();
    s.summary
}

/// The scheduler's state of one run.
struct Schedule<'a> {
    plan: &'a Plan,
    progress: &'a RunProgress,
    forced: HashSet<NodeIndex>,
    /// Node → its place in the plan's order.
    position: HashMap<NodeIndex, usize>,
    dirty: HashSet<NodeIndex>,
    /// Dirty node → its dirty parents not yet finished (or started, see the module note).
    waiting: HashMap<NodeIndex, usize>,
    running: HashSet<NodeIndex>,
    blocked: HashSet<NodeIndex>,
    summary: Summary,
    cut: &'a dyn Cut,
}

impl Schedule<'_> {
    /// Start every ready stage, in plan order; with an executor that orders dependencies, the
    /// children a start makes ready start in the same pass.
    fn start_all(&mut self, executor: &mut dyn Executor, ready: &mut Vec<NodeIndex>) {
        while !ready.is_empty() {
            ready.sort_by_key(|i| self.position.get(i).copied());
            ready.dedup();
            for i in std::mem::take(ready) {
                if self.blocked.contains(&i) {
                    continue;
                }
                match executor.start(i, self.forced.contains(&i)) {
                    Ok(()) => {
                        self.running.insert(i);
                        if executor.orders_dependencies() && !self.cut.may_cut(i) {
                            self.release_children(i, ready);
                        }
                    }
                    Err(e) => self.failed(executor, i, e),
                }
            }
        }
    }

    /// One fewer parent to wait for, for each dirty child of `i`; the ones left with none are
    /// ready.
    fn release_children(&mut self, i: NodeIndex, ready: &mut Vec<NodeIndex>) {
        for c in self.plan.graph.neighbors_directed(i, Direction::Outgoing) {
            if let Some(w) = self.waiting.get_mut(&c) {
                *w = w.saturating_sub(1);
                if *w == 0 && !self.blocked.contains(&c) {
                    ready.push(c);
                }
            }
        }
    }

    fn ended(&mut self, executor: &mut dyn Executor, e: Ended, ready: &mut Vec<NodeIndex>) {
        if !self.running.remove(&e.node) {
            return;
        }
        let node = &self.plan.graph[e.node];
        match e.done {
            Done::Ran { seconds } => {
                self.progress.finished();
                self.progress.println(&format!(
                    "  ran {} ({}){} in {seconds:.2}s",
                    node.name,
                    node.kind.name(),
                    e.via
                ));
                self.summary.executed.push(node.name.clone());
            }
            Done::ByOther => {
                self.progress.finished();
                self.progress.println(&format!(
                    "  {}: computed by another mosx process",
                    node.name
                ));
                self.summary.by_other += 1;
            }
            Done::Failed { error } => return self.failed(executor, e.node, error),
        }
        if let Some(why) = self.cut.cut(e.node) {
            self.cut_descendants(executor, e.node, &why);
        }
        if !executor.orders_dependencies() || self.cut.may_cut(e.node) {
            self.release_children(e.node, ready);
        }
    }

    /// Stage `i`'s result cuts its dirty descendants (`why`): block them, reported pruned.
    fn cut_descendants(&mut self, executor: &mut dyn Executor, i: NodeIndex, why: &str) {
        let g = &self.plan.graph;
        let mut dfs = petgraph::visit::Dfs::new(g, i);
        let _ = dfs.next(g);
        while let Some(d) = dfs.next(g) {
            if self.dirty.contains(&d) && self.blocked.insert(d) {
                if self.running.remove(&d) {
                    executor.withdraw(d);
                }
                self.progress.finished();
                self.summary
                    .pruned
                    .push((g[d].name.clone(), why.to_string()));
            }
        }
    }

    /// Stage `i` failed: report it and block its dirty descendants.
    fn failed(&mut self, executor: &mut dyn Executor, i: NodeIndex, error: String) {
        let g = &self.plan.graph;
        let name = g[i].name.clone();
        self.progress.finished();
        self.progress.println(&format!("  FAILED {name}: {error}"));
        self.summary.failed.push((name.clone(), error));
        let mut dfs = petgraph::visit::Dfs::new(g, i);
        let _ = dfs.next(g);
        while let Some(d) = dfs.next(g) {
            if self.dirty.contains(&d) && self.blocked.insert(d) {
                if self.running.remove(&d) {
                    executor.withdraw(d);
                }
                self.progress.finished();
                self.summary
                    .skipped
                    .push((g[d].name.clone(), format!("upstream {name} failed")));
            }
        }
    }
}

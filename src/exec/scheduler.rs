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
//! * A plan may grow while it runs ([`Grow`]: a search's next trials, proposed as soon as the
//!   results they depend on are stored): after stages ended, the scheduler asks for a larger
//!   plan that keeps every node at its index ([`Plan::extending`]), hands it to the executor
//!   ([`Executor::replan`]) and schedules its new dirty stages like the first ones: a new
//!   stage waits only for its own dirty parents, so a free slot takes it while other stages
//!   still run; one under a failed or cutting parent is skipped.
//! * Ctrl-C runs the executor's cleanup ([`Executor::interrupt`]), then exits 130: results
//!   already committed stay, interrupted stages left nothing behind and run again next time.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

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
    /// The run's plan grew ([`Grow`]): `plan` extends the current one (same nodes at the same
    /// indices); later starts may name its new nodes.
    fn replan(&mut self, plan: Arc<Plan>);
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
    fn may_cut(&self, plan: &Plan, i: NodeIndex) -> bool;
    /// Whether `i`'s stored result cuts its descendants: the reason (`trial pruned at epoch
    /// 1`); read after the stage ended or, for a cached stage, before the run starts.
    fn cut(&self, plan: &Plan, i: NodeIndex) -> Option<String>;
}

/// No stage cuts.
pub struct NoCut;

impl Cut for NoCut {
    fn may_cut(&self, _: &Plan, _: NodeIndex) -> bool {
        false
    }
    fn cut(&self, _: &Plan, _: NodeIndex) -> Option<String> {
        None
    }
}

/// A plan that may grow while it runs (see the module note).
pub trait Grow {
    /// Asked each time stages ended (`ended`, failed ones too) and, with `ended` empty, when
    /// nothing is running: a plan extending `plan` ([`Plan::extending`]) with the status of each
    /// of its nodes, or `None` when it stays as it is.
    fn grow(&mut self, plan: &Plan, ended: &[NodeIndex]) -> Option<(Arc<Plan>, Vec<Status>)>;
    /// Whether it may ever grow (then stages of kinds the first plan does not run may come).
    fn may_grow(&self) -> bool {
        true
    }
}

/// A plan that stays as it is.
pub struct NoGrow;

impl Grow for NoGrow {
    fn grow(&mut self, _: &Plan, _: &[NodeIndex]) -> Option<(Arc<Plan>, Vec<Status>)> {
        None
    }
    fn may_grow(&self) -> bool {
        false
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

/// Runs the dirty stages of `plan` on `executor` and says what happened to each; `grow` may
/// extend the plan while it runs (see the module note): the plan it ended with comes back.
pub fn run(
    plan: Arc<Plan>,
    statuses: &[Status],
    executor: &mut dyn Executor,
    progress: &RunProgress,
    cut: &dyn Cut,
    grow: &mut dyn Grow,
) -> (Summary, Arc<Plan>) {
    let on_interrupt = executor.interrupt();
    let _ = ctrlc::set_handler(move || {
        on_interrupt();
        std::process::exit(130);
    });
    let (dirty, summary) = start(&plan, statuses);
    let mut s = Schedule {
        plan: plan.clone(),
        progress,
        forced: HashSet::new(),
        position: HashMap::new(),
        dirty: HashSet::new(),
        waiting: HashMap::new(),
        running: HashSet::new(),
        finished: HashSet::new(),
        blocked: HashSet::new(),
        cutting: HashSet::new(),
        failures: HashSet::new(),
        summary,
        cut,
    };
    let mut ready = s.admit(executor, 0, statuses, &dirty);
    s.start_all(executor, &mut ready);
    loop {
        let mut ended_now = Vec::new();
        if !s.running.is_empty() {
            let ended = executor.wait();
            if ended.is_empty() {
                // The executor lost its stages (a bug of the executor): do not wait forever.
                for i in std::mem::take(&mut s.running) {
                    s.failed(executor, i, "the executor lost this stage".into());
                }
                break;
            }
            for e in ended {
                ended_now.push(e.node);
                s.ended(executor, e, &mut ready);
            }
        }
        let grew = match grow.grow(&s.plan, &ended_now) {
            Some((plan, statuses)) => {
                s.extend(executor, plan, &statuses, &mut ready);
                true
            }
            None => false,
        };
        s.start_all(executor, &mut ready);
        // Nothing runs and the plan did not grow: nothing can start any more.
        if s.running.is_empty() && !grew {
            break;
        }
    }
    executor.finish();
    progress.clear();
    (s.summary, s.plan)
}

/// The scheduler's state of one run.
struct Schedule<'a> {
    plan: Arc<Plan>,
    progress: &'a RunProgress,
    forced: HashSet<NodeIndex>,
    /// Node → its place in the plan's order.
    position: HashMap<NodeIndex, usize>,
    dirty: HashSet<NodeIndex>,
    /// Dirty node → its dirty parents not yet finished (or started, see the module note).
    waiting: HashMap<NodeIndex, usize>,
    running: HashSet<NodeIndex>,
    /// Dirty stages that ended with a result (ran, or by another process).
    finished: HashSet<NodeIndex>,
    blocked: HashSet<NodeIndex>,
    /// Stages whose result cut their descendants (with the reason), cached ones too.
    cutting: HashSet<NodeIndex>,
    /// Stages that failed.
    failures: HashSet<NodeIndex>,
    summary: Summary,
    cut: &'a dyn Cut,
}

impl Schedule<'_> {
    /// Takes in the nodes from index `from` on of the current plan, with their statuses
    /// (`dirty`: the dirty ones): each dirty one waits for its dirty parents not yet released,
    /// is blocked under a failed or cutting parent, or is ready (returned, in plan order); a
    /// cached one that cuts cuts its dirty descendants.
    fn admit(
        &mut self,
        executor: &mut dyn Executor,
        from: usize,
        statuses: &[Status],
        dirty: &HashSet<NodeIndex>,
    ) -> Vec<NodeIndex> {
        let plan = self.plan.clone();
        let g = &plan.graph;
        let fresh: Vec<NodeIndex> = g.node_indices().skip(from).collect();
        self.dirty
            .extend(fresh.iter().filter(|i| dirty.contains(i)));
        self.forced
            .extend(forced(statuses).into_iter().filter(|i| i.index() >= from));
        self.position = plan.positions();
        for &i in &fresh {
            if !self.dirty.contains(&i) {
                continue;
            }
            let parents: Vec<NodeIndex> = g.neighbors_directed(i, Direction::Incoming).collect();
            let unreleased = parents
                .iter()
                .filter(|u| self.dirty.contains(u) && !self.released(executor, **u))
                .count();
            self.waiting.insert(i, unreleased);
        }
        // Cached stages that cut their descendants (a rerun of a pruned trial).
        for &i in &plan.order {
            if i.index() >= from && !self.dirty.contains(&i) {
                if let Some(why) = self.cut.cut(&plan, i) {
                    self.cutting.insert(i);
                    self.cut_descendants(executor, i, &why);
                }
            }
        }
        // New stages under a stage that failed or cut before they existed.
        for &i in &plan.order {
            if i.index() < from || !self.dirty.contains(&i) || self.blocked.contains(&i) {
                continue;
            }
            let parents: Vec<NodeIndex> = g.neighbors_directed(i, Direction::Incoming).collect();
            if let Some(u) = parents.iter().find(|u| self.blocked.contains(u)) {
                self.block(i, format!("upstream {} was skipped", g[*u].name), false);
            } else if let Some(u) = parents.iter().find(|u| self.cutting.contains(u)) {
                let why = self.cut.cut(&plan, *u).unwrap_or_default();
                self.block(i, why, true);
            } else if let Some(u) = parents.iter().find(|u| self.failures.contains(u)) {
                self.block(i, format!("upstream {} failed", g[*u].name), false);
            }
        }
        plan.order
            .iter()
            .copied()
            .filter(|i| i.index() >= from && self.waiting.get(i) == Some(&0))
            .filter(|i| !self.blocked.contains(i))
            .collect()
    }

    /// Whether dirty stage `u` no longer holds its children back: it finished, or it started
    /// under an executor that orders dependencies and cannot cut.
    fn released(&self, executor: &dyn Executor, u: NodeIndex) -> bool {
        self.finished.contains(&u)
            || (executor.orders_dependencies()
                && self.running.contains(&u)
                && !self.cut.may_cut(&self.plan, u))
    }

    /// The run's plan grew to `plan` (extending the current one): the executor gets it and
    /// its new nodes are admitted; the ready ones join `ready`.
    fn extend(
        &mut self,
        executor: &mut dyn Executor,
        plan: Arc<Plan>,
        statuses: &[Status],
        ready: &mut Vec<NodeIndex>,
    ) {
        let from = self.plan.graph.node_count();
        let (dirty, _) = start(&plan, statuses);
        let new_dirty: HashSet<NodeIndex> =
            dirty.into_iter().filter(|i| i.index() >= from).collect();
        let added = plan.graph.node_count() - from;
        self.summary.total += added;
        self.summary.cached += added - new_dirty.len();
        self.progress.add(new_dirty.len() as u64);
        executor.replan(plan.clone());
        self.plan = plan;
        ready.extend(self.admit(executor, from, statuses, &new_dirty));
    }

    /// Dirty stage `i` never runs: skipped (`pruned`: cut by a pruned trial) with `why`.
    fn block(&mut self, i: NodeIndex, why: String, pruned: bool) {
        if self.blocked.insert(i) {
            self.progress.finished();
            let entry = (self.plan.graph[i].name.clone(), why);
            if pruned {
                self.summary.pruned.push(entry);
            } else {
                self.summary.skipped.push(entry);
            }
        }
    }

    /// Start every ready stage, in plan order; with an executor that orders dependencies, the
    /// children a start makes ready start in the same pass.
    fn start_all(&mut self, executor: &mut dyn Executor, ready: &mut Vec<NodeIndex>) {
        while !ready.is_empty() {
            ready.sort_by_key(|i| self.position.get(i).copied());
            ready.dedup();
            for i in std::mem::take(ready) {
                if self.blocked.contains(&i) || self.running.contains(&i) {
                    continue;
                }
                match executor.start(i, self.forced.contains(&i)) {
                    Ok(()) => {
                        self.running.insert(i);
                        if executor.orders_dependencies() && !self.cut.may_cut(&self.plan, i) {
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
        let plan = self.plan.clone();
        for c in plan.graph.neighbors_directed(i, Direction::Outgoing) {
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
        let plan = self.plan.clone();
        let node = &plan.graph[e.node];
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
        self.finished.insert(e.node);
        if let Some(why) = self.cut.cut(&plan, e.node) {
            self.cutting.insert(e.node);
            self.cut_descendants(executor, e.node, &why);
        }
        if !executor.orders_dependencies() || self.cut.may_cut(&plan, e.node) {
            self.release_children(e.node, ready);
        }
    }

    /// Stage `i`'s result cuts its dirty descendants (`why`): block them, reported pruned.
    fn cut_descendants(&mut self, executor: &mut dyn Executor, i: NodeIndex, why: &str) {
        let plan = self.plan.clone();
        let g = &plan.graph;
        let mut dfs = petgraph::visit::Dfs::new(g, i);
        let _ = dfs.next(g);
        while let Some(d) = dfs.next(g) {
            if self.dirty.contains(&d) && !self.blocked.contains(&d) {
                if self.running.remove(&d) {
                    executor.withdraw(d);
                }
                self.block(d, why.to_string(), true);
            }
        }
    }

    /// Stage `i` failed: report it and block its dirty descendants.
    fn failed(&mut self, executor: &mut dyn Executor, i: NodeIndex, error: String) {
        let plan = self.plan.clone();
        let g = &plan.graph;
        let name = g[i].name.clone();
        self.progress.finished();
        self.progress.println(&format!("  FAILED {name}: {error}"));
        self.summary.failed.push((name.clone(), error));
        self.failures.insert(i);
        let mut dfs = petgraph::visit::Dfs::new(g, i);
        let _ = dfs.next(g);
        while let Some(d) = dfs.next(g) {
            if self.dirty.contains(&d) && !self.blocked.contains(&d) {
                if self.running.remove(&d) {
                    executor.withdraw(d);
                }
                self.block(d, format!("upstream {name} failed"), false);
            }
        }
    }
}

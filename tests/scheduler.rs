//! The one scheduler under a fake executor: a stage starts only after its dirty parents ended
//! (or, for an executor that orders dependencies itself, after they started); a failure fails
//! exactly its dirty descendants, which are skipped (and withdrawn when already started), and
//! everything else still runs; a plan that grows while it runs gets its new stages started as
//! soon as their own parents ended, while the others still run.

mod common;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use petgraph::graph::NodeIndex;
use petgraph::Direction;

use mosx::exec::job::Done;
use mosx::exec::progress::RunProgress;
use mosx::exec::scheduler::{self, Ended, Executor, Grow};
use mosx::exec::Status;
use mosx::plan::Plan;

/// Ends the stages it started in start order; `fail` fails by name.
struct Fake<'a> {
    plan: Arc<Plan>,
    eager: bool,
    fail: &'a str,
    queue: VecDeque<NodeIndex>,
    /// (started, node) events in order: `true` for a start, `false` for an end.
    log: Vec<(bool, NodeIndex)>,
    withdrawn: Vec<NodeIndex>,
}

impl Executor for Fake<'_> {
    fn orders_dependencies(&self) -> bool {
        self.eager
    }
    fn start(&mut self, i: NodeIndex, _force: bool) -> Result<(), String> {
        self.log.push((true, i));
        self.queue.push_back(i);
        Ok(())
    }
    fn wait(&mut self) -> Vec<Ended> {
        let Some(node) = self.queue.pop_front() else {
            return Vec::new();
        };
        self.log.push((false, node));
        let done = if self.plan.graph[node].name == self.fail {
            Done::Failed {
                error: "boom".into(),
            }
        } else {
            Done::Ran { seconds: 0.0 }
        };
        vec![Ended {
            node,
            done,
            via: String::new(),
        }]
    }
    fn withdraw(&mut self, i: NodeIndex) {
        self.queue.retain(|q| *q != i);
        self.withdrawn.push(i);
    }
    fn replan(&mut self, plan: Arc<Plan>) {
        self.plan = plan;
    }
    fn interrupt(&self) -> Box<dyn Fn() + Send + 'static> {
        Box::new(|| {})
    }
}

fn plan(dir: &std::path::Path) -> Arc<Plan> {
    Arc::new(plan_of(dir, &[0, 1]))
}

fn plan_of(dir: &std::path::Path, seeds: &[u64]) -> Plan {
    let spec = common::write_ml_spec(dir, seeds);
    let spec = mosx_spec::load(&spec, &[]).unwrap();
    mosx::plan::compile(spec, &mosx::stages::registry::builtin()).unwrap()
}

/// The summary, the fake's start/end log and the stages it was told to withdraw.
type Outcome = (mosx::exec::Summary, Vec<(bool, NodeIndex)>, Vec<NodeIndex>);

/// An [`Outcome`] and the plan the run ended with.
type Grown = (
    mosx::exec::Summary,
    Vec<(bool, NodeIndex)>,
    Vec<NodeIndex>,
    Arc<Plan>,
);

/// Cuts the descendants of the stage named `name` once it ended (or from the start when it is
/// `cached`).
struct CutAt<'a> {
    name: &'a str,
}

impl scheduler::Cut for CutAt<'_> {
    fn may_cut(&self, plan: &Plan, i: NodeIndex) -> bool {
        plan.graph[i].name == self.name
    }
    fn cut(&self, plan: &Plan, i: NodeIndex) -> Option<String> {
        self.may_cut(plan, i)
            .then(|| "trial pruned at epoch 1".to_string())
    }
}

/// Grows the plan once, to `next`, when a stage whose spec name is `after` has ended.
struct GrowAfter {
    next: Option<Plan>,
    after: &'static str,
}

impl Grow for GrowAfter {
    fn grow(&mut self, plan: &Plan, ended: &[NodeIndex]) -> Option<(Arc<Plan>, Vec<Status>)> {
        if !ended.iter().any(|i| plan.graph[*i].base == self.after) {
            return None;
        }
        let next = self.next.take()?.extending(plan).unwrap();
        let statuses = mosx::exec::check(&next, None, &|_| false).unwrap();
        Some((Arc::new(next), statuses))
    }
}

fn run(plan: &Arc<Plan>, eager: bool, fail: &str) -> Outcome {
    run_cut(plan, eager, fail, &scheduler::NoCut)
}

fn run_cut(plan: &Arc<Plan>, eager: bool, fail: &str, cut: &dyn scheduler::Cut) -> Outcome {
    let (summary, log, withdrawn, _) = run_grow(plan, eager, fail, cut, &mut scheduler::NoGrow);
    (summary, log, withdrawn)
}

/// Runs `plan` under the fake; the outcome and the plan the run ended with.
fn run_grow(
    plan: &Arc<Plan>,
    eager: bool,
    fail: &str,
    cut: &dyn scheduler::Cut,
    grow: &mut dyn Grow,
) -> Grown {
    let statuses = mosx::exec::check(plan, None, &|_| false).unwrap();
    let mut fake = Fake {
        plan: plan.clone(),
        eager,
        fail,
        queue: VecDeque::new(),
        log: Vec::new(),
        withdrawn: Vec::new(),
    };
    let progress = RunProgress::new(0, true);
    let (summary, last) = scheduler::run(plan.clone(), &statuses, &mut fake, &progress, cut, grow);
    (summary, fake.log, fake.withdrawn, last)
}

fn descendants(plan: &Plan, i: NodeIndex) -> HashSet<String> {
    let mut dfs = petgraph::visit::Dfs::new(&plan.graph, i);
    let _ = dfs.next(&plan.graph);
    let mut out = HashSet::new();
    while let Some(d) = dfs.next(&plan.graph) {
        out.insert(plan.graph[d].name.clone());
    }
    out
}

#[test]
fn a_stage_starts_only_after_its_parents_ended_and_a_failure_skips_only_its_descendants() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(tmp.path());
    let failing = plan
        .graph
        .node_indices()
        .find(|i| plan.graph[*i].name.starts_with("ml_sample") && plan.graph[*i].name.contains('0'))
        .unwrap();
    let name = plan.graph[failing].name.clone();
    let (summary, log, _) = run(&plan, false, &name);
    let ended: Vec<NodeIndex> = log.iter().filter(|e| !e.0).map(|e| e.1).collect();
    for (k, (start, i)) in log.iter().enumerate() {
        if *start {
            for p in plan.graph.neighbors_directed(*i, Direction::Incoming) {
                let ended_before = log[..k].iter().any(|e| !e.0 && e.1 == p);
                assert!(
                    ended_before,
                    "{} started before its parent ended",
                    plan.graph[*i].name
                );
            }
        }
    }
    assert_eq!(summary.failed.len(), 1);
    assert_eq!(summary.failed[0].0, name);
    let skipped: HashSet<String> = summary.skipped.iter().map(|s| s.0.clone()).collect();
    assert_eq!(skipped, descendants(&plan, failing));
    assert_eq!(
        summary.executed.len() + summary.failed.len() + summary.skipped.len(),
        plan.graph.node_count()
    );
    assert!(ended
        .iter()
        .all(|i| !skipped.contains(&plan.graph[*i].name)));
}

#[test]
fn an_executor_that_orders_dependencies_gets_every_stage_at_once_and_withdraws_the_blocked() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(tmp.path());
    let (summary, log, withdrawn) = run(&plan, true, "ml_load");
    // Every stage was started before the first one ended.
    let first_end = log.iter().position(|e| !e.0).unwrap();
    assert_eq!(first_end, plan.graph.node_count());
    // The root failed: everything else was started, then withdrawn and skipped.
    assert_eq!(summary.failed.len(), 1);
    assert_eq!(summary.skipped.len(), plan.graph.node_count() - 1);
    assert_eq!(withdrawn.len(), plan.graph.node_count() - 1);
    assert!(summary.executed.is_empty());
}

#[test]
fn a_stage_that_cuts_skips_exactly_its_descendants_without_failing_on_either_executor() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = plan(tmp.path());
    let cutter = plan
        .graph
        .node_indices()
        .find(|i| plan.graph[*i].name.starts_with("ml_sample"))
        .unwrap();
    let name = plan.graph[cutter].name.clone();
    let cut = CutAt { name: &name };
    for eager in [false, true] {
        let (summary, log, withdrawn) = run_cut(&plan, eager, "", &cut);
        assert!(summary.failed.is_empty() && summary.skipped.is_empty());
        let pruned: HashSet<String> = summary.pruned.iter().map(|s| s.0.clone()).collect();
        assert_eq!(pruned, descendants(&plan, cutter), "eager {eager}");
        assert!(summary
            .pruned
            .iter()
            .all(|s| s.1 == "trial pruned at epoch 1"));
        // A stage that may cut holds its children back even from an eager executor.
        let started: HashSet<String> = log
            .iter()
            .filter(|e| e.0)
            .map(|e| plan.graph[e.1].name.clone())
            .collect();
        assert!(
            pruned.is_disjoint(&started),
            "eager {eager}: a cut stage started"
        );
        assert!(withdrawn.is_empty());
        assert_eq!(
            summary.executed.len() + summary.pruned.len(),
            plan.graph.node_count()
        );
    }
}

/// The spec's plan for seeds `[0]`, and the one for seeds `[0, 1]` (a second trial).
fn one_then_two(dir: &std::path::Path) -> (Arc<Plan>, Plan) {
    let first = Arc::new(plan_of(dir, &[0]));
    (first, plan_of(dir, &[0, 1]))
}

#[test]
fn a_plan_that_extends_another_keeps_its_stages_at_their_indices_with_the_same_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, second) = one_then_two(tmp.path());
    let keys: Vec<(String, Vec<(String, String)>)> = second
        .graph
        .node_indices()
        .map(|i| {
            let n = &second.graph[i];
            let inputs = n
                .inputs
                .iter()
                .map(|(s, u)| (s.clone(), second.graph[*u].key.clone()));
            (n.key.clone(), inputs.collect())
        })
        .collect();
    let grown = second.extending(&first).unwrap();
    assert_eq!(grown.graph.node_count(), 7);
    for i in first.graph.node_indices() {
        assert_eq!(grown.graph[i].key, first.graph[i].key);
    }
    // Every stage keeps its inputs (by key), along its edges and in the topological order.
    for i in grown.graph.node_indices() {
        let n = &grown.graph[i];
        let inputs: Vec<(String, String)> = n
            .inputs
            .iter()
            .map(|(s, u)| (s.clone(), grown.graph[*u].key.clone()))
            .collect();
        assert!(keys.contains(&(n.key.clone(), inputs)), "{}", n.name);
        for u in grown.graph.neighbors_directed(i, Direction::Incoming) {
            assert!(
                n.inputs.values().any(|v| *v == u),
                "{}: an edge no input has",
                n.name
            );
            let pos = |x| grown.order.iter().position(|o| *o == x).unwrap();
            assert!(pos(u) < pos(i));
        }
    }
    // The earlier plan does not extend the later one: a stage of it would be lost.
    let (first, second) = one_then_two(tmp.path());
    let Err(err) = Arc::try_unwrap(first).ok().unwrap().extending(&second) else {
        panic!("a plan of fewer stages extended a larger one");
    };
    assert!(
        ["ml_sample", "ml_split", "ml_measure"]
            .iter()
            .any(|s| err.name.starts_with(s)),
        "{err}"
    );
}

#[test]
fn a_stage_of_a_grown_plan_starts_as_soon_as_its_parents_ended_while_others_still_run() {
    let tmp = tempfile::tempdir().unwrap();
    for eager in [false, true] {
        let (first, second) = one_then_two(tmp.path());
        let mut grow = GrowAfter {
            next: Some(second),
            after: "ml_sample",
        };
        let (summary, log, _, last) = run_grow(&first, eager, "", &scheduler::NoCut, &mut grow);
        assert_eq!(last.graph.node_count(), 7);
        // Every stage of the grown plan ran exactly once.
        let started: Vec<NodeIndex> = log.iter().filter(|e| e.0).map(|e| e.1).collect();
        let distinct: HashSet<NodeIndex> = started.iter().copied().collect();
        assert_eq!(started.len(), 7, "eager {eager}: {log:?}");
        assert_eq!(distinct.len(), 7);
        assert_eq!(summary.executed.len(), 7);
        assert_eq!((summary.total, summary.cached), (7, 0));
        // The new stages waited for their own parents only: the second seed's sample started
        // before the first seed's measure ended.
        let at = |start: bool, name: &str| {
            log.iter()
                .position(|e| e.0 == start && last.graph[e.1].name == name)
                .unwrap_or_else(|| panic!("{name} {start}: {log:?}"))
        };
        let names: Vec<&str> = last
            .graph
            .node_indices()
            .map(|i| last.graph[i].name.as_str())
            .collect();
        let sample1 = names
            .iter()
            .find(|n| n.starts_with("ml_sample") && n.contains('1'))
            .unwrap();
        let measure0 = names
            .iter()
            .find(|n| n.starts_with("ml_measure") && n.contains('0'))
            .unwrap();
        assert!(
            at(true, sample1) < at(false, measure0),
            "eager {eager}: {log:?}"
        );
        for (k, (start, i)) in log.iter().enumerate() {
            if *start && !eager {
                for p in last.graph.neighbors_directed(*i, Direction::Incoming) {
                    assert!(
                        log[..k].iter().any(|e| !e.0 && e.1 == p),
                        "{}",
                        last.graph[*i].name
                    );
                }
            }
        }
    }
}

#[test]
fn a_stage_of_a_grown_plan_under_a_failed_stage_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, second) = one_then_two(tmp.path());
    let mut grow = GrowAfter {
        next: Some(second),
        after: "ml_load",
    };
    let (summary, log, _, last) = run_grow(&first, false, "ml_load", &scheduler::NoCut, &mut grow);
    assert_eq!(summary.failed.len(), 1);
    // The first plan's three and the new three stages, all under the failed load.
    assert_eq!(summary.skipped.len(), 6, "{:?}", summary.skipped);
    assert!(summary
        .skipped
        .iter()
        .all(|(_, why)| why.starts_with("upstream ")));
    assert_eq!(
        log.iter().filter(|e| e.0).count(),
        1,
        "only the load started"
    );
    assert_eq!(summary.total, last.graph.node_count());
}

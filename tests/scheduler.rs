//! The one scheduler under a fake executor: a stage starts only after its dirty parents ended
//! (or, for an executor that orders dependencies itself, after they started); a failure fails
//! exactly its dirty descendants, which are skipped (and withdrawn when already started), and
//! everything else still runs.

mod common;

use std::collections::{HashSet, VecDeque};

use petgraph::graph::NodeIndex;
use petgraph::Direction;

use mosx::exec::job::Done;
use mosx::exec::progress::RunProgress;
use mosx::exec::scheduler::{self, Ended, Executor};
use mosx::plan::Plan;

/// Ends the stages it started in start order; `fail` fails by name.
struct Fake<'a> {
    plan: &'a Plan,
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
    fn interrupt(&self) -> Box<dyn Fn() + Send + 'static> {
        Box::new(|| {})
    }
}

fn plan(dir: &std::path::Path) -> Plan {
    let spec = common::write_ml_spec(dir, &[0, 1]);
    let spec = mosx_spec::load(&spec, &[]).unwrap();
    mosx::plan::compile(spec, &mosx::stages::registry::builtin()).unwrap()
}

/// The summary, the fake's start/end log and the stages it was told to withdraw.
type Outcome = (mosx::exec::Summary, Vec<(bool, NodeIndex)>, Vec<NodeIndex>);

/// Cuts the descendants of the stage named `name` once it ended (or from the start when it is
/// `cached`).
struct CutAt<'a> {
    plan: &'a Plan,
    name: &'a str,
}

impl scheduler::Cut for CutAt<'_> {
    fn may_cut(&self, i: NodeIndex) -> bool {
        self.plan.graph[i].name == self.name
    }
    fn cut(&self, i: NodeIndex) -> Option<String> {
        self.may_cut(i)
            .then(|| "trial pruned at epoch 1".to_string())
    }
}

fn run(plan: &Plan, eager: bool, fail: &str) -> Outcome {
    run_cut(plan, eager, fail, &scheduler::NoCut)
}

fn run_cut(plan: &Plan, eager: bool, fail: &str, cut: &dyn scheduler::Cut) -> Outcome {
    let statuses = mosx::exec::check(plan, None, &|_| false).unwrap();
    let mut fake = Fake {
        plan,
        eager,
        fail,
        queue: VecDeque::new(),
        log: Vec::new(),
        withdrawn: Vec::new(),
    };
    let summary = scheduler::run(plan, &statuses, &mut fake, &RunProgress::new(0, true), cut);
    (summary, fake.log, fake.withdrawn)
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
    let cut = CutAt {
        plan: &plan,
        name: &name,
    };
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

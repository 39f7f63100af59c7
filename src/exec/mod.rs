//! The executor: runs the dirty stages of a plan in topological order.
//!
//! Invariants:
//! * A stage runs only after all its inputs are in the store; CPU stages run in
//!   parallel up to `-j`, device stages one at a time per device.
//! * A stage's row is committed by the store only after the stage succeeded; a
//!   failure is recorded as a failed execution, never as a result.
//! * A failing stage fails only its descendants; everything else still runs.
//! * Before running, a stage takes a lease in the store, so two processes on one
//!   store never compute the same stage; a stage finished meanwhile by another
//!   process is taken from the cache.
//! * The executor knows stage kinds only through `StageKind`.

pub mod progress;
pub mod source;
pub mod status;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use petgraph::graph::NodeIndex;
use petgraph::Direction;

use mosx_store::{CacheCheck, Lease, RunId, RunInfo, StageRecord, Store, StoreError};

use crate::plan::Plan;
use crate::stages::{Resource, StageCtx};
use progress::RunProgress;
use source::StoreSource;
pub use status::{Reason, Status};

pub struct Options {
    pub jobs: usize,
    pub device: tch::Device,
    pub device_label: String,
    pub quiet: bool,
}

/// What happened to each stage of a run.
#[derive(Debug, Default)]
pub struct Summary {
    pub total: usize,
    pub cached: usize,
    pub executed: Vec<String>,
    /// Finished by another process while this one waited for it.
    pub by_other: usize,
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<(String, String)>,
}

/// Fresh/Dirty status of every node (indexed by node index).
pub fn check(
    plan: &Plan,
    store: Option<&dyn Store>,
    forced: &dyn Fn(&str) -> bool,
) -> Result<Vec<Status>, StoreError> {
    let keys: Vec<String> = plan
        .graph
        .node_indices()
        .map(|i| plan.graph[i].key.clone())
        .collect();
    let checks: HashMap<String, CacheCheck> = match store {
        Some(s) => s.check_many(&keys)?,
        None => HashMap::new(),
    };
    let scope = plan.scope();
    Ok(plan
        .graph
        .node_indices()
        .map(|i| {
            let n = &plan.graph[i];
            let c = checks
                .get(&n.key)
                .cloned()
                .unwrap_or(CacheCheck::Miss(mosx_store::MissReason::NotFound));
            status::status(store, &scope, n, &c, forced(&n.name))
        })
        .collect())
}

/// Leases this process holds, released on Ctrl-C.
struct Held {
    store: Arc<dyn Store>,
    run: RunId,
    keys: Mutex<HashSet<String>>,
}

enum Done {
    Ran(f64),
    ByOther,
    Failed(String),
}

pub fn run(
    plan: Arc<Plan>,
    store: Arc<dyn Store>,
    run: RunId,
    info: &RunInfo,
    statuses: &[Status],
    opts: &Options,
) -> Summary {
    let g = &plan.graph;
    let dirty: HashSet<NodeIndex> = g
        .node_indices()
        .filter(|i| matches!(statuses[i.index()], Status::Dirty(_)))
        .collect();
    let mut summary = Summary {
        total: g.node_count(),
        cached: g.node_count() - dirty.len(),
        ..Default::default()
    };
    let mut waiting: HashMap<NodeIndex, usize> = dirty
        .iter()
        .map(|i| {
            (
                *i,
                g.neighbors_directed(*i, Direction::Incoming)
                    .filter(|u| dirty.contains(u))
                    .count(),
            )
        })
        .collect();
    let progress = Arc::new(RunProgress::new(dirty.len() as u64, opts.quiet));
    let held = Arc::new(Held {
        store: store.clone(),
        run,
        keys: Mutex::new(HashSet::new()),
    });
    install_interrupt(held.clone());

    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            summary.failed.push(("<executor>".into(), e.to_string()));
            return summary;
        }
    };
    let source = Arc::new(StoreSource::new(store.clone()));
    let device_lock = Arc::new(Mutex::new(()));
    let info = Arc::new(info.clone());
    let (tx, rx) = mpsc::channel::<(NodeIndex, Done)>();
    let mut in_flight = 0usize;
    let mut blocked: HashSet<NodeIndex> = HashSet::new();

    let spawn = |i: NodeIndex, in_flight: &mut usize| {
        *in_flight += 1;
        let (plan, store, tx, progress, source, held, device_lock, info) = (
            plan.clone(),
            store.clone(),
            tx.clone(),
            progress.clone(),
            source.clone(),
            held.clone(),
            device_lock.clone(),
            info.clone(),
        );
        let (device, device_label) = (opts.device, opts.device_label.clone());
        pool.spawn(move || {
            let done = run_one(
                &plan,
                i,
                &*store,
                run,
                &info,
                &progress,
                &*source,
                &held,
                &device_lock,
                device,
                &device_label,
            );
            let _ = tx.send((i, done));
        });
    };

    let mut ready: Vec<NodeIndex> = plan
        .order
        .iter()
        .copied()
        .filter(|i| waiting.get(i) == Some(&0))
        .collect();
    for i in ready.drain(..) {
        spawn(i, &mut in_flight);
    }
    while in_flight > 0 {
        let Ok((i, done)) = rx.recv() else { break };
        in_flight -= 1;
        progress.finished();
        let name = g[i].name.clone();
        let ok = match done {
            Done::Ran(secs) => {
                progress.println(&format!(
                    "  ran {name} ({}) in {secs:.2}s",
                    g[i].kind.name()
                ));
                summary.executed.push(name.clone());
                true
            }
            Done::ByOther => {
                progress.println(&format!("  {name}: computed by another mosx process"));
                summary.by_other += 1;
                true
            }
            Done::Failed(e) => {
                progress.println(&format!("  FAILED {name}: {e}"));
                summary.failed.push((name.clone(), e));
                false
            }
        };
        if ok {
            let mut next: Vec<NodeIndex> = Vec::new();
            for c in g.neighbors_directed(i, Direction::Outgoing) {
                if let Some(w) = waiting.get_mut(&c) {
                    *w = w.saturating_sub(1);
                    if *w == 0 && !blocked.contains(&c) {
                        next.push(c);
                    }
                }
            }
            next.sort();
            next.dedup();
            for c in next {
                spawn(c, &mut in_flight);
            }
        } else {
            let mut dfs = petgraph::visit::Dfs::new(g, i);
            let _ = dfs.next(g);
            while let Some(d) = dfs.next(g) {
                if dirty.contains(&d) && blocked.insert(d) {
                    summary
                        .skipped
                        .push((g[d].name.clone(), format!("upstream {name} failed")));
                }
            }
        }
    }
    progress.clear();
    summary
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    plan: &Plan,
    i: NodeIndex,
    store: &dyn Store,
    run: RunId,
    info: &RunInfo,
    progress: &RunProgress,
    source: &StoreSource,
    held: &Held,
    device_lock: &Mutex<()>,
    device: tch::Device,
    device_label: &str,
) -> Done {
    let node = &plan.graph[i];
    let work_dir = match store.work_dir(&node.key) {
        Ok(d) => d,
        Err(e) => return Done::Failed(format!("store: {e}")),
    };
    // Take the lease; wait while another live process computes this stage.
    let mut announced = false;
    loop {
        match store.acquire(&node.key, run) {
            Ok(Lease::Acquired) => break,
            Ok(Lease::Done) => return Done::ByOther,
            Ok(Lease::Busy { pid, host, .. }) => {
                if !announced {
                    progress.println(&format!(
                        "  waiting for {}: running in pid {pid} on {host}",
                        node.name
                    ));
                    announced = true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Done::Failed(format!("store: {e}")),
        }
    }
    if let Ok(mut k) = held.keys.lock() {
        k.insert(node.key.clone());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let beat = heartbeat(held.store.clone(), node.key.clone(), run, stop.clone());
    // A device stage queued behind another says so, and its time counts from when it
    // got the device.
    let device_guard = match node.kind.resource(&node.params) {
        Resource::Device => Some(match device_lock.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                progress.waiting(&node.name, device_label);
                device_lock.lock().unwrap_or_else(|p| p.into_inner())
            }
        }),
        Resource::Cpu => None,
    };
    progress.started(&node.name);
    let started = now();
    let t0 = Instant::now();
    let result = {
        if let Some(ms) = std::env::var("MOSX_TEST_STAGE_DELAY_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(Duration::from_millis(ms));
        }
        let slots = node
            .inputs
            .iter()
            .map(|(s, up)| (s.clone(), plan.graph[*up].key.clone()))
            .collect();
        let stage_progress = progress.stage(&node.name);
        let ctx = StageCtx {
            name: &node.name,
            params: &node.params,
            inputs: crate::stages::Inputs {
                slots: &slots,
                source,
            },
            device,
            progress: &stage_progress,
            work_dir,
        };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| node.kind.run(&ctx)));
        use crate::stages::Progress as _;
        stage_progress.finish();
        r
    };
    drop(device_guard);
    stop.store(true, Ordering::SeqCst);
    let _ = beat.join();
    let outcome = match result {
        Ok(Ok(out)) => {
            let finished = now();
            let rec = StageRecord {
                key: node.key.clone(),
                kind: node.kind.name().to_string(),
                name: node.name.clone(),
                params: node.params.clone(),
                parts: serde_json::to_value(&node.parts).unwrap_or_default(),
                started_at: started,
                finished_at: finished,
                duration_ms: t0.elapsed().as_millis() as i64,
                run_id: run,
                mosx_version: info.mosx_version.clone(),
                git_commit: info.git_commit.clone(),
                git_dirty: info.git_dirty,
                host: info.host.clone(),
                device: device_label.to_string(),
                seed: node.seed(),
                spec_hash: info.spec_hash.clone(),
            };
            match store.commit(&rec, &out.artifacts, &out.metrics) {
                Ok(()) => Done::Ran(t0.elapsed().as_secs_f64()),
                Err(e) => fail(store, node, run, format!("store: {e}")),
            }
        }
        Ok(Err(e)) => fail(store, node, run, e.to_string()),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            fail(store, node, run, format!("panicked: {msg}"))
        }
    };
    if let Ok(mut k) = held.keys.lock() {
        k.remove(&node.key);
    }
    outcome
}

fn fail(store: &dyn Store, node: &crate::plan::Node, run: RunId, error: String) -> Done {
    let _ = store.record_failure(&node.key, &node.name, node.kind.name(), run, &error);
    let _ = store.release(&node.key, run);
    Done::Failed(error)
}

/// Refresh the lease every 10 s while a stage runs.
fn heartbeat(
    store: Arc<dyn Store>,
    key: String,
    run: RunId,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
            if last.elapsed() >= Duration::from_secs(10) {
                let _ = store.heartbeat(&key, run);
                last = Instant::now();
            }
        }
    })
}

/// Ctrl-C: release the leases held, then exit 130. Results already committed stay;
/// the interrupted stages left nothing behind and run again next time.
fn install_interrupt(held: Arc<Held>) {
    let _ = ctrlc::set_handler(move || {
        if let Ok(keys) = held.keys.lock() {
            for k in keys.iter() {
                let _ = held.store.release(k, held.run);
            }
        }
        eprintln!("\ninterrupted: finished stages are cached; rerun to resume");
        std::process::exit(130);
    });
}

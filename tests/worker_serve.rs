//! The worker's protocol on a tiny model, against the real binary (`target/release/mosx-worker`,
//! beside the planner; a root test, since the jobs come from the planner's plan): `serve` says hello with the
//! device it resolved, runs a zero-shot `evaluate` job (its upstream data stages computed
//! in-process through the same `execute`) and commits its row; answers a line that is not a
//! job with a `rejected` event and reads on; refuses a job whose key claims other code; exits
//! 0 at EOF. `stage --job FILE` runs one job and exits 0, or 2 on a file that is not a job.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;

use mosx::exec::job::{execute, Done, Job, Leases, Report};
use mosx::exec::protocol::Event;
use mosx::exec::source::StoreSource;
use mosx::plan::Plan;
use mosx::stages::{Execution, Progress};
use mosx_store::{CacheCheck, RunInfo, Store};

fn worker() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_mosx")).with_file_name("mosx-worker")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ml_data() -> PathBuf {
    let p = repo().join("data/ml-100k");
    assert!(
        p.join("ml-100k.inter").exists(),
        "ML-100K missing under {}: run `make data`",
        p.display()
    );
    p.canonicalize().unwrap()
}

struct Quiet;
impl Progress for Quiet {
    fn start(&self, _: &str, _: u64) {}
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}
impl Report for Quiet {
    fn holder_busy(&self, _: u32, _: &str) {}
    fn started(&self) {}
    fn progress(&self) -> &dyn Progress {
        self
    }
}

/// A project folder with a tiny model, a plan of data stages and two zero-shot evaluations,
/// and a store holding the data stages' results. Returns (folder, plan, store, run info).
fn project() -> (tempfile::TempDir, Plan, Arc<dyn Store>, RunInfo) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    let o = Command::new(worker())
        .args(["tiny-model", "tiny", "--data", ml_data().to_str().unwrap()])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let model = dir.join("tiny");
    let spec = format!(
        r#"name: serve
stages:
  ml_load: {{ kind: load, params: {{ path: "{data}" }} }}
  ml_sample: {{ kind: sample, inputs: {{ dataset: ml_load }}, params: {{ windows: 300, seed: 1 }} }}
  ml_split: {{ kind: split, inputs: {{ sequences: ml_sample }}, params: {{ seed: 1 }} }}
  eval_implicit: {{ kind: evaluate, inputs: {{ split: ml_split }}, params: {{ model: "{model}", setting: implicit, max_points: 12 }} }}
  eval_explicit: {{ kind: evaluate, inputs: {{ split: ml_split }}, params: {{ model: "{model}", setting: explicit, max_points: 12 }} }}
"#,
        data = ml_data().display(),
        model = model.display()
    );
    std::fs::write(dir.join("spec.yaml"), spec).unwrap();
    let spec = mosx_spec::load(&dir.join("spec.yaml"), &[]).unwrap();
    let plan = mosx::plan::compile(spec, &mosx::stages::registry::builtin()).unwrap();
    let location = mosx::store::Location::new(
        dir.join("results/mosx.db").to_string_lossy().into_owned(),
        None,
    );
    let store = mosx::store::open(&location).unwrap();
    let info = RunInfo {
        spec_path: "spec.yaml".into(),
        spec_hash: plan.spec.hash.clone(),
        argv: "test".into(),
        mosx_version: mosx::provenance::VERSION.into(),
        git_commit: None,
        git_dirty: false,
        host: mosx::provenance::host(),
        device: "cpu".into(),
        pid: std::process::id(),
    };
    let run = store.begin_run(&info).unwrap();
    let source = StoreSource::new(store.clone());
    let leases = Leases::default();
    for &i in &plan.order {
        let node = &plan.graph[i];
        if node.kind.execution() == Execution::InProcess {
            let mut job = plan.job(i, run, &info, "cpu");
            job.dir = dir.clone();
            let done = execute(&job, &*store, &source, &leases, &Quiet, "cpu", |ctx| {
                node.kind.run(ctx)
            });
            assert!(matches!(done, Done::Ran { .. }), "{}: {done:?}", node.name);
        }
    }
    (tmp, plan, store, info)
}

fn job_of(plan: &Plan, store: &dyn Store, info: &RunInfo, name: &str, dir: &Path) -> Job {
    let i = plan.find(name).unwrap();
    let run = store.begin_run(info).unwrap();
    let mut job = plan.job(i, run, info, "cpu");
    job.dir = dir.to_path_buf();
    job
}

fn next(events: &mut impl BufRead) -> Event {
    let mut line = String::new();
    assert!(events.read_line(&mut line).unwrap() > 0, "the worker ended");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("`{line}`: {e}"))
}

/// Events up to the final one of `key`.
fn until_final(events: &mut impl BufRead, key: &str) -> (Vec<Event>, Done) {
    let mut seen = Vec::new();
    loop {
        let e = next(events);
        if let Some((k, done)) = e.outcome() {
            assert_eq!(k, key);
            return (seen, done);
        }
        seen.push(e);
    }
}

/// `mosx-worker serve` on the project's store, its stdin and its events.
fn spawn_serve(dir: &Path) -> (Child, ChildStdin, BufReader<ChildStdout>) {
    let mut child = Command::new(worker())
        .args(["serve", "--store", "results/mosx.db", "--device", "cpu"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let events = BufReader::new(child.stdout.take().unwrap());
    (child, stdin, events)
}

/// One job, one line.
fn send(stdin: &mut ChildStdin, job: &Job) {
    writeln!(stdin, "{}", serde_json::to_string(job).unwrap()).unwrap();
    stdin.flush().unwrap();
}

/// The first event: a hello with this build's version, the resolved device and the pid.
fn assert_hello(events: &mut impl BufRead, pid: u32) {
    match next(events) {
        Event::Hello {
            version,
            device,
            pid: hello_pid,
            ..
        } => {
            assert_eq!(version, mosx::provenance::VERSION);
            assert_eq!(device, "cpu");
            assert_eq!(hello_pid, pid);
        }
        other => panic!("expected a hello, got {other:?}"),
    }
}

/// A line that is not a job: a typed answer, and the worker reads on.
fn assert_garbage_rejected(stdin: &mut ChildStdin, events: &mut impl BufRead) {
    stdin.write_all(b"{\"not\": \"a job\"}\n").unwrap();
    stdin.flush().unwrap();
    match next(events) {
        Event::Rejected { line, error } => {
            assert_eq!(line, 1);
            assert!(error.contains("not a job"), "{error}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// A job: started, its progress, done; the row is in the store.
fn assert_job_runs_and_commits(
    stdin: &mut ChildStdin,
    events: &mut impl BufRead,
    store: &dyn Store,
    job: &Job,
) {
    send(stdin, job);
    let (seen, done) = until_final(events, &job.key);
    assert!(matches!(done, Done::Ran { .. }), "{done:?}");
    assert!(
        matches!(&seen[0], Event::Started { key } if key == &job.key),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|e| matches!(e, Event::Progress { .. })),
        "no progress: {seen:?}"
    );
    assert_eq!(store.check(&job.key).unwrap(), CacheCheck::Hit);
    let n = store
        .metrics(&job.key)
        .unwrap()
        .into_iter()
        .find(|(m, _)| m == "n")
        .map(|(_, v)| v);
    assert_eq!(n, Some(12.0));
    let row = store.record(&job.key).unwrap().unwrap();
    assert_eq!((row.device.as_str(), row.run_id), ("cpu", job.run));
}

/// A job whose parts claim other code is refused (recorded failed, nothing cached).
fn assert_other_code_refused(
    stdin: &mut ChildStdin,
    events: &mut impl BufRead,
    store: &dyn Store,
    mut other: Job,
) {
    other
        .parts
        .code
        .insert("mosx-models".into(), "0".repeat(64));
    other.key = other.parts.key();
    send(stdin, &other);
    match until_final(events, &other.key).1 {
        Done::Failed { error } => assert!(
            error.contains("mosx-models") && error.contains("other code"),
            "{error}"
        ),
        d => panic!("{d:?}"),
    }
    assert!(matches!(
        store.check(&other.key).unwrap(),
        CacheCheck::Miss(_)
    ));
}

#[test]
fn serve_says_hello_runs_a_job_rejects_garbage_and_exits_at_eof() {
    let (tmp, plan, store, info) = project();
    let dir = tmp.path().canonicalize().unwrap();
    let (mut child, mut stdin, mut events) = spawn_serve(&dir);
    assert_hello(&mut events, child.id());
    assert_garbage_rejected(&mut stdin, &mut events);

    let job = job_of(&plan, &*store, &info, "eval_implicit", &dir);
    assert_job_runs_and_commits(&mut stdin, &mut events, &*store, &job);

    // The same job again: committed already.
    send(&mut stdin, &job);
    assert_eq!(until_final(&mut events, &job.key).1, Done::ByOther);

    let other = job_of(&plan, &*store, &info, "eval_explicit", &dir);
    assert_other_code_refused(&mut stdin, &mut events, &*store, other);

    drop(stdin);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn stage_runs_one_job_file_and_refuses_a_file_that_is_not_a_job() {
    let (tmp, plan, store, info) = project();
    let dir = tmp.path().canonicalize().unwrap();
    let job = job_of(&plan, &*store, &info, "eval_explicit", &dir);
    std::fs::write(dir.join("job.json"), serde_json::to_vec(&job).unwrap()).unwrap();
    // Run from elsewhere: the job's folder is the project folder.
    let o = Command::new(worker())
        .args([
            "stage",
            "--store",
            "results/mosx.db",
            "--device",
            "cpu",
            "--job",
        ])
        .arg(dir.join("job.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(store.check(&job.key).unwrap(), CacheCheck::Hit);

    std::fs::write(dir.join("bad.json"), b"[1, 2]").unwrap();
    let o = Command::new(worker())
        .args(["stage", "--store", "results/mosx.db", "--job"])
        .arg(dir.join("bad.json"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a job"),
        "{o:?}"
    );
}

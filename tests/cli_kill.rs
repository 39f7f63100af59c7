//! Kill harness: SIGKILL `mosx run` at 20 seeded random points (sometimes killing the rerun
//! too), then rerun to completion; the final metrics and artifact hashes equal an
//! uninterrupted run's bit for bit (training logs aside: they hold wall-clock times), and no
//! lease, no `running` run, no temp object, no
//! scratch folder, no temp file of a store creation and no partial row is left. Before a
//! rerun the harness reads a store only if its file exists, and then asserts it is whole
//! (creation is atomic), so no kill point can make it read a half-made store.
//!
//! The harness spec is `STAGES` (data stages) plus `TRAIN_STAGES` (a tiny-backbone training,
//! its evaluation and metrics), one stage per line: adding a stage is a one-line change. Runs are pinned to
//! `--device cpu`, where results are bit-reproducible.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The harness pipeline (flow style, one stage per line). `@DATA@` is the ML-100K folder.
const STAGES: &[&str] = &[
    "ml_load:    { kind: load, params: { path: \"@DATA@\" } }",
    "ml_sample:  { kind: sample, inputs: { dataset: ml_load }, params: { windows: 2000, seed: 3 } }",
    "ml_split:   { kind: split, inputs: { sequences: ml_sample }, params: { seed: 3 } }",
    "ml_measure: { kind: measure, inputs: { split: ml_split } }",
];

/// A tiny-backbone training, its evaluation and metrics, on top of `STAGES`.
const TRAIN_STAGES: &[&str] = &[
    "ml_train:   { kind: train, inputs: { split: ml_split, measure: ml_measure }, params: { model: tiny, method: { name: prompt_tuning, tokens: 4 }, epochs: 2, seed: 3, max_train_points: 16, max_valid_points: 8 } }",
    "ml_eval:    { kind: evaluate, inputs: { split: ml_split, adapter: ml_train }, params: { model: tiny, setting: implicit, max_points: 16 } }",
    "ml_metrics: { kind: metrics, inputs: { predictions: ml_eval, stereotypes: ml_measure } }",
];

/// The tiny random backbone (`models/tiny`) the training and evaluation stages use.
fn setup(dir: &Path) {
    let o = mosx(
        dir,
        &["tiny-model", "tiny", "--data", ml_data().to_str().unwrap()],
    );
    assert!(o.status.success(), "{:?}", text(&o));
}

/// Kill points, and the delay each stage sleeps inside its lease (so kills land inside
/// stages as well as between them).
const KILLS: usize = 20;
const STAGE_DELAY_MS: u64 = 120;

fn write_spec(dir: &Path, stages: &[&str]) -> String {
    let mut s = String::from("name: kill\nstages:\n");
    for line in stages {
        s.push_str("  ");
        s.push_str(&line.replace("@DATA@", &ml_data().display().to_string()));
        s.push('\n');
    }
    let p = dir.join("kill.yaml");
    std::fs::write(&p, s).unwrap();
    p.display().to_string()
}

fn spawn(dir: &Path, spec: &str, store: &str) -> std::process::Child {
    Command::new(bin())
        .args(["run", spec, "-q", "--device", "cpu", "--store", store])
        .current_dir(dir)
        .env("MOSX_TEST_STAGE_DELAY_MS", STAGE_DELAY_MS.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mosx")
}

/// SplitMix64: the kill points are reproducible from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn run_and_kill(dir: &Path, spec: &str, store: &str, after: Duration) -> bool {
    let mut child = spawn(dir, spec, store);
    let t0 = Instant::now();
    while t0.elapsed() < after {
        if let Ok(Some(_)) = child.try_wait() {
            return false; // finished before the kill point
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // SIGKILL: no handler runs, no lease is released, nothing is flushed.
    child.kill().unwrap();
    let _ = child.wait();
    true
}

/// Artifact hashes, except training logs: they record wall-clock seconds per epoch.
fn outputs(db: &Path) -> Vec<(String, String, String)> {
    artifact_hashes(db)
        .into_iter()
        .filter(|(_, name, _)| name != "log")
        .collect()
}

fn count(db: &Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Files under `dir` whose name starts with `.tmp.`, and entries of `<objects>/.work/`.
fn leftovers(objects: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![objects.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if d == objects && name == ".work" {
                if let Ok(w) = std::fs::read_dir(e.path()) {
                    out.extend(w.flatten().map(|x| format!(".work/{:?}", x.file_name())));
                }
                continue;
            }
            if e.path().is_dir() {
                stack.push(e.path());
            } else if name.starts_with(".tmp.") {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

/// Temp files of a store creation (`.mosx.db.new.*`) in the store's folder.
fn creation_temps(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".mosx.db.new."))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sigkill_at_random_points_then_rerun_matches_an_uninterrupted_run() {
    harness(STAGES);
}

/// The same with a tiny-backbone training, evaluation and metrics. (This harness found that a
/// resumed training's epoch log read back from its checkpoint's JSON differed in the last
/// digit: serde_json now parses floats exactly, `float_roundtrip`.)
#[test]
fn sigkill_with_training_then_rerun_matches_an_uninterrupted_run() {
    let all: Vec<&str> = STAGES.iter().chain(TRAIN_STAGES).copied().collect();
    harness(&all);
}

/// The reference: one uninterrupted run into `ref/mosx.db`, timed (to spread the kill points
/// over it). Returns its duration.
fn reference_run(dir: &Path, spec: &str, stages: usize) -> Duration {
    let t0 = Instant::now();
    let o = Command::new(bin())
        .args([
            "run",
            spec,
            "-q",
            "--device",
            "cpu",
            "--store",
            "ref/mosx.db",
        ])
        .current_dir(dir)
        .env("MOSX_TEST_STAGE_DELAY_MS", STAGE_DELAY_MS.to_string())
        .output()
        .unwrap();
    let span = t0.elapsed();
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(stage_rows(&dir.join("ref/mosx.db")).len(), stages);
    span
}

/// The uninterrupted run's results: metrics and artifact hashes (training logs aside).
struct Reference {
    metrics: Vec<(String, String, Option<f64>)>,
    hashes: Vec<(String, String, String)>,
}

/// After kill `k`'s rerun: the results equal the reference's bit for bit.
fn assert_results_match(db: &Path, k: usize, reference: &Reference) {
    assert_eq!(outputs(db), reference.hashes, "kill {k}: artifacts differ");
    let got = metrics(db);
    let diff: Vec<_> = got
        .iter()
        .filter(|m| !reference.metrics.contains(m))
        .collect();
    assert!(
        got.len() == reference.metrics.len() && diff.is_empty(),
        "kill {k}: metrics differ: {diff:?}"
    );
}

/// After kill `k`'s rerun: no lease, no `running` run or execution, no temp object, no
/// scratch folder and no temp file of a store creation is left.
fn assert_nothing_left(db: &Path, k: usize) {
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM leases"),
        0,
        "kill {k}: lease left"
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM runs WHERE status = 'running'"),
        0,
        "kill {k}: a run is still `running`"
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM executions WHERE status = 'running'"
        ),
        0,
        "kill {k}: an execution is still `running`"
    );
    let mut left = leftovers(&db.parent().unwrap().join("objects"));
    left.extend(creation_temps(db.parent().unwrap()));
    assert!(left.is_empty(), "kill {k}: left behind {left:?}");
}

/// Kill `k`: runs into store `k{k}/mosx.db` and kills it at a random point, sometimes kills
/// its rerun too, then reruns to completion and checks the store. Returns whether the first
/// kill and the rerun's kill landed mid-run.
fn kill_and_recover(
    dir: &Path,
    spec: &str,
    k: usize,
    rng: &mut Rng,
    span_ms: u64,
    reference: &Reference,
) -> (bool, bool) {
    let store = format!("k{k}/mosx.db");
    let db = dir.join(&store);
    let landed = run_and_kill(dir, spec, &store, Duration::from_millis(rng.below(span_ms)));
    // Sometimes the rerun is killed too.
    let rerun_killed = rng.below(3) == 0
        && run_and_kill(dir, spec, &store, Duration::from_millis(rng.below(span_ms)));
    // Wherever the kill landed: no store file, or a whole one (schema and rows).
    if db.exists() {
        assert_store_whole(&db);
        assert_no_partial_rows(&db);
    }
    let o = mosx(
        dir,
        &["run", spec, "-q", "--device", "cpu", "--store", &store],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "kill {k}: {out}\n{err}");
    assert_no_partial_rows(&db);
    assert_results_match(&db, k, reference);
    assert_nothing_left(&db, k);
    (landed, rerun_killed)
}

fn harness(stages: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_spec(tmp.path(), stages);
    if stages.iter().any(|s| s.contains("model: tiny")) {
        setup(tmp.path());
    }
    let span = reference_run(tmp.path(), &spec, stages.len());
    let db = tmp.path().join("ref/mosx.db");
    let reference = Reference {
        metrics: metrics(&db),
        hashes: outputs(&db),
    };

    let mut rng = Rng(0x6d6f_7378_6b69_6c6c);
    let span_ms = span.as_millis() as u64;
    let (mut landed, mut rerun_kills) = (0, 0);
    for k in 0..KILLS {
        let (first, rerun) = kill_and_recover(tmp.path(), &spec, k, &mut rng, span_ms, &reference);
        landed += usize::from(first);
        rerun_kills += usize::from(rerun);
    }
    eprintln!(
        "{landed} of {KILLS} kills landed mid-run, {rerun_kills} reruns killed; reference run {span:?}"
    );
    // The kill points are spread over the reference run's duration; on a loaded machine a
    // later run can be faster, so some kills land after it ended. A quarter landing mid-run
    // still exercises the recovery (measured: 18-20 of 20 when quiet, 9 at load 8).
    assert!(landed >= KILLS / 4, "only {landed} kills landed mid-run");
}

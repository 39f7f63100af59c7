//! Integration tests of mosx-slurm.
//!
//! `detection_*` and `resources_*` need no cluster: detection runs against fake Slurm
//! commands written to a temporary directory. `against_the_cluster` submits real jobs
//! and runs only when `MOSX_TEST_SLURM=1` (set by `tools/ci/slurm.sh`, which starts a
//! one-node Slurm 22.05 on this machine); otherwise it prints one "skipped" line. Its
//! scenarios run concurrently (threads), so the whole takes seconds; jobs write under
//! `CARGO_TARGET_TMPDIR`, which must be visible to the compute node (it is on a
//! one-node cluster).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mosx_slurm::{
    Accounting, Cluster, DetectError, JobId, JobRequest, JobState, Resources, SubmitError,
    TimeLimit,
};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("mosx-slurm-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_exe(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn detection_names_every_missing_command() {
    let dir = scratch("detect-missing");
    write_exe(&dir, "sbatch", "echo 'slurm 23.02.7'");
    write_exe(&dir, "squeue", "exit 0");
    let err = Cluster::detect_on(dir.as_os_str()).unwrap_err();
    assert!(
        matches!(&err, DetectError::Missing { commands } if commands == &["scancel", "scontrol"]),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "Slurm command(s) not found on PATH: scancel, scontrol"
    );
}

#[test]
fn detection_reads_the_version_and_probes_sacct() {
    let dir = scratch("detect-fake");
    write_exe(&dir, "sbatch", "echo 'slurm 23.02.7'");
    for c in ["squeue", "scancel", "scontrol"] {
        write_exe(&dir, c, "exit 0");
    }
    let cluster = Cluster::detect_on(dir.as_os_str()).unwrap();
    assert_eq!(cluster.version().to_string(), "23.02.7");
    assert_eq!(cluster.accounting(), &Accounting::Missing);

    // The message Slurm 22.05's sacct prints (exit status 1) without accounting storage.
    write_exe(
        &dir,
        "sacct",
        "echo 'Slurm accounting storage is disabled' >&2; exit 1",
    );
    let cluster = Cluster::detect_on(dir.as_os_str()).unwrap();
    assert_eq!(
        cluster.accounting(),
        &Accounting::Unusable {
            path: dir.join("sacct"),
            why: "Slurm accounting storage is disabled".into()
        }
    );
    write_exe(&dir, "sacct", "exit 0");
    assert_eq!(
        Cluster::detect_on(dir.as_os_str()).unwrap().accounting(),
        &Accounting::Usable(dir.join("sacct"))
    );

    write_exe(&dir, "sbatch", "echo 'sbatch: error: who knows'");
    assert!(matches!(
        Cluster::detect_on(dir.as_os_str()),
        Err(DetectError::Version { .. })
    ));
}

#[test]
fn detection_fake_sbatch_errors_carry_stderr() {
    let dir = scratch("detect-sbatch-fails");
    // What sbatch 22.05 prints for `--partition=nope`.
    let rejected = "sbatch: error: Batch job submission failed: Invalid partition name specified";
    write_exe(
        &dir,
        "sbatch",
        &format!(
            "case \"$1\" in --version) echo 'slurm 22.05.8';; \
             *) cat >/dev/null; echo '{rejected}' >&2; exit 1;; esac"
        ),
    );
    for c in ["squeue", "scancel", "scontrol"] {
        write_exe(&dir, c, "exit 0");
    }
    let cluster = Cluster::detect_on(dir.as_os_str()).unwrap();
    let err = cluster
        .submit(&JobRequest::new("j", ["true"], &dir, dir.join("out")))
        .unwrap_err();
    assert!(matches!(err, SubmitError::Command { .. }));
    let expected = format!("job `j`: `sbatch` failed (exit status: 1): {rejected}");
    assert_eq!(err.to_string(), expected);
    let err = cluster
        .submit(&JobRequest::new("j", Vec::<OsString>::new(), &dir, "out"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "job `j`: job has no command (argv is empty)"
    );
}

#[test]
fn resources_from_a_spec() {
    let r: Resources = serde_json::from_str(
        r#"{"partition":"gpu","time":90,"mem":"4G","cpus_per_task":2,"gres":"gpu:1"}"#,
    )
    .unwrap();
    assert_eq!(r.time.unwrap().to_string(), "0-01:30:00");
    assert_eq!(r.mem.unwrap().mebibytes(), 4096);
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"partition":"gpu","time":"0-01:30:00","mem":"4096M","cpus_per_task":2,"gres":"gpu:1"}"#
    );
    assert_eq!(
        serde_json::from_str::<Resources>(r#"{"mem":2048}"#)
            .unwrap()
            .mem
            .unwrap()
            .mebibytes(),
        2048
    );
    assert_eq!(
        serde_json::from_str::<Resources>("{}").unwrap(),
        Resources::default()
    );
    // The entries of a mosx spec's `resources:` (crates/mosx-spec/src/resources.rs).
    let spec: Resources = serde_json::from_str(
        r#"{"partition":"gpu","time":"12:00:00","mem":"32G","cpus":8,"gres":"gpu:1"}"#,
    )
    .unwrap();
    assert_eq!(spec.cpus_per_task.map(|c| c.get()), Some(8));
    assert_eq!(spec.time, Some(TimeLimit::Seconds(12 * 3600)));
    for (json, message) in [
        (r#"{"mem":"4X"}"#, "invalid mem `4X`"),
        (r#"{"time":"1h"}"#, "invalid time `1h`"),
        (r#"{"gres":"gpu:0"}"#, "invalid gres `gpu:0`"),
        (r#"{"partition":"a b"}"#, "invalid partition `a b`"),
        (r#"{"cpus_per_task":0}"#, "nonzero"),
        (r#"{"memory":"4G"}"#, "unknown field `memory`"),
        (r#"{"time":-5}"#, "invalid value"),
    ] {
        let e = serde_json::from_str::<Resources>(json)
            .unwrap_err()
            .to_string();
        assert!(e.contains(message), "{json}: {e}");
    }
}

// ---- against a real cluster ---------------------------------------------------------

/// Polls until every job is final; panics after `limit`.
fn wait_final(cluster: &Cluster, ids: &[JobId], limit: Duration) -> HashMap<JobId, JobState> {
    let start = Instant::now();
    loop {
        let states = cluster.states(ids).unwrap();
        assert!(
            ids.iter().all(|id| states.contains_key(id)) && states.len() <= ids.len(),
            "{states:?}"
        );
        if states.values().all(JobState::is_final) {
            return states;
        }
        assert!(
            start.elapsed() < limit,
            "jobs not final after {limit:?}: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn job(name: &str, dir: &Path, argv: &[&str]) -> JobRequest {
    JobRequest::new(
        format!("mosx-test-{name}"),
        argv.iter().copied(),
        dir,
        dir.join(format!("{name}.out")),
    )
}

fn sh(name: &str, dir: &Path, script: &str) -> JobRequest {
    job(name, dir, &["/bin/sh", "-c", script])
}

/// `scontrol show job --oneliner`, as `Key=Value` words.
fn scontrol_words(cluster: &Cluster, id: JobId) -> Vec<String> {
    let out = Command::new(cluster.scontrol())
        .args(["show", "job", "--oneliner", &id.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// One concurrent part of `against_the_cluster`.
type Scenario = fn(&Cluster);

const LIMIT: Duration = Duration::from_secs(60);

/// a → b: b starts only after a, both complete; a child of a completed parent the
/// controller still holds runs; so does a child of an id it never held.
fn chain(cluster: &Cluster) {
    let dir = scratch("chain");
    let a = cluster
        .submit(&sh("a", &dir, "sleep 1; echo a >> order"))
        .unwrap();
    let mut b = sh("b", &dir, "echo b >> order");
    b.after_ok = vec![a];
    let b = cluster.submit(&b).unwrap();
    let states = wait_final(cluster, &[a, b], LIMIT);
    assert_eq!(
        (&states[&a], &states[&b]),
        (&JobState::Completed, &JobState::Completed)
    );
    assert_eq!(fs::read_to_string(dir.join("order")).unwrap(), "a\nb\n");

    let mut late = sh("late", &dir, "echo late >> order");
    late.after_ok = vec![a];
    // Just below Slurm's default MaxJobId (67043328): no job of a test cluster has it.
    let mut orphan = sh("orphan", &dir, "echo orphan > orphan");
    orphan.after_ok = vec![JobId(67_000_000)];
    let (late, orphan) = (
        cluster.submit(&late).unwrap(),
        cluster.submit(&orphan).unwrap(),
    );
    let states = wait_final(cluster, &[late, orphan], LIMIT);
    assert_eq!(
        states[&late],
        JobState::Completed,
        "afterok on a completed job still held"
    );
    assert_eq!(
        states[&orphan],
        JobState::Completed,
        "Slurm 22.05: afterok on an unknown id is satisfied"
    );
    assert_eq!(
        fs::read_to_string(dir.join("order")).unwrap(),
        "a\nb\nlate\n"
    );
}

/// A failing parent: its child and grandchild never run and are reported
/// `DependencyNeverSatisfied` (Slurm 22.05: `CANCELLED`, reason `DependencyNeverSatisfied`).
fn failing_parent(cluster: &Cluster) {
    let dir = scratch("failing");
    let p = cluster.submit(&sh("p", &dir, "echo p; exit 3")).unwrap();
    let mut c = sh("c", &dir, "touch c.ran");
    c.after_ok = vec![p];
    let c = cluster.submit(&c).unwrap();
    let mut g = sh("g", &dir, "touch g.ran");
    g.after_ok = vec![c];
    let g = cluster.submit(&g).unwrap();
    let states = wait_final(cluster, &[p, c, g], LIMIT);
    assert_eq!(
        states[&p],
        JobState::Failed {
            exit_code: 3,
            signal: 0
        }
    );
    assert_eq!(states[&c], JobState::DependencyNeverSatisfied);
    assert_eq!(states[&g], JobState::DependencyNeverSatisfied);
    assert!(!dir.join("c.ran").exists() && !dir.join("g.ran").exists());
    assert!(
        !dir.join("c.out").exists(),
        "a job that never ran writes no output"
    );
    assert_eq!(fs::read_to_string(dir.join("p.out")).unwrap(), "p\n");

    // A child submitted after its parent failed (parent still held) is removed at once.
    let mut late = sh("late", &dir, "touch late.ran");
    late.after_ok = vec![p];
    let late = cluster.submit(&late).unwrap();
    assert_eq!(
        wait_final(cluster, &[late], LIMIT)[&late],
        JobState::DependencyNeverSatisfied
    );
}

/// Arguments, environment and output paths arrive byte for byte.
fn argv_intact(cluster: &Cluster) {
    let dir = scratch("argv").join("out dir 100%j");
    fs::create_dir_all(&dir).unwrap();
    let tricky = [
        "two words",
        "",
        "it's",
        "\"dq\"",
        "$HOME `id` $(id)",
        "back\\slash",
        "new\nline",
        "%j %x",
        "ü ✓",
        "-n",
    ];
    let mut r = job(
        "argv",
        &dir,
        &[
            "/bin/sh",
            "-c",
            r#"printf '[%s]\n' "$@"; printf '%s|%s' "$MOSX_T" "$MOSX_EMPTY" >&2"#,
            "sh",
        ],
    );
    r.argv.extend(tricky.iter().map(OsString::from));
    r.env = vec![
        ("MOSX_T".into(), "a 'b' \"c\" $d, e=f".into()),
        ("MOSX_EMPTY".into(), "".into()),
    ];
    r.stdout = dir.join("std out %j.txt");
    r.stderr = Some(dir.join("std err.txt"));
    let id = cluster.submit(&r).unwrap();
    assert_eq!(wait_final(cluster, &[id], LIMIT)[&id], JobState::Completed);
    let expected: String = tricky.iter().map(|t| format!("[{t}]\n")).collect();
    assert_eq!(
        fs::read_to_string(dir.join("std out %j.txt")).unwrap(),
        expected
    );
    assert_eq!(
        fs::read_to_string(dir.join("std err.txt")).unwrap(),
        "a 'b' \"c\" $d, e=f|"
    );
}

/// Requested partition, CPUs, memory and time reach the job; cancelling it removes its
/// child; cancelling again is harmless.
fn resources_and_cancel(cluster: &Cluster) {
    let dir = scratch("resources");
    let sinfo = Command::new("sinfo")
        .args(["--noheader", "--format=%P"])
        .output()
        .unwrap();
    let partitions = String::from_utf8(sinfo.stdout).unwrap();
    let default = partitions
        .lines()
        .find_map(|p| p.strip_suffix('*'))
        .expect("a default partition")
        .to_string();
    let cpus = if std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2 {
        2
    } else {
        1
    };
    let mut r = job("big", &dir, &["sleep", "60"]);
    r.resources = serde_json::from_value(serde_json::json!({
        "partition": default, "time": "7", "mem": "300M", "cpus_per_task": cpus,
    }))
    .unwrap();
    let big = cluster.submit(&r).unwrap();
    let mut child = job("child", &dir, &["touch", "child.ran"]);
    child.after_ok = vec![big];
    let child = cluster.submit(&child).unwrap();

    let words = scontrol_words(cluster, big);
    for expected in [
        format!("Partition={default}"),
        "TimeLimit=00:07:00".to_string(),
        "MinMemoryNode=300M".to_string(),
        format!("NumCPUs={cpus}"),
        format!("CPUs/Task={cpus}"),
        "JobName=mosx-test-big".to_string(),
    ] {
        assert!(words.contains(&expected), "{expected} not in {words:?}");
    }
    assert!(!cluster.states(&[big, child]).unwrap()[&big].is_final());
    cluster.cancel(&[big]).unwrap();
    let states = wait_final(cluster, &[big, child], LIMIT);
    assert_eq!(states[&big], JobState::Cancelled);
    assert_eq!(
        states[&child],
        JobState::DependencyNeverSatisfied,
        "a cancelled parent fails afterok"
    );
    assert!(!dir.join("child.ran").exists());
    cluster.cancel(&[big, child, JobId(67_000_000)]).unwrap();
}

/// Ids Slurm never held are `Gone`, alone (squeue fails for a single unknown id) or
/// among known ones.
fn unknown_ids(cluster: &Cluster) {
    let ghost = JobId(67_000_001);
    assert_eq!(
        cluster.states(&[ghost]).unwrap(),
        HashMap::from([(ghost, JobState::Gone)])
    );
    let dir = scratch("unknown");
    let known = cluster.submit(&job("known", &dir, &["true"])).unwrap();
    let states = wait_final(cluster, &[known, ghost, known], LIMIT);
    assert_eq!(
        states,
        HashMap::from([(ghost, JobState::Gone), (known, JobState::Completed)])
    );
    assert!(cluster.states(&[]).unwrap().is_empty());
}

/// Bad requests: rejected by this crate before sbatch, or by sbatch with its message.
fn rejected(cluster: &Cluster) {
    let dir = scratch("rejected");
    let mut r = job("nopart", &dir, &["true"]);
    r.resources.partition = Some("mosx-no-such-partition".parse().unwrap());
    let e = cluster.submit(&r).unwrap_err().to_string();
    assert!(e.contains("Invalid partition name specified"), "{e}");
    let mut r = job("toobig", &dir, &["true"]);
    r.resources.mem = Some("1000T".parse().unwrap());
    let e = cluster.submit(&r).unwrap_err().to_string();
    assert!(
        e.contains("Memory specification can not be satisfied"),
        "{e}"
    );
}

/// Over its memory under cgroup enforcement: `OutOfMemory` (only where TaskPlugin has
/// task/cgroup; linuxproc does not enforce memory).
fn out_of_memory(cluster: &Cluster) {
    let config = Command::new(cluster.scontrol())
        .args(["show", "config"])
        .output()
        .unwrap();
    let config = String::from_utf8(config.stdout).unwrap();
    if !config
        .lines()
        .any(|l| l.starts_with("TaskPlugin ") && l.contains("task/cgroup"))
    {
        println!("mosx-slurm: out-of-memory scenario skipped (no task/cgroup on this cluster)");
        return;
    }
    let dir = scratch("oom");
    // tail keeps the last lines of a file; /dev/zero has no line end, so it grows.
    let mut r = job("oom", &dir, &["tail", "/dev/zero"]);
    r.resources.mem = Some("64M".parse().unwrap());
    let id = cluster.submit(&r).unwrap();
    assert_eq!(
        wait_final(cluster, &[id], LIMIT)[&id],
        JobState::OutOfMemory
    );
}

#[test]
fn against_the_cluster() {
    if std::env::var_os("MOSX_TEST_SLURM").is_none_or(|v| v != "1") {
        // CI sets MOSX_TEST_SERVICES=required: there a missing cluster is a failure, not a skip.
        assert!(
            std::env::var_os("MOSX_TEST_SERVICES").is_none_or(|v| v != "required"),
            "MOSX_TEST_SERVICES=required but MOSX_TEST_SLURM is not 1"
        );
        println!(
            "mosx-slurm: cluster tests skipped \
             (set MOSX_TEST_SLURM=1; tools/ci/slurm.sh starts a cluster)"
        );
        return;
    }
    let cluster = Cluster::detect().expect("Slurm commands on PATH");
    cluster.ping().expect("slurmctld answers");
    println!(
        "mosx-slurm: Slurm {}, accounting {:?}",
        cluster.version(),
        cluster.accounting()
    );
    let start = Instant::now();
    std::thread::scope(|s| {
        let scenarios: [(&str, Scenario); 7] = [
            ("chain", chain),
            ("failing_parent", failing_parent),
            ("argv_intact", argv_intact),
            ("resources_and_cancel", resources_and_cancel),
            ("unknown_ids", unknown_ids),
            ("rejected", rejected),
            ("out_of_memory", out_of_memory),
        ];
        let cluster = &cluster;
        let running: Vec<_> = scenarios
            .iter()
            .map(|&(name, f)| (name, s.spawn(move || f(cluster))))
            .collect();
        let failed: Vec<&str> = running
            .into_iter()
            .filter_map(|(name, h)| h.join().is_err().then_some(name))
            .collect();
        assert!(failed.is_empty(), "failed scenarios: {failed:?}");
    });
    println!(
        "mosx-slurm: cluster scenarios took {:.1}s",
        start.elapsed().as_secs_f64()
    );
}

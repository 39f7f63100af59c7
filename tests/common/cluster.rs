//! Helpers of the cluster tests (`cli_cluster`, `cli_retries`, `cli_multinode`): the services
//! CI starts (`tools/ci/postgres.sh`, `tools/ci/slurm.sh`, `tools/ci/slurm_multi.sh`), a
//! fresh PostgreSQL schema per test, `mosx show`'s job lines and the checks of a run's outcome.
//!
//! A missing service makes a test print one "skipped" line and return, except under
//! `MOSX_TEST_SERVICES=required` (CI), where it is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{bin, mosx, text};

/// Skips (`None`, after a "skipped" line) unless every variable in `vars` is set; under
/// `MOSX_TEST_SERVICES=required` a missing one fails the test. The values, in order.
pub fn required_services(vars: &[&str], hint: &str) -> Option<Vec<String>> {
    let values: Vec<Option<String>> = vars.iter().map(|v| std::env::var(v).ok()).collect();
    if values.iter().all(Option::is_some) {
        return Some(values.into_iter().flatten().collect());
    }
    assert!(
        std::env::var_os("MOSX_TEST_SERVICES").is_none_or(|v| v != "required"),
        "MOSX_TEST_SERVICES=required but {} not all set ({hint})",
        vars.join(", ")
    );
    println!("skipped: {} not all set ({hint})", vars.join(", "));
    None
}

/// The PostgreSQL server's URL when both it and the one-node Slurm cluster are there.
pub fn services() -> Option<String> {
    required_services(
        &["MOSX_TEST_POSTGRES", "MOSX_TEST_SLURM"],
        "tools/ci/postgres.sh, tools/ci/slurm.sh",
    )
    .map(|mut v| v.remove(0))
}

/// Runs a command; its trimmed stdout, or a failure naming it and its stderr.
pub fn sh(args: &[&str]) -> String {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// One SQL command through `psql` (unaligned, tuples only).
pub fn psql(url: &str, sql: &str) -> String {
    sh(&[
        "psql",
        url,
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        sql,
    ])
}

/// A fresh schema `<name>_<pid>` on the server at `base`, and the store URL that uses it.
pub fn fresh_schema(base: &str, name: &str) -> (String, String) {
    let schema = format!("{name}_{}", std::process::id());
    psql(
        base,
        &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
    );
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    (schema, url)
}

/// The real worker, next to the `mosx` under test.
pub fn real_worker() -> PathBuf {
    Path::new(bin()).with_file_name("mosx-worker")
}

/// Writes an executable shell script `name` in `dir`.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p
}

/// `mosx show`'s job lines of the stage named `name` (found through `mosx ls`).
pub fn jobs_of(dir: &Path, store: &[&str], name: &str) -> Vec<String> {
    let mut args = vec!["ls"];
    args.extend_from_slice(store);
    let (ls, _) = text(&mosx(dir, &args));
    let key = ls
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some(name))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{name} not in:\n{ls}"))
        .to_string();
    let mut args = vec!["show", key.as_str()];
    args.extend_from_slice(store);
    let o = mosx(dir, &args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<String> = out
        .lines()
        .skip_while(|l| *l != "jobs")
        .skip(1)
        .map(str::to_string)
        .collect();
    assert!(!lines.is_empty(), "no jobs listed for {name}:\n{out}");
    lines
}

/// The stored metrics of the stage `key` (`mosx export KEY --metrics`, JSON lines).
pub fn exported_metrics(dir: &Path, store: &[&str], key: &str) -> String {
    let mut args = vec!["export", key, "--metrics", "--format", "jsonl"];
    args.extend_from_slice(store);
    let o = mosx(dir, &args);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    out
}

/// `(key, name)` of the stages `mosx ls` lists as ok in the `store`: `n` of them.
pub fn ok_stages(dir: &Path, store: &[&str], n: usize) -> Vec<(String, String)> {
    let mut args = vec!["ls"];
    args.extend_from_slice(store);
    let (listing, _) = text(&mosx(dir, &args));
    let keys: Vec<(String, String)> = listing
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 3 && f[1] == "ok").then(|| (f[0].to_string(), f[3].to_string()))
        })
        .collect();
    assert_eq!(keys.len(), n, "{listing}");
    keys
}

/// Identical metrics, stage by stage, in the `local` store (`n` stages) and the `other`.
pub fn assert_metrics_agree(dir: &Path, local: &[&str], other: &[&str], n: usize) {
    for (key, name) in &ok_stages(dir, local, n) {
        let a = exported_metrics(dir, local, key);
        let b = exported_metrics(dir, other, key);
        assert_eq!(a, b, "{name}: local and Slurm results differ");
        if name == "ml_metrics" {
            assert!(a.contains("\"auc\""), "{a}");
        }
    }
}

/// A `mosx run` through Slurm that lost a node under `stage`: it succeeded with all
/// `stages` executed, and said that `stage`'s job ended NODE_FAIL and was resubmitted.
pub fn assert_ran_through_a_node_failure(o: &Output, stages: usize, stage: &str) {
    let (out, err) = text(o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "{stages} stages: 0 cached, {stages} executed, 0 failed"
        )),
        "{out}\n{err}"
    );
    assert!(
        err.contains(&format!("{stage}: job "))
            && err.contains("ended NODE_FAIL; resubmitted as job"),
        "{err}"
    );
}

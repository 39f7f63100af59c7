//! The backend-neutral half of `fsck`: given every stage's JSON columns, every artifact row,
//! orphan rows and dead runs (read by the backend), re-hash every object file and inline blob in
//! full (the stat memo is not consulted) and describe each problem.
//!
//! Invariant: a stage with any bad artifact is listed in [`Audit::bad`] with the object path
//! whose memo must go too, so a repair drops it whole (a miss, never a wrong hit).

use std::fs;
use std::path::Path;

use crate::objects::{check_file, hash_bytes, Fault};
use crate::{FsckProblem, FsckReport};

/// An artifact row as fsck reads it (a damaged row may hold anything in `inline`).
pub(crate) struct ArtRow {
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) size: i64,
    pub(crate) hash: String,
    pub(crate) inline: Option<Vec<u8>>,
    pub(crate) path: Option<String>,
}

/// What the backend read for fsck.
pub(crate) struct AuditInput {
    /// (key, params, parts) of every stage row.
    pub(crate) stages: Vec<(String, String, String)>,
    pub(crate) arts: Vec<ArtRow>,
    /// (table, key, name) of artifact/metric rows without a stage row.
    pub(crate) orphans: Vec<(String, String, String)>,
    /// `running` runs whose process (SQLite) or database session (PostgreSQL) is gone.
    pub(crate) dead_runs: Vec<i64>,
}

/// The findings: the report and the stages to drop on repair.
pub(crate) struct Audit {
    pub(crate) report: FsckReport,
    /// (key, object path of the bad artifact if it is a file) of every damaged stage.
    pub(crate) bad: Vec<(String, Option<String>)>,
}

fn short(h: &str) -> &str {
    &h[..12.min(h.len())]
}

/// Check one artifact row against its bytes; None if it is sound.
fn artifact_problem(objects: &Path, a: &ArtRow, report: &mut FsckReport) -> Option<String> {
    match (&a.inline, &a.path) {
        (Some(bytes), None) => {
            report.inline_checked += 1;
            report.bytes_hashed += bytes.len() as u64;
            let h = hash_bytes(bytes);
            (bytes.len() as i64 != a.size || h != a.hash).then(|| {
                format!(
                    "inline artifact `{}`: {} bytes with blake3 {}, the row says {} bytes with {}",
                    a.name,
                    bytes.len(),
                    short(&h),
                    a.size,
                    short(&a.hash)
                )
            })
        }
        (None, Some(path)) => {
            report.objects_checked += 1;
            let full = objects.join(path);
            report.bytes_hashed += fs::metadata(&full).map(|m| m.len()).unwrap_or(0);
            match check_file(&full, a.size.max(0) as u64, &a.hash, None) {
                Ok(_) => None,
                Err(Fault::Missing) => Some(format!(
                    "artifact `{}`: object {} is missing",
                    a.name,
                    full.display()
                )),
                Err(Fault::Mismatch(m)) => Some(format!(
                    "artifact `{}`: object {} does not match its row ({m}; the row says {} bytes with blake3 {})",
                    a.name,
                    full.display(),
                    a.size,
                    short(&a.hash)
                )),
            }
        }
        _ => Some(format!(
            "artifact `{}`: a row with neither inline bytes nor a path, or both",
            a.name
        )),
    }
}

/// Audit what the backend read; `repair` only sets the problems' `repaired` flag (the backend
/// does the repair).
pub(crate) fn audit(objects: &Path, input: &AuditInput, repair: bool) -> Audit {
    let mut report = FsckReport {
        stages: input.stages.len(),
        ..FsckReport::default()
    };
    for (key, p, parts) in &input.stages {
        for (col, text) in [("params", p), ("parts", parts)] {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
                report.problems.push(FsckProblem {
                    key: Some(key.clone()),
                    what: format!("stages.{col} is not valid JSON: {e}"),
                    repaired: false,
                });
            }
        }
    }
    let mut bad = Vec::new();
    for a in &input.arts {
        if let Some(what) = artifact_problem(objects, a, &mut report) {
            report.problems.push(FsckProblem {
                key: Some(a.key.clone()),
                what,
                repaired: repair,
            });
            bad.push((a.key.clone(), a.path.clone()));
        }
    }
    for (table, key, name) in &input.orphans {
        report.problems.push(FsckProblem {
            key: Some(key.clone()),
            what: format!("{table} row `{name}` has no stage row"),
            repaired: repair,
        });
    }
    for run in &input.dead_runs {
        report.problems.push(FsckProblem {
            key: None,
            what: format!("run {run} is marked running but its process is gone"),
            repaired: repair,
        });
    }
    Audit { report, bad }
}

//! Plain data exchanged through the [`crate::Store`] trait.
//!
//! Times are seconds since the Unix epoch as `f64`; keys are the caller's content keys; JSON
//! values are stored verbatim (serialized text) and returned as parsed `serde_json::Value`.

use std::fmt;

/// Row id of a run in the `runs` table.
pub type RunId = i64;

/// Provenance of one `mosx` invocation, recorded by [`crate::Store::begin_run`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    pub spec_path: String,
    pub spec_hash: String,
    pub argv: String,
    pub mosx_version: String,
    pub git_commit: Option<String>,
    pub git_dirty: bool,
    pub host: String,
    pub device: String,
    pub pid: u32,
}

/// The stored description of one successfully computed stage.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StageRecord {
    pub key: String,
    pub kind: String,
    pub name: String,
    pub params: serde_json::Value,
    pub parts: serde_json::Value,
    pub started_at: f64,
    pub finished_at: f64,
    pub duration_ms: i64,
    pub run_id: RunId,
    pub mosx_version: String,
    pub git_commit: Option<String>,
    pub git_dirty: bool,
    pub host: String,
    pub device: String,
    pub seed: Option<i64>,
    pub spec_hash: String,
}

/// One cluster job that ran (or was to run) a stage: the stage's `attempt`-th job of run
/// `run_id`, recorded by the executor that submitted it ([`crate::Store::record_attempt`]) as
/// it learns more (submitted, started, ended). Times are Unix seconds as the cluster reported
/// them; `state` is the cluster's word for the job's state (`NODE_FAIL`, `COMPLETED`, …).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JobAttempt {
    pub key: String,
    pub run_id: RunId,
    /// 1 for the stage's first job in the run, then 2, 3, …
    pub attempt: u32,
    /// The cluster's job id.
    pub job_id: String,
    pub state: String,
    /// The node it ran on, once known.
    pub node: Option<String>,
    pub submitted_at: f64,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    /// The memory the job asked for, in mebibytes (`None`: the cluster's default).
    pub mem_mib: Option<u64>,
    /// What became of it: why it was resubmitted, or why not.
    pub note: Option<String>,
}

/// A named output of a stage, handed to [`crate::Store::commit`].
#[derive(Debug, Clone)]
pub struct Artifact {
    pub name: String,
    pub format: String,
    pub bytes: Vec<u8>,
}

/// What the store knows about one artifact without loading its bytes.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArtifactMeta {
    pub name: String,
    pub format: String,
    pub size: u64,
    /// blake3 hex of the bytes.
    pub hash: String,
    /// `"inline"` or the object path relative to the objects dir (`<key>/<name>`).
    pub location: String,
}

/// Answer of [`crate::Store::check`].
#[derive(Debug, Clone, PartialEq)]
pub enum CacheCheck {
    Hit,
    Miss(MissReason),
}

impl CacheCheck {
    pub fn is_hit(&self) -> bool {
        matches!(self, CacheCheck::Hit)
    }
}

/// Why a key is not a usable cache entry.
#[derive(Debug, Clone, PartialEq)]
pub enum MissReason {
    /// No stage row for the key.
    NotFound,
    /// The stage row exists but the object file of `artifact` is gone.
    ObjectMissing { artifact: String },
    /// The object file of `artifact` exists but its size or blake3 hash differ from the row.
    ObjectMismatch { artifact: String },
}

impl fmt::Display for MissReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MissReason::NotFound => write!(f, "no stored result for this key"),
            MissReason::ObjectMissing { artifact } => {
                write!(f, "object file of artifact '{artifact}' is missing")
            }
            MissReason::ObjectMismatch { artifact } => write!(
                f,
                "object file of artifact '{artifact}' does not match its recorded size/blake3 hash"
            ),
        }
    }
}

/// Answer of [`crate::Store::acquire`].
#[derive(Debug, Clone, PartialEq)]
pub enum Lease {
    /// The caller now owns the key and must `commit` or `record_failure` + `release`.
    Acquired,
    /// A valid result is already stored.
    Done,
    /// A live holder is computing it; wait and poll `acquire` again.
    Busy {
        run_id: RunId,
        pid: u32,
        host: String,
    },
}

/// One line of `mosx ls`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageSummary {
    pub key: String,
    pub kind: String,
    pub name: String,
    /// `"ok"` or `"failed"`.
    pub status: String,
    pub finished_at: f64,
    pub duration_ms: i64,
    pub error: Option<String>,
}

/// What [`crate::Store::gc`] removed (or would remove, with `dry_run`).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct GcReport {
    pub files_removed: usize,
    pub bytes_removed: u64,
    pub leases_cleared: usize,
}

/// What [`crate::Store::recover`] did after a crash.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RecoverReport {
    /// `running` runs of dead processes (this host) now marked `interrupted`.
    pub runs_interrupted: usize,
    /// Temp object files of dead writers (this host) removed.
    pub temp_files_removed: usize,
    pub temp_bytes_removed: u64,
}

/// One problem [`crate::Store::fsck`] found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FsckProblem {
    /// The stage key concerned, if any.
    pub key: Option<String>,
    pub what: String,
    /// Whether `--repair` fixed it (the stage was dropped, so it is now a cache miss).
    pub repaired: bool,
}

/// What [`crate::Store::fsck`] checked and found.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FsckReport {
    pub stages: usize,
    /// File objects re-hashed in full.
    pub objects_checked: usize,
    /// Inline artifacts re-hashed.
    pub inline_checked: usize,
    pub bytes_hashed: u64,
    pub problems: Vec<FsckProblem>,
}

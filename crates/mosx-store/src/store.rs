//! The backend-neutral [`Store`] trait, implemented by [`crate::SqliteStore`] and
//! [`crate::PgStore`]. It is object safe (`Arc<dyn Store>` is what [`crate::open`] returns) and
//! every method may be called from several threads at once.
//!
//! Liveness of a lease holder or a run is the backend's: SQLite judges a pid on this host (and a
//! heartbeat younger than 60 s from another host); PostgreSQL judges whether the holder's
//! database session still holds its advisory lock, on any host.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::{
    Artifact, ArtifactMeta, CacheCheck, FsckReport, GcReport, JobAttempt, Lease, RecoverReport,
    RunId, RunInfo, StageRecord, StageSummary, StoreError,
};

pub trait Store: Send + Sync {
    /// Insert a `runs` row (status `running`) and return its id.
    fn begin_run(&self, info: &RunInfo) -> Result<RunId, StoreError>;
    /// Set the run's status, finish time and summary JSON.
    fn end_run(
        &self,
        run: RunId,
        status: &str,
        summary: &serde_json::Value,
    ) -> Result<(), StoreError>;
    /// Whether `key` holds a usable result. Object files are checked for presence, size and
    /// blake3 hash; problems are reported as a miss, never as an error.
    fn check(&self, key: &str) -> Result<CacheCheck, StoreError>;
    /// Batched check for many keys in one query; every input key is in the answer.
    fn check_many(&self, keys: &[String]) -> Result<HashMap<String, CacheCheck>, StoreError>;
    /// Try to become the one computing `key`: Done if a valid result is stored, Busy if a live
    /// holder has the lease, else Acquired (taking over a dead holder's lease, and replacing a
    /// stage row whose object files are missing or corrupt). Acquired also opens an
    /// `executions` row with status `running`.
    fn acquire(&self, key: &str, run: RunId) -> Result<Lease, StoreError>;
    /// [`Store::acquire`] for a forced rerun (`--force`): a stored result does not make it
    /// Done (Busy or Acquired only); the stored result stays valid until
    /// [`Store::commit_replacing`] replaces it.
    fn acquire_replacing(&self, key: &str, run: RunId) -> Result<Lease, StoreError>;
    /// Refresh the heartbeat of `run`'s lease on `key`. A no-op if the lease is gone (committed
    /// or released); an error if another run took it over. (PostgreSQL: also notices a lost
    /// database session and takes the lease's lock again if nobody took the key meanwhile.)
    fn heartbeat(&self, key: &str, run: RunId) -> Result<(), StoreError>;
    /// Drop `run`'s lease on `key` (idempotent). A still-running execution row of this run is
    /// marked failed ("released before completion").
    fn release(&self, key: &str, run: RunId) -> Result<(), StoreError>;
    /// Store a computed stage: object files first, then one transaction with the stage row,
    /// artifact rows, metric rows, the finished execution row and the lease deletion. If a
    /// valid stage row already exists (another holder won a race) the new data is discarded.
    fn commit(
        &self,
        rec: &StageRecord,
        artifacts: &[Artifact],
        metrics: &[(String, f64)],
    ) -> Result<(), StoreError>;
    /// [`Store::commit`] for a forced rerun: a stored row of the key (and its artifact and
    /// metric rows) is replaced by this one in the same transaction, so the old result stays
    /// valid until the new one is committed (a forced run killed before that leaves it).
    fn commit_replacing(
        &self,
        rec: &StageRecord,
        artifacts: &[Artifact],
        metrics: &[(String, f64)],
    ) -> Result<(), StoreError>;
    /// Mark `run`'s execution of `key` failed with `error` (and drop its lease).
    fn record_failure(
        &self,
        key: &str,
        name: &str,
        kind: &str,
        run: RunId,
        error: &str,
    ) -> Result<(), StoreError>;
    fn record(&self, key: &str) -> Result<Option<StageRecord>, StoreError>;
    /// The scratch folder of a running stage (`<objects>/.work/<key>`), e.g. for a
    /// training's per-epoch checkpoints. It is not created here; `commit` removes it
    /// after the row is committed, and `gc` removes those whose stage holds no live lease.
    fn work_dir(&self, key: &str) -> Result<PathBuf, StoreError>;
    /// Bytes of an artifact; object files are verified against their size and hash.
    fn artifact(&self, key: &str, name: &str) -> Result<Vec<u8>, StoreError>;
    /// Absolute path of a file object, None if the artifact is inline.
    fn artifact_path(&self, key: &str, name: &str) -> Result<Option<PathBuf>, StoreError>;
    fn artifacts(&self, key: &str) -> Result<Vec<ArtifactMeta>, StoreError>;
    /// Metrics of a stage, sorted by name; NaN round-trips.
    fn metrics(&self, key: &str) -> Result<Vec<(String, f64)>, StoreError>;
    /// Keys starting with `prefix` among stored stages and executed (e.g. failed) keys, sorted.
    fn find_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
    /// Stored stages (status ok) and failed keys, optionally of one kind, sorted by finish time.
    /// Failed = keys whose latest execution failed and that have no stage row.
    fn list(&self, kind: Option<&str>, failed_only: bool) -> Result<Vec<StageSummary>, StoreError>;
    /// Record a cluster job of a stage, or update the one of the same (key, run, attempt):
    /// every field is overwritten by the newer knowledge.
    fn record_attempt(&self, attempt: &JobAttempt) -> Result<(), StoreError>;
    /// The recorded cluster jobs of `key`, by run, then attempt.
    fn attempts(&self, key: &str) -> Result<Vec<JobAttempt>, StoreError>;
    /// Number of completed (`ok`) executions of `key`.
    fn executions(&self, key: &str) -> Result<usize, StoreError>;
    fn lineage_get(
        &self,
        scope: &str,
        node: &str,
    ) -> Result<Option<(String, serde_json::Value)>, StoreError>;
    fn lineage_put(
        &self,
        scope: &str,
        node: &str,
        key: &str,
        parts: &serde_json::Value,
    ) -> Result<(), StoreError>;
    /// Record many lineage entries `(node, key, parts)` of one scope in one transaction.
    fn lineage_put_many(
        &self,
        scope: &str,
        entries: &[(String, String, serde_json::Value)],
    ) -> Result<(), StoreError>;
    /// Drop the stored result of `key` (its row, artifacts and metrics), e.g. for `--force`.
    /// Object files stay until `gc`. Returns whether a row existed.
    fn invalidate(&self, key: &str) -> Result<bool, StoreError>;
    /// Remove object files/dirs no artifact row refers to, stale temp files, and leases of dead
    /// holders. With `dry_run`, only count.
    fn gc(&self, dry_run: bool) -> Result<GcReport, StoreError>;
    /// After a crash: mark `running` runs of dead processes `interrupted` (their dead leases
    /// dropped, running executions failed) and remove this host's dead writers' temp objects.
    /// SQLite judges runs of this host by pid; PostgreSQL judges runs of any host by their
    /// session lock, and keeps the leases and executions a live session still holds.
    /// Scratch folders (`work_dir`) stay for the stage to resume from.
    fn recover(&self) -> Result<RecoverReport, StoreError>;
    /// Re-hash every object and inline artifact in full (no memo), check every row's JSON,
    /// orphan rows, dead runs and the database's own consistency (SQLite's integrity check;
    /// PostgreSQL's applied migrations against this build's). With `repair`, damaged stages are dropped
    /// (a miss, never a wrong hit), orphan rows deleted and dead runs recovered.
    fn fsck(&self, repair: bool) -> Result<FsckReport, StoreError>;
    /// Make the database's own file complete: SQLite folds its write-ahead log into the file
    /// (`wal_checkpoint(TRUNCATE)`, so the file alone is the whole store; a reader in the middle
    /// of a transaction elsewhere makes it partial, not an error); PostgreSQL has nothing to
    /// do. A read-only store does nothing. Called at the end of every command that wrote.
    fn checkpoint(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

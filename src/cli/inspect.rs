//! `mosx ls`, `mosx show`, `mosx gc`: look into the store.
//!
//! Invariant: every name and value read from the store is printed through
//! `mosx_spec::printable`, so a row written by an older mosx (or by hand) holding control or
//! bidirectional characters cannot forge or reorder lines of the output.

use std::io::Write;

use mosx_spec::printable as p;

use super::common::{self, StoreArgs, UsageError};
use super::EXIT_OK;

#[derive(clap::Args)]
#[command(
    about = "List cached stages (or failed ones)",
    after_help = "Examples:\n  mosx ls\n  mosx ls --kind measure\n  mosx ls --failed"
)]
pub struct LsArgs {
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long)]
    pub failed: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args)]
#[command(
    about = "Show one stage: params, fingerprint, provenance, metrics, artifacts, cluster jobs",
    after_help = "Example:\n  mosx show 3fa9c2"
)]
pub struct ShowArgs {
    pub key_prefix: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args)]
#[command(
    about = "Remove object files no stage row refers to, and stale leases",
    after_help = "Example:\n  mosx gc --dry-run"
)]
pub struct GcArgs {
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

fn when(t: f64) -> String {
    let secs = t as i64;
    let (d, r) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = d + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        r / 3600,
        r % 3600 / 60,
        r % 60
    )
}

pub fn ls(a: LsArgs) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    let Some(store) = common::existing_store(&a.store)? else {
        writeln!(out, "(no store at {})", common::location(&a.store)?)?;
        return Ok(EXIT_OK);
    };
    let rows = store.list(a.kind.as_deref(), a.failed)?;
    for r in &rows {
        let tail = match &r.error {
            Some(e) => format!("  {}", p(e)),
            None => format!("{:>9.2}s", r.duration_ms as f64 / 1000.0),
        };
        writeln!(
            out,
            "{}  {:<6} {:<8} {:<40} {}  {}",
            p(r.key.get(..12).unwrap_or(&r.key)),
            p(&r.status),
            p(&r.kind),
            p(&r.name),
            when(r.finished_at),
            tail
        )?;
    }
    writeln!(out, "{} stage(s)", rows.len())?;
    Ok(EXIT_OK)
}

pub fn show(a: ShowArgs) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    let location = common::location(&a.store)?;
    let store = common::existing_store(&a.store)?
        .ok_or_else(|| UsageError(format!("no store at {location}")))?;
    let key = common::resolve_key(&*store, &a.key_prefix)?;
    let rec = store
        .record(&key)?
        .ok_or_else(|| UsageError(format!("stage {key} has no result row")))?;
    writeln!(out, "key        {}", p(&rec.key))?;
    writeln!(out, "name       {}", p(&rec.name))?;
    writeln!(out, "kind       {}", p(&rec.kind))?;
    writeln!(
        out,
        "params     {}",
        p(&serde_json::to_string(&rec.params)?)
    )?;
    // Pretty JSON's own newlines are layout; the strings inside it are escaped by serde_json
    // (C0 controls) and by `printable` line by line (the rest).
    let parts = serde_json::to_string_pretty(&rec.parts)?;
    let parts: Vec<String> = parts.lines().map(|l| p(l).into_owned()).collect();
    writeln!(out, "fingerprint {}", parts.join("\n"))?;
    writeln!(
        out,
        "finished   {} ({} ms, run {})",
        when(rec.finished_at),
        rec.duration_ms,
        rec.run_id
    )?;
    writeln!(
        out,
        "provenance mosx {} commit {}{} host {} device {} seed {} spec {}",
        p(&rec.mosx_version),
        p(rec.git_commit.as_deref().unwrap_or("-")),
        if rec.git_dirty { " (dirty)" } else { "" },
        p(&rec.host),
        p(&rec.device),
        rec.seed
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into()),
        p(rec.spec_hash.get(..12).unwrap_or(&rec.spec_hash))
    )?;
    writeln!(out, "metrics")?;
    for (k, v) in store.metrics(&key)? {
        writeln!(out, "  {:<32} {}", p(&k), mosx_fairness::fmt_metric(v, 4))?;
    }
    writeln!(out, "artifacts")?;
    for m in store.artifacts(&key)? {
        writeln!(
            out,
            "  {:<16} {:<22} {:>10} B  {}  {}",
            p(&m.name),
            p(&m.format),
            m.size,
            p(m.hash.get(..12).unwrap_or(&m.hash)),
            p(&m.location)
        )?;
    }
    write_attempts(&mut out, &store.attempts(&key)?)?;
    Ok(EXIT_OK)
}

/// The cluster jobs of a stage (`--executor slurm`), one line each: run and attempt, job id,
/// state, node, start and end, memory asked, and what became of it.
fn write_attempts(
    out: &mut impl Write,
    attempts: &[mosx_store::JobAttempt],
) -> std::io::Result<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    writeln!(out, "jobs")?;
    let time = |t: Option<f64>| t.map_or_else(|| "-".to_string(), when);
    for a in attempts {
        writeln!(
            out,
            "  run {} attempt {}  job {:<8} {:<24} node {:<10} {} .. {}  mem {}{}",
            a.run_id,
            a.attempt,
            p(&a.job_id),
            p(&a.state),
            p(a.node.as_deref().unwrap_or("-")),
            time(a.started_at),
            time(a.finished_at),
            a.mem_mib
                .map_or_else(|| "default".to_string(), |m| format!("{m}M")),
            a.note
                .as_deref()
                .map(|n| format!("  ({})", p(n)))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

pub fn gc(a: GcArgs) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    let Some(store) = common::existing_store_rw(&a.store)? else {
        writeln!(out, "(no store at {})", common::location(&a.store)?)?;
        return Ok(EXIT_OK);
    };
    let r = store.gc(a.dry_run)?;
    store.checkpoint()?;
    writeln!(
        out,
        "{}{} file(s), {} bytes; {} stale lease(s)",
        if a.dry_run {
            "would remove "
        } else {
            "removed "
        },
        r.files_removed,
        r.bytes_removed,
        r.leases_cleared
    )?;
    Ok(EXIT_OK)
}

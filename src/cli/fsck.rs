//! `mosx fsck [--repair]`: re-hash every object and check every row, trusting no memo.

use std::io::Write;

use super::common::{self, StoreArgs};
use super::{EXIT_FAILED, EXIT_OK};

#[derive(clap::Args)]
#[command(
    about = "Check the store: re-hash every object and inline artifact, check every row",
    after_help = "Examples:\n  mosx fsck\n  mosx fsck --repair\n\nThe cache check trusts an object whose size and mtime are unchanged (as git's index does);\nfsck reads everything. With --repair a damaged stage is dropped, so it is recomputed on the\nnext run (a miss, never a wrong hit). Exits 1 if a problem is left unrepaired."
)]
pub struct FsckArgs {
    /// Drop damaged stages and orphan rows, and mark dead runs interrupted.
    #[arg(long)]
    pub repair: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn run(a: FsckArgs) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    let Some(store) = common::existing_store_rw(&a.store)? else {
        writeln!(out, "(no store at {})", common::location(&a.store)?)?;
        return Ok(EXIT_OK);
    };
    let r = store.fsck(a.repair)?;
    store.checkpoint()?;
    for p in &r.problems {
        // Keys and problems come from the store: printed escaped (see `inspect`).
        let key = p
            .key
            .as_deref()
            .map(|k| k.get(..12).unwrap_or(k))
            .unwrap_or("-");
        writeln!(
            out,
            "{}  {}  {}",
            if p.repaired { "repaired" } else { "problem " },
            mosx_spec::printable(key),
            mosx_spec::printable(&p.what)
        )?;
    }
    writeln!(
        out,
        "{} stage(s), {} object(s) and {} inline artifact(s) re-hashed ({} bytes): {} problem(s){}",
        r.stages,
        r.objects_checked,
        r.inline_checked,
        r.bytes_hashed,
        r.problems.len(),
        if a.repair && !r.problems.is_empty() {
            ", repaired"
        } else {
            ""
        }
    )?;
    Ok(if r.problems.iter().all(|p| p.repaired) {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

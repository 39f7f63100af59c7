//! Object files: artifacts larger than [`INLINE_MAX`] bytes live at `<objects>/<key>/<name>`.
//!
//! Invariants:
//! - an object is first written to a temp file `.tmp.<host>.<pid>.<nonce>` in its final
//!   directory, fsynced, and only renamed into place (then the directory fsynced) while the
//!   caller holds the database write lock, just before the rows referring to it are committed;
//! - keys and artifact names are validated so an object path can never leave `<objects>/<key>/`;
//! - verification never fails with an I/O error: it answers Ok or a [`Fault`] (Missing / Mismatch);
//! - an installed object's mtime is set [`BACKDATE_NS`] in the past before it is fsynced, so any
//!   later rewrite through the filesystem gives it a different mtime (see [`Memo`]).
//!
//! Verification memo (like git's index): after an object has been fully hashed, its
//! [`ObjectStat`] (size, mtime in ns, inode, device) and hash are recorded in the `object_stat`
//! table. A later check that finds the same stat and the same hash as the artifact row trusts
//! the file without reading it. Any rewrite through the filesystem changes the inode (rename,
//! copy) or the mtime (in-place write), so it is caught and the file is hashed again. A memo is
//! only trusted when the file's mtime is at least [`RACY_WINDOW_NS`] older than the moment its
//! stat was taken ("racily clean" entries in git's terms): a rewrite within the same timestamp
//! tick could otherwise keep the mtime. Not caught by the memo: a byte flipped in place without
//! changing the mtime (disk rot, a writer that restores the mtime); such a file is caught when
//! the artifact is read, since `read_verified` always hashes what it returns.

use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::liveness::now;

/// Artifacts of at most this many bytes are stored inline in the database.
pub const INLINE_MAX: usize = 256 * 1024;

/// Folder under the objects root holding running stages' scratch folders, one per key.
pub(crate) const WORK_DIR: &str = ".work";

/// Prefix of in-flight temp files.
pub(crate) const TEMP_PREFIX: &str = ".tmp.";

/// A key must be a safe single path component: 1..=128 of `[A-Za-z0-9_-]`.
pub(crate) fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("empty".into());
    }
    if key.len() > 128 {
        return Err(format!("{} characters, at most 128 allowed", key.len()));
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "character {c:?} not allowed (only A-Z a-z 0-9 - _)"
        ));
    }
    Ok(())
}

/// An artifact name is a relative path of `/`-separated components, none empty, `.`, `..`,
/// starting with the temp prefix, or containing `\` or NUL.
pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty".into());
    }
    if name.contains('\0') || name.contains('\\') {
        return Err("contains NUL or backslash".into());
    }
    for comp in name.split('/') {
        if comp.is_empty() || comp == "." || comp == ".." {
            return Err(format!("path component {comp:?} not allowed"));
        }
        if comp.starts_with(TEMP_PREFIX) {
            return Err(format!(
                "component {comp:?} uses the reserved prefix {TEMP_PREFIX:?}"
            ));
        }
    }
    Ok(())
}

/// Object path relative to the objects dir, as stored in `artifacts.path`.
pub(crate) fn rel_path(key: &str, name: &str) -> String {
    format!("{key}/{name}")
}

pub(crate) fn hash_bytes(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Bytes hashed so far by object verification (check and read paths), over the whole process.
static HASHED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Bytes of object files hashed by verification since the process started (for tests of the
/// verification memo).
#[doc(hidden)]
pub fn hashed_bytes() -> u64 {
    HASHED_BYTES.load(Ordering::Relaxed)
}

/// A memo is trusted only if the file's mtime is this much older than when its stat was taken:
/// covers the coarse kernel clock that stamps mtimes and filesystems with 1 s timestamps.
pub(crate) const RACY_WINDOW_NS: i64 = 2_000_000_000;

/// Installed objects get an mtime this far in the past, so the memo written at commit is
/// trusted at once (older than [`RACY_WINDOW_NS`]) and any later write sets a different mtime.
pub(crate) const BACKDATE_NS: i64 = 3_000_000_000;

/// What the memo compares: a file is assumed unchanged while these four values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ObjectStat {
    pub(crate) size: u64,
    pub(crate) mtime_ns: i64,
    pub(crate) ino: u64,
    pub(crate) dev: u64,
}

impl ObjectStat {
    pub(crate) fn of(meta: &Metadata) -> ObjectStat {
        ObjectStat {
            size: meta.len(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }
}

/// A row of `object_stat`: the stat of an object when it last hashed to `hash`, taken at
/// `verified_at` (seconds since the epoch, read before the stat).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Memo {
    pub(crate) stat: ObjectStat,
    pub(crate) hash: String,
    pub(crate) verified_at: f64,
}

impl Memo {
    /// True when the memo is old enough that a rewrite after it would have changed the mtime.
    pub(crate) fn settled(&self) -> bool {
        let at_ns = (self.verified_at * 1e9) as i64;
        self.stat.mtime_ns.saturating_add(RACY_WINDOW_NS) <= at_ns
    }

    /// Whether a file with `stat` may be taken to hold the bytes hashing to `hash` unread.
    pub(crate) fn vouches_for(&self, stat: &ObjectStat, hash: &str) -> bool {
        self.stat == *stat && self.hash == hash && self.settled()
    }
}

/// Why an object file does not match its row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fault {
    Missing,
    /// What was found instead (human-readable).
    Mismatch(String),
}

/// How a file was found to match its row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verified {
    /// The memo vouched for it; the file was not read.
    Trusted,
    /// The file was hashed; the memo to record, unless the file changed while it was read.
    Hashed(Option<Memo>),
}

/// Compare the file at `path` with `size` bytes and blake3 `hash`, trusting `memo` when its stat
/// still matches. Size is checked first so a truncated file is rejected without hashing.
pub(crate) fn check_file(
    path: &Path,
    size: u64,
    hash: &str,
    memo: Option<&Memo>,
) -> Result<Verified, Fault> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Fault::Missing),
        Err(e) => return Err(Fault::Mismatch(format!("unreadable: {e}"))),
    };
    if !meta.is_file() {
        return Err(Fault::Mismatch("not a regular file".into()));
    }
    if meta.len() != size {
        return Err(Fault::Mismatch(format!("{} bytes", meta.len())));
    }
    if memo.is_some_and(|m| m.vouches_for(&ObjectStat::of(&meta), hash)) {
        return Ok(Verified::Trusted);
    }
    let io_fault = |e: io::Error| {
        if e.kind() == io::ErrorKind::NotFound {
            Fault::Missing
        } else {
            Fault::Mismatch(format!("unreadable: {e}"))
        }
    };
    let verified_at = now();
    let mut file = File::open(path).map_err(io_fault)?;
    // Stats of the open file before and after hashing: the memo describes what was hashed.
    let before = file
        .metadata()
        .map(|m| ObjectStat::of(&m))
        .map_err(io_fault)?;
    if before.size != size {
        return Err(Fault::Mismatch(format!("{} bytes", before.size)));
    }
    let h = hash_reader(&mut file).map_err(io_fault)?;
    if h != hash {
        return Err(Fault::Mismatch(format!("blake3 {h}")));
    }
    let after = file
        .metadata()
        .map(|m| ObjectStat::of(&m))
        .map_err(io_fault)?;
    Ok(Verified::Hashed((before == after).then_some(Memo {
        stat: before,
        hash: h,
        verified_at,
    })))
}

/// [`check_file`] without a memo: always hashes.
#[cfg(test)]
pub(crate) fn verify_file(path: &Path, size: u64, hash: &str) -> Result<(), Fault> {
    check_file(path, size, hash, None).map(|_| ())
}

/// Verify and read a whole object file.
pub(crate) fn read_verified(path: &Path, size: u64, hash: &str) -> Result<Vec<u8>, Fault> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Fault::Missing),
        Err(e) => return Err(Fault::Mismatch(format!("unreadable: {e}"))),
    };
    if bytes.len() as u64 != size {
        return Err(Fault::Mismatch(format!("{} bytes", bytes.len())));
    }
    HASHED_BYTES.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    let h = hash_bytes(&bytes);
    if h != hash {
        return Err(Fault::Mismatch(format!("blake3 {h}")));
    }
    Ok(bytes)
}

fn hash_reader(file: &mut impl Read) -> io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        HASHED_BYTES.fetch_add(n as u64, Ordering::Relaxed);
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// Host name reduced to `[A-Za-z0-9-]` so it can be embedded in a temp file name.
pub(crate) fn host_tag(host: &str) -> String {
    let t: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if t.is_empty() {
        "host".into()
    } else {
        t
    }
}

/// `(host_tag, pid)` of a temp file name, or None if the name is not one.
pub(crate) fn parse_temp_name(file_name: &str) -> Option<(String, u32)> {
    let rest = file_name.strip_prefix(TEMP_PREFIX)?;
    let mut it = rest.splitn(3, '.');
    let host = it.next()?.to_string();
    let pid = it.next()?.parse().ok()?;
    it.next()?;
    Some((host, pid))
}

static NONCE: AtomicU64 = AtomicU64::new(0);

/// A fully written, fsynced temp file waiting to be renamed onto its final path. Dropping it
/// without [`TempObject::install`] removes the temp file.
#[derive(Debug)]
pub(crate) struct TempObject {
    pub(crate) tmp: PathBuf,
    pub(crate) final_path: PathBuf,
    /// Stat of the written file (kept by the rename) and when it was taken.
    pub(crate) stat: ObjectStat,
    pub(crate) stat_at: f64,
    installed: bool,
}

impl TempObject {
    /// Write `bytes` to a temp file in the directory of `<objects>/<key>/<name>`, set its mtime
    /// [`BACKDATE_NS`] in the past, and fsync it.
    pub(crate) fn write(
        objects: &Path,
        key: &str,
        name: &str,
        bytes: &[u8],
        host: &str,
        pid: u32,
    ) -> io::Result<TempObject> {
        let final_path = objects.join(key).join(name);
        let dir = final_path.parent().unwrap_or(objects).to_path_buf();
        fs::create_dir_all(&dir)?;
        let nonce = NONCE.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = dir.join(format!(
            "{TEMP_PREFIX}{}.{pid}.{nonce}-{nanos}",
            host_tag(host)
        ));
        // Built before writing so that a failed write removes the partial temp file on drop.
        let mut obj = TempObject {
            tmp,
            final_path,
            stat: ObjectStat {
                size: 0,
                mtime_ns: 0,
                ino: 0,
                dev: 0,
            },
            stat_at: 0.0,
            installed: false,
        };
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&obj.tmp)?;
        f.write_all(bytes)?;
        let backdated = SystemTime::now()
            .checked_sub(Duration::from_nanos(BACKDATE_NS as u64))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        f.set_modified(backdated)?;
        f.sync_all()?;
        obj.stat_at = now();
        obj.stat = ObjectStat::of(&f.metadata()?);
        drop(f);
        Ok(obj)
    }

    /// Rename onto the final path and fsync the directory.
    pub(crate) fn install(&mut self) -> io::Result<()> {
        fs::rename(&self.tmp, &self.final_path)?;
        self.installed = true;
        if let Some(dir) = self.final_path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

impl Drop for TempObject {
    fn drop(&mut self) {
        if !self.installed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape_the_key_dir() {
        assert!(validate_name("model.safetensors").is_ok());
        assert!(validate_name("ckpt/step1.bin").is_ok());
        for bad in [
            "", "../x", "a/../b", "/abs", "a//b", ".", "a/.", ".tmp.x", "a\\b",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_key(&"a".repeat(64)).is_ok());
        for bad in ["", "a/b", "..", "a b", "k.1"] {
            assert!(validate_key(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn temp_names_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let t = TempObject::write(dir.path(), "k", "n", b"abc", "my.host_1", 4242).unwrap();
        let fname = t.tmp.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(
            parse_temp_name(&fname),
            Some(("my-host-1".to_string(), 4242))
        );
        assert!(t.tmp.exists());
        let tmp = t.tmp.clone();
        drop(t);
        assert!(
            !tmp.exists(),
            "uninstalled temp file must be removed on drop"
        );
        assert_eq!(parse_temp_name("model.bin"), None);
    }

    #[test]
    fn verify_detects_missing_truncated_and_flipped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data = vec![7u8; 1000];
        fs::write(&p, &data).unwrap();
        let h = hash_bytes(&data);
        assert_eq!(verify_file(&p, 1000, &h), Ok(()));
        let mut bad = data.clone();
        bad[10] = 8;
        fs::write(&p, &bad).unwrap();
        assert!(matches!(verify_file(&p, 1000, &h), Err(Fault::Mismatch(_))));
        fs::write(&p, &data[..999]).unwrap();
        assert_eq!(
            verify_file(&p, 1000, &h),
            Err(Fault::Mismatch("999 bytes".into()))
        );
        fs::remove_file(&p).unwrap();
        assert_eq!(verify_file(&p, 1000, &h), Err(Fault::Missing));
    }
}

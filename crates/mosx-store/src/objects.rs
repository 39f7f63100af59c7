//! Object files: artifacts larger than [`INLINE_MAX`] bytes live at `<objects>/<key>/<name>`.
//!
//! Invariants:
//! - an object is first written to a temp file `.tmp.<host>.<pid>.<nonce>` in its final
//!   directory, fsynced, and only renamed into place (then the directory fsynced) while the
//!   caller holds the database write lock, just before the rows referring to it are committed;
//! - keys and artifact names are validated so an object path can never leave `<objects>/<key>/`;
//! - verification never fails with an I/O error: it answers Ok or a [`Fault`] (Missing / Mismatch).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Artifacts of at most this many bytes are stored inline in the database.
pub const INLINE_MAX: usize = 256 * 1024;

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

/// Why an object file does not match its row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fault {
    Missing,
    /// What was found instead (human-readable).
    Mismatch(String),
}

/// Compare the file at `path` with `size` bytes and blake3 `hash`. Size is checked first so a
/// truncated file is rejected without hashing.
pub(crate) fn verify_file(path: &Path, size: u64, hash: &str) -> Result<(), Fault> {
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
    match hash_file(path) {
        Ok(h) if h == hash => Ok(()),
        Ok(h) => Err(Fault::Mismatch(format!("blake3 {h}"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Fault::Missing),
        Err(e) => Err(Fault::Mismatch(format!("unreadable: {e}"))),
    }
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
    let h = hash_bytes(&bytes);
    if h != hash {
        return Err(Fault::Mismatch(format!("blake3 {h}")));
    }
    Ok(bytes)
}

fn hash_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
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
    installed: bool,
}

impl TempObject {
    /// Write `bytes` to a temp file in the directory of `<objects>/<key>/<name>` and fsync it.
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
        let obj = TempObject {
            tmp,
            final_path,
            installed: false,
        };
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&obj.tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
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

//! Writing an output file (a report, a figure, an export): the one way mosx writes one.
//!
//! [`confine`] resolves where a path really leads before anything is written, and
//! [`OutputFile::create`] (or [`write`], its one-call form) writes there.
//!
//! Invariants:
//! * The output itself is never a symlink, dangling or not, nor a folder: an existing
//!   symlink at the path is refused, never written through.
//! * Every parent folder is resolved through its symlinks first; given a root (the project
//!   folder), the resolved file must lie inside the resolved root, else nothing is written.
//! * Missing parent folders are created one at a time inside the resolved existing ancestor,
//!   and each must then be a real folder (not a symlink someone put there meanwhile).
//! * Bytes go to a fresh temporary file in the resolved destination folder (created
//!   exclusively, so never through a link), which is then renamed over the destination: a
//!   reader sees the old file or the new one, never half of one, and a rename replaces a
//!   link rather than following it. A write that fails or is dropped removes its temporary.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why an output file was not written; each names the path as given.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output `{}` is a symlink; mosx never writes through one (remove it, or name the file it points to)", path.display())]
    Symlink { path: PathBuf },
    #[error("output `{}` is a folder; give a file path", path.display())]
    Folder { path: PathBuf },
    #[error("output `{}`: `{}` is a file, not a folder", path.display(), parent.display())]
    NotAFolder { path: PathBuf, parent: PathBuf },
    #[error("output `{}` is outside the project folder {} (it resolves to {}); pass --allow-outside-outputs to write there", path.display(), root.display(), resolved.display())]
    Outside {
        path: PathBuf,
        root: PathBuf,
        resolved: PathBuf,
    },
    #[error("cannot write `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where an output path really leads: its existing ancestor with symlinks resolved, the
/// folders still to create below it, and the file name.
#[derive(Debug, Clone)]
pub struct Confined {
    /// The path as given (for messages and `wrote …` lines).
    pub shown: PathBuf,
    base: PathBuf,
    missing: Vec<OsString>,
    name: OsString,
}

impl Confined {
    /// The file that will be written, symlinks of its parents resolved.
    pub fn resolved(&self) -> PathBuf {
        let mut p = self.base.clone();
        p.extend(&self.missing);
        p.push(&self.name);
        p
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Resolves `path` (see the module invariants) and, given `root`, checks that it stays
/// inside it. Reads the file system only.
pub fn confine(path: &Path, root: Option<&Path>) -> Result<Confined, OutputError> {
    let shown = path.to_path_buf();
    let abs = std::path::absolute(path).map_err(io(path))?;
    let name = match abs.components().next_back() {
        Some(Component::Normal(n)) if !path.as_os_str().to_string_lossy().ends_with('/') => {
            n.to_os_string()
        }
        _ => return Err(OutputError::Folder { path: shown }),
    };
    match std::fs::symlink_metadata(&abs) {
        Ok(m) if m.file_type().is_symlink() => return Err(OutputError::Symlink { path: shown }),
        Ok(m) if m.is_dir() => return Err(OutputError::Folder { path: shown }),
        _ => {}
    }
    let parent = abs.parent().unwrap_or(Path::new("/"));
    let (base, missing) = existing_ancestor(&shown, parent)?;
    let c = Confined {
        shown,
        base,
        missing,
        name,
    };
    if let Some(root) = root {
        let root = std::fs::canonicalize(root).map_err(io(root))?;
        let resolved = c.resolved();
        if !resolved.starts_with(&root) {
            return Err(OutputError::Outside {
                path: c.shown,
                root,
                resolved,
            });
        }
    }
    Ok(c)
}

/// The deepest existing ancestor of `parent`, canonicalised (a folder), and the names
/// below it that do not exist yet (none of them `..`).
fn existing_ancestor(shown: &Path, parent: &Path) -> Result<(PathBuf, Vec<OsString>), OutputError> {
    let mut at = parent.to_path_buf();
    let mut missing = Vec::new();
    loop {
        if std::fs::symlink_metadata(&at).is_ok() {
            let c = std::fs::canonicalize(&at).map_err(io(shown))?;
            if !c.is_dir() {
                return Err(OutputError::NotAFolder {
                    path: shown.into(),
                    parent: at,
                });
            }
            missing.reverse();
            return Ok((c, missing));
        }
        match at.components().next_back() {
            Some(Component::Normal(n)) => missing.push(n.to_os_string()),
            _ => {
                return Err(OutputError::Io {
                    path: shown.into(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("`{}` does not exist", at.display()),
                    ),
                })
            }
        }
        at.pop();
    }
}

/// An output being written: a temporary file beside the destination, renamed over it by
/// [`OutputFile::commit`]; dropped uncommitted, it is removed.
pub struct OutputFile {
    file: Option<BufWriter<File>>,
    tmp: PathBuf,
    dest: PathBuf,
    shown: PathBuf,
}

impl OutputFile {
    /// Creates the missing folders of `c` and the temporary file.
    pub fn create(c: &Confined) -> Result<OutputFile, OutputError> {
        let mut dir = c.base.clone();
        for m in &c.missing {
            dir.push(m);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(&c.shown)(e)),
            }
            let meta = std::fs::symlink_metadata(&dir).map_err(io(&c.shown))?;
            if !meta.is_dir() {
                return Err(OutputError::NotAFolder {
                    path: c.shown.clone(),
                    parent: dir,
                });
            }
        }
        static N: AtomicU64 = AtomicU64::new(0);
        let tmp = dir.join(format!(
            ".{}.{}-{}.mosx-tmp",
            c.name.to_string_lossy(),
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io(&c.shown))?;
        Ok(OutputFile {
            file: Some(BufWriter::new(file)),
            tmp,
            dest: dir.join(&c.name),
            shown: c.shown.clone(),
        })
    }

    /// Flushes the bytes and renames the temporary over the destination; returns the path
    /// as given.
    pub fn commit(mut self) -> Result<PathBuf, OutputError> {
        let file = self.file.take().expect("committed once");
        let file = file
            .into_inner()
            .map_err(|e| io(&self.shown)(e.into_error()))?;
        file.sync_all().map_err(io(&self.shown))?;
        drop(file);
        if let Ok(m) = std::fs::symlink_metadata(&self.dest) {
            if m.is_dir() {
                return Err(OutputError::Folder {
                    path: self.shown.clone(),
                });
            }
        }
        std::fs::rename(&self.tmp, &self.dest).map_err(io(&self.shown))?;
        Ok(std::mem::take(&mut self.shown))
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.as_mut().expect("not committed").write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().expect("not committed").flush()
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if self.file.is_some() || self.tmp.exists() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` (see the module invariants); `root`: the folder it must stay
/// inside, if any. Returns the path as given.
pub fn write(path: &Path, root: Option<&Path>, bytes: &[u8]) -> Result<PathBuf, OutputError> {
    let c = confine(path, root)?;
    let mut f = OutputFile::create(&c)?;
    f.write_all(bytes).map_err(io(path))?;
    f.commit()
}

#[cfg(test)]
#[path = "output_tests.rs"]
mod tests;

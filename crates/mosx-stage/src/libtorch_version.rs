//! The version of a libtorch folder, read without loading it. Shared by the build scripts
//! (included with `#[path]`): the root one puts it in the keys of device stages (`$LIBTORCH`),
//! the worker's records the one it links (`DEP_TCH_LIBTORCH_LIB`), which the worker checks
//! the keys it is sent against.

use std::path::{Path, PathBuf};

/// The version of the libtorch at `root` (a plain libtorch folder or the Python package's
/// `torch/`): its `build-version`, else `__version__` of its `version.py` (e.g.
/// `2.11.0+cpu`), with the file it was read from.
pub fn libtorch_version(root: &Path) -> Option<(String, PathBuf)> {
    let bv = root.join("build-version");
    if let Ok(v) = std::fs::read_to_string(&bv) {
        return Some((v.trim().to_string(), bv));
    }
    let vp = root.join("version.py");
    let text = std::fs::read_to_string(&vp).ok()?;
    text.lines().find_map(|line| {
        let v = line.strip_prefix("__version__ = ")?;
        Some((
            v.trim().trim_matches(|c| c == '\'' || c == '"').to_string(),
            vp.clone(),
        ))
    })
}

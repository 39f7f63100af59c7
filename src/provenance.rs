//! Provenance of a run: mosx version, the git commit it was built from (and
//! whether the tree was dirty), host name.

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit mosx was built from, recorded by build.rs (None outside a git checkout).
pub fn git_commit() -> Option<String> {
    option_env!("MOSX_GIT_COMMIT")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

pub fn git_dirty() -> bool {
    option_env!("MOSX_GIT_DIRTY") == Some("1")
}

pub fn host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

//! Host identity, wall clock and the SQLite backend's lease-holder liveness (the PostgreSQL
//! backend judges holders by their session lock instead, see `postgres/leases.rs`).
//!
//! A lease holder is alive when it is on this host and `kill(pid, 0)` succeeds (or fails with
//! EPERM: the process exists but belongs to someone else), or when it is on another host and its
//! heartbeat is younger than [`REMOTE_HEARTBEAT_TTL_S`]. A holder whose run has been ended
//! (`runs.finished_at` set) is dead whatever its pid says.

use std::time::{SystemTime, UNIX_EPOCH};

/// Age after which a lease held from another host is considered abandoned (SQLite backend).
pub const REMOTE_HEARTBEAT_TTL_S: f64 = 60.0;

/// Seconds since the Unix epoch.
pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// This machine's host name (`gethostname`), or `"unknown-host"` if it cannot be read.
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for buf.len() bytes; gethostname writes at most that many.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    if name.is_empty() {
        "unknown-host".to_string()
    } else {
        name
    }
}

/// Whether a process with this pid exists on this host.
pub(crate) fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence/permission check, it sends nothing.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    if rc == 0 {
        return true;
    }
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The lease-holder liveness rule (see the module note).
pub(crate) fn holder_alive(
    holder_host: &str,
    holder_pid: u32,
    heartbeat_at: f64,
    run_finished: bool,
    my_host: &str,
    now: f64,
) -> bool {
    if run_finished {
        return false;
    }
    if holder_host == my_host {
        pid_alive(holder_pid)
    } else {
        now - heartbeat_at < REMOTE_HEARTBEAT_TTL_S
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_pid_is_alive_and_reaped_child_is_not() {
        assert!(pid_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!pid_alive(pid));
        assert!(!pid_alive(0));
    }

    #[test]
    fn remote_holder_uses_heartbeat_age() {
        let t = 1000.0;
        assert!(holder_alive("other", 1, t - 10.0, false, "me", t));
        assert!(!holder_alive("other", 1, t - 61.0, false, "me", t));
        assert!(!holder_alive("other", 1, t, true, "me", t));
        assert!(holder_alive("me", std::process::id(), 0.0, false, "me", t));
        assert!(!holder_alive("me", std::process::id(), t, true, "me", t));
    }
}

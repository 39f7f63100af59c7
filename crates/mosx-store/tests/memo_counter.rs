//! The verification memo saves reading object files: measured with the process-wide
//! `hashed_bytes` counter, so the tests of this file (both backends) run one at a time and no
//! other test binary shares the counter. Whether a check wrote is `Fixture::write_count`.

#[macro_use]
mod common;

use std::fs;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use common::*;
use mosx_store::{hashed_bytes, CacheCheck, Lease, Store};

backend_tests!(
    checks_after_commit_read_no_object_and_write_nothing,
    lost_memos_are_rebuilt_once_in_one_write,
    a_recently_modified_file_is_hashed_until_its_mtime_settles,
);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn set_mtime(path: &std::path::Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn commit_three(s: &dyn Store) -> Vec<String> {
    let keys: Vec<String> = (0..3).map(key).collect();
    for (i, k) in keys.iter().enumerate() {
        s.commit(
            &rec(k, 1),
            &[
                art("ckpt", noise(BIG, i as u64)),
                art("small", vec![i as u8]),
            ],
            &[],
        )
        .unwrap();
    }
    keys
}

fn checks_after_commit_read_no_object_and_write_nothing(fx: &Fixture) {
    let _g = serial();
    let s = fx.open();
    let keys = commit_three(&*s);
    let v0 = fx.write_count();
    let h0 = hashed_bytes();
    for _ in 0..2 {
        let out = s.check_many(&keys).unwrap();
        assert!(keys.iter().all(|k| out[k] == CacheCheck::Hit), "{out:?}");
    }
    assert_eq!(s.check(&keys[0]).unwrap(), CacheCheck::Hit);
    assert_eq!(s.acquire(&keys[1], 1).unwrap(), Lease::Done);
    assert_eq!(
        hashed_bytes(),
        h0,
        "a check after commit hashed object files"
    );
    assert_eq!(fx.write_count(), v0, "an all-cached check wrote");
    // reading an artifact always hashes what it returns
    assert_eq!(s.artifact(&keys[2], "ckpt").unwrap(), noise(BIG, 2));
    assert_eq!(hashed_bytes(), h0 + BIG as u64);
}

fn lost_memos_are_rebuilt_once_in_one_write(fx: &Fixture) {
    let _g = serial();
    let s = fx.open();
    let keys = commit_three(&*s);
    fx.exec("DELETE FROM object_stat");
    let v0 = fx.write_count();
    let h0 = hashed_bytes();
    let out = s.check_many(&keys).unwrap();
    assert!(keys.iter().all(|k| out[k] == CacheCheck::Hit), "{out:?}");
    assert_eq!(
        hashed_bytes(),
        h0 + 3 * BIG as u64,
        "each object hashed once"
    );
    let v1 = fx.write_count();
    assert_ne!(v1, v0, "the memos were recorded");
    assert_eq!(fx.int("SELECT COUNT(*) FROM object_stat"), 3);
    s.check_many(&keys).unwrap();
    assert_eq!(
        hashed_bytes(),
        h0 + 3 * BIG as u64,
        "memos trusted the second time"
    );
    assert_eq!(fx.write_count(), v1);
}

fn a_recently_modified_file_is_hashed_until_its_mtime_settles(fx: &Fixture) {
    let _g = serial();
    let s = fx.open();
    let keys = commit_three(&*s);
    let k = &keys[0];
    let p = s.artifact_path(k, "ckpt").unwrap().unwrap();
    // touched just now (content unchanged): a rewrite within the same timestamp tick could keep
    // this mtime, so the memo of it must not be trusted (git's "racily clean" case)
    set_mtime(&p, SystemTime::now());
    let v0 = fx.write_count();
    let h0 = hashed_bytes();
    for i in 1..=2u64 {
        assert_eq!(s.check(k).unwrap(), CacheCheck::Hit);
        assert_eq!(hashed_bytes(), h0 + i * BIG as u64, "check {i} must hash");
    }
    assert_eq!(fx.write_count(), v0, "an unsettled memo is not written");
    // an old mtime: hashed once, recorded, then trusted
    set_mtime(&p, SystemTime::now() - Duration::from_secs(60));
    assert_eq!(s.check(k).unwrap(), CacheCheck::Hit);
    assert_eq!(hashed_bytes(), h0 + 3 * BIG as u64);
    assert_ne!(fx.write_count(), v0);
    assert_eq!(s.check(k).unwrap(), CacheCheck::Hit);
    assert_eq!(hashed_bytes(), h0 + 3 * BIG as u64);
}

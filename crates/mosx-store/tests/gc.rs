//! Garbage collection and simulated crashes between object writing and commit.

mod common;

use common::*;
use mosx_store::{CacheCheck, Lease, MissReason, Store};

#[test]
fn gc_removes_orphans_and_keeps_referenced_objects() {
    let (_d, s) = open_tmp();
    let k = key(1);
    let big = noise(BIG, 1);
    s.commit(
        &rec(&k, 1),
        &[art("ckpt", big.clone()), art("small", vec![1])],
        &[],
    )
    .unwrap();
    let objects = s.objects_dir().to_path_buf();
    // an orphan object dir (e.g. left by a crash before commit), an orphan file in a kept dir,
    // and a stray file at the top level
    let orphan_key = key(2);
    std::fs::create_dir_all(objects.join(&orphan_key).join("sub")).unwrap();
    std::fs::write(
        objects.join(&orphan_key).join("sub").join("w.bin"),
        vec![0u8; 1000],
    )
    .unwrap();
    std::fs::write(objects.join(&k).join("stray"), vec![0u8; 10]).unwrap();
    std::fs::write(objects.join("junk"), vec![0u8; 5]).unwrap();

    let dry = s.gc(true).unwrap();
    assert_eq!((dry.files_removed, dry.bytes_removed), (3, 1015));
    assert!(
        objects.join(&orphan_key).exists(),
        "dry run changes nothing"
    );

    let rep = s.gc(false).unwrap();
    assert_eq!(
        (rep.files_removed, rep.bytes_removed, rep.leases_cleared),
        (3, 1015, 0)
    );
    assert!(!objects.join(&orphan_key).exists(), "orphan dir removed");
    assert!(!objects.join("junk").exists());
    assert!(!objects.join(&k).join("stray").exists());
    assert_eq!(std::fs::read(objects.join(&k).join("ckpt")).unwrap(), big);
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    assert_eq!(s.gc(false).unwrap().files_removed, 0);
}

#[test]
fn gc_removes_temp_files_of_dead_writers_only_and_dead_leases() {
    let (dir, s) = open_tmp();
    let objects = s.objects_dir().to_path_buf();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let host = {
        let mut buf = [0u8; 256];
        unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        let end = buf.iter().position(|&b| b == 0).unwrap();
        String::from_utf8_lossy(&buf[..end])
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect::<String>()
    };
    std::fs::create_dir_all(objects.join("k1")).unwrap();
    let dead_tmp = objects.join("k1").join(format!(".tmp.{host}.{dead}.0-1"));
    let live_tmp = objects
        .join("k1")
        .join(format!(".tmp.{host}.{}.0-2", std::process::id()));
    std::fs::write(&dead_tmp, b"abc").unwrap();
    std::fs::write(&live_tmp, b"abcd").unwrap();

    let k = key(3);
    assert_eq!(s.acquire(&k, 1).unwrap(), Lease::Acquired);
    let k_live = key(4);
    assert_eq!(s.acquire(&k_live, 1).unwrap(), Lease::Acquired);
    rusqlite::Connection::open(dir.path().join("store.db"))
        .unwrap()
        .execute(
            "UPDATE leases SET pid = ?1 WHERE key = ?2",
            rusqlite::params![dead, k],
        )
        .unwrap();

    let rep = s.gc(false).unwrap();
    assert_eq!(rep.files_removed, 1);
    assert_eq!(rep.bytes_removed, 3);
    assert_eq!(rep.leases_cleared, 1);
    assert!(!dead_tmp.exists());
    assert!(live_tmp.exists(), "a live writer's temp file is kept");
    // the live lease still holds, the dead one is gone
    assert!(matches!(s.acquire(&k_live, 2).unwrap(), Lease::Busy { .. }));
    assert_eq!(s.acquire(&k, 2).unwrap(), Lease::Acquired);
}

#[test]
fn simulated_crash_after_object_write_leaves_no_row() {
    // What a kill -9 between "objects written/renamed" and COMMIT leaves on disk: object files
    // under <objects>/<key>/ and no stage row.
    let (_d, s) = open_tmp();
    let k = key(5);
    assert_eq!(s.acquire(&k, 1).unwrap(), Lease::Acquired);
    let kdir = s.objects_dir().join(&k);
    std::fs::create_dir_all(&kdir).unwrap();
    std::fs::write(kdir.join("ckpt"), noise(BIG, 5)).unwrap();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Miss(MissReason::NotFound));
    assert!(s.record(&k).unwrap().is_none());
    assert!(s.artifacts(&k).unwrap().is_empty());
    let rep = s.gc(false).unwrap();
    assert_eq!(rep.files_removed, 1);
    assert!(!kdir.exists());
    // the crashed holder is this (live) process in the test, so its lease stays
    assert_eq!(rep.leases_cleared, 0);
}

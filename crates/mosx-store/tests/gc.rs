//! Garbage collection and simulated crashes between object writing and commit (both backends).

#[macro_use]
mod common;

use common::*;
use mosx_store::{CacheCheck, Lease, MissReason};

backend_tests!(
    gc_removes_orphans_and_keeps_referenced_objects,
    gc_removes_temp_files_of_dead_writers_only_and_dead_leases,
    simulated_crash_after_object_write_leaves_no_row,
);

fn gc_removes_orphans_and_keeps_referenced_objects(fx: &Fixture) {
    let s = fx.open();
    let k = key(1);
    let big = noise(BIG, 1);
    s.commit(
        &rec(&k, 1),
        &[art("ckpt", big.clone()), art("small", vec![1])],
        &[],
    )
    .unwrap();
    let objects = fx.objects().to_path_buf();
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

fn gc_removes_temp_files_of_dead_writers_only_and_dead_leases(fx: &Fixture) {
    let s = fx.open();
    let objects = fx.objects().to_path_buf();
    let dead = dead_pid();
    let host = host_tag();
    std::fs::create_dir_all(objects.join("k1")).unwrap();
    let dead_tmp = objects.join("k1").join(format!(".tmp.{host}.{dead}.0-1"));
    let live_tmp = objects
        .join("k1")
        .join(format!(".tmp.{host}.{}.0-2", std::process::id()));
    std::fs::write(&dead_tmp, b"abc").unwrap();
    std::fs::write(&live_tmp, b"abcd").unwrap();

    // k's holder (another store) dies; k_live's holder (this store) lives.
    let k = key(3);
    let holder = fx.open();
    assert_eq!(holder.acquire(&k, 1).unwrap(), Lease::Acquired);
    let k_live = key(4);
    assert_eq!(s.acquire(&k_live, 1).unwrap(), Lease::Acquired);
    fx.kill_lease_holder(&k);

    let dry = s.gc(true).unwrap();
    assert_eq!((dry.files_removed, dry.leases_cleared), (1, 1));
    assert!(dead_tmp.exists(), "a dry run changes nothing");
    let rep = s.gc(false).unwrap();
    assert_eq!(rep.files_removed, 1);
    assert_eq!(rep.bytes_removed, 3);
    assert_eq!(rep.leases_cleared, 1);
    assert!(!dead_tmp.exists());
    assert!(live_tmp.exists(), "a live writer's temp file is kept");
    // the live lease still holds, the dead one is gone
    assert!(matches!(s.acquire(&k_live, 2).unwrap(), Lease::Busy { .. }));
    assert_eq!(fx.lease_row(&k), None);
    assert_eq!(s.acquire(&k, 2).unwrap(), Lease::Acquired);
    let st = fx.rows(&format!(
        "SELECT run_id, status FROM executions WHERE key = '{k}' ORDER BY id"
    ));
    assert_eq!(st, vec![vec!["1", "failed"], vec!["2", "running"]]);
}

fn simulated_crash_after_object_write_leaves_no_row(fx: &Fixture) {
    // What a kill -9 between "objects written/renamed" and COMMIT leaves on disk: object files
    // under <objects>/<key>/ and no stage row.
    let s = fx.open();
    let k = key(5);
    assert_eq!(s.acquire(&k, 1).unwrap(), Lease::Acquired);
    let kdir = fx.objects().join(&k);
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

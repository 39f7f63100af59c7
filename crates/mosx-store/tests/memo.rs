//! The verification memo (`object_stat`): rewrites are still caught, migration from v1, gc
//! (both backends).

#[macro_use]
mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::*;
use mosx_store::{CacheCheck, MissReason};

backend_tests!(
    commit_records_the_memo_of_each_object_file,
    same_size_rewrite_after_a_trusted_check_is_a_mismatch,
    replaced_file_with_the_old_mtime_is_caught_by_its_inode,
    truncated_or_deleted_object_is_a_miss_despite_the_memo,
    byte_flipped_in_place_with_mtime_restored_is_caught_on_read,
    a_v1_database_is_migrated_and_keeps_working,
    gc_drops_the_memos_of_removed_and_vanished_objects,
    recommit_after_a_bad_object_replaces_the_memo,
);

fn mismatch(name: &str) -> CacheCheck {
    CacheCheck::Miss(MissReason::ObjectMismatch {
        artifact: name.into(),
    })
}

fn memo_rows(fx: &Fixture) -> Vec<(String, i64, String)> {
    fx.rows("SELECT path, size, hash FROM object_stat ORDER BY path")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap(), r[2].clone()))
        .collect()
}

fn commit_records_the_memo_of_each_object_file(fx: &Fixture) {
    let s = fx.open();
    let k = key(1);
    let big = noise(BIG, 1);
    s.commit(
        &rec(&k, 1),
        &[art("ckpt", big.clone()), art("small", vec![1, 2])],
        &[],
    )
    .unwrap();
    assert_eq!(
        memo_rows(fx),
        vec![(
            format!("{k}/ckpt"),
            BIG as i64,
            blake3::hash(&big).to_hex().to_string()
        )]
    );
    // the recorded stat is the file's
    let p = s.artifact_path(&k, "ckpt").unwrap().unwrap();
    let meta = fs::metadata(&p).unwrap();
    let row = &fx.rows("SELECT mtime_ns, ino FROM object_stat")[0];
    let (mtime_ns, ino): (i64, i64) = (row[0].parse().unwrap(), row[1].parse().unwrap());
    assert_eq!(mtime_ns, meta.mtime() * 1_000_000_000 + meta.mtime_nsec());
    assert_eq!(ino as u64, meta.ino());
}

fn same_size_rewrite_after_a_trusted_check_is_a_mismatch(fx: &Fixture) {
    let s = fx.open();
    let k = key(2);
    s.commit(&rec(&k, 1), &[art("ckpt", noise(BIG, 2))], &[])
        .unwrap();
    let p = s.artifact_path(&k, "ckpt").unwrap().unwrap();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    assert_eq!(
        s.check_many(std::slice::from_ref(&k)).unwrap()[&k],
        CacheCheck::Hit
    );
    // in place (same inode, same size): the write sets a new mtime
    let ino = fs::metadata(&p).unwrap().ino();
    fs::write(&p, noise(BIG, 99)).unwrap();
    assert_eq!(fs::metadata(&p).unwrap().ino(), ino, "rewritten in place");
    assert_eq!(
        s.check_many(std::slice::from_ref(&k)).unwrap()[&k],
        mismatch("ckpt")
    );
    assert_eq!(s.check(&k).unwrap(), mismatch("ckpt"));
}

fn replaced_file_with_the_old_mtime_is_caught_by_its_inode(fx: &Fixture) {
    let s = fx.open();
    let k = key(3);
    s.commit(&rec(&k, 1), &[art("ckpt", noise(BIG, 3))], &[])
        .unwrap();
    let p = s.artifact_path(&k, "ckpt").unwrap().unwrap();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    let old = fs::metadata(&p).unwrap();
    // a new file with the same size and the same mtime, renamed over the object
    let other = p.with_file_name("replacement");
    fs::write(&other, noise(BIG, 77)).unwrap();
    fs::File::options()
        .write(true)
        .open(&other)
        .unwrap()
        .set_modified(old.modified().unwrap())
        .unwrap();
    fs::rename(&other, &p).unwrap();
    let new = fs::metadata(&p).unwrap();
    assert_eq!(
        (new.len(), new.mtime(), new.mtime_nsec()),
        (old.len(), old.mtime(), old.mtime_nsec())
    );
    assert_ne!(new.ino(), old.ino());
    assert_eq!(s.check(&k).unwrap(), mismatch("ckpt"));
}

fn truncated_or_deleted_object_is_a_miss_despite_the_memo(fx: &Fixture) {
    let s = fx.open();
    let k = key(4);
    let big = noise(BIG, 4);
    s.commit(&rec(&k, 1), &[art("ckpt", big.clone())], &[])
        .unwrap();
    let p = s.artifact_path(&k, "ckpt").unwrap().unwrap();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    fs::write(&p, &big[..BIG - 1]).unwrap();
    assert_eq!(
        s.check_many(std::slice::from_ref(&k)).unwrap()[&k],
        mismatch("ckpt")
    );
    // truncated by set_len with the mtime put back: the size alone decides
    fs::write(&p, &big).unwrap();
    let f = fs::File::options().write(true).open(&p).unwrap();
    let m = f.metadata().unwrap().modified().unwrap();
    f.set_len(10).unwrap();
    f.set_modified(m).unwrap();
    drop(f);
    assert_eq!(s.check(&k).unwrap(), mismatch("ckpt"));
    fs::remove_file(&p).unwrap();
    assert_eq!(
        s.check(&k).unwrap(),
        CacheCheck::Miss(MissReason::ObjectMissing {
            artifact: "ckpt".into()
        })
    );
}

fn byte_flipped_in_place_with_mtime_restored_is_caught_on_read(fx: &Fixture) {
    let s = fx.open();
    let k = key(5);
    s.commit(&rec(&k, 1), &[art("ckpt", noise(BIG, 5))], &[])
        .unwrap();
    let p = s.artifact_path(&k, "ckpt").unwrap().unwrap();
    let m = fs::metadata(&p).unwrap().modified().unwrap();
    let mut bytes = fs::read(&p).unwrap();
    bytes[777] ^= 1;
    fs::write(&p, &bytes).unwrap();
    fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(m)
        .unwrap();
    // The documented limit of the memo: the check trusts the unchanged stat ...
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    // ... but the bytes are never handed out.
    let err = s.artifact(&k, "ckpt").unwrap_err().to_string();
    assert!(
        err.contains("does not match") && err.contains("blake3"),
        "{err}"
    );
}

fn a_v1_database_is_migrated_and_keeps_working(fx: &Fixture) {
    let (k1, k2) = (key(6), key(7));
    {
        let s = fx.open();
        s.commit(
            &rec(&k1, 1),
            &[art("ckpt", noise(BIG, 6))],
            &[("m".into(), 0.5)],
        )
        .unwrap();
    }
    fx.downgrade_to_v1();
    assert_eq!(fx.schema_version(), 1);
    // a read-only open does not migrate: it refuses an older schema
    let e = fx.open_read_only().map(|_| ()).unwrap_err();
    assert!(
        matches!(e, mosx_store::StoreError::SchemaTooOld { found: 1, .. }),
        "{e}"
    );
    let s = fx.open();
    assert_eq!(fx.schema_version(), mosx_store::SCHEMA_VERSION);
    assert!(memo_rows(fx).is_empty());
    // the old stage is a hit (hashed once, then memoized), reads back, and new commits work
    assert_eq!(s.check(&k1).unwrap(), CacheCheck::Hit);
    assert_eq!(memo_rows(fx).len(), 1);
    assert_eq!(s.check(&k1).unwrap(), CacheCheck::Hit);
    assert_eq!(s.artifact(&k1, "ckpt").unwrap(), noise(BIG, 6));
    assert_eq!(s.metrics(&k1).unwrap(), vec![("m".to_string(), 0.5)]);
    s.commit(&rec(&k2, 2), &[art("ckpt", noise(BIG, 7))], &[])
        .unwrap();
    let out = s.check_many(&[k1.clone(), k2.clone()]).unwrap();
    assert_eq!((&out[&k1], &out[&k2]), (&CacheCheck::Hit, &CacheCheck::Hit));
    assert_eq!(memo_rows(fx).len(), 2);
}

fn gc_drops_the_memos_of_removed_and_vanished_objects(fx: &Fixture) {
    let s = fx.open();
    let (k1, k2, k3) = (key(8), key(9), key(10));
    for (i, k) in [&k1, &k2, &k3].into_iter().enumerate() {
        s.commit(&rec(k, 1), &[art("ckpt", noise(BIG, i as u64))], &[])
            .unwrap();
    }
    assert_eq!(memo_rows(fx).len(), 3);
    // k2 invalidated: its object becomes garbage; k3's object vanishes under a live row
    assert!(s.invalidate(&k2).unwrap());
    fs::remove_file(s.artifact_path(&k3, "ckpt").unwrap().unwrap()).unwrap();
    let dry = s.gc(true).unwrap();
    assert_eq!(dry.files_removed, 1);
    assert_eq!(memo_rows(fx).len(), 3, "a dry run changes nothing");
    let rep = s.gc(false).unwrap();
    assert_eq!(rep.files_removed, 1);
    let paths: Vec<String> = memo_rows(fx).into_iter().map(|r| r.0).collect();
    assert_eq!(paths, vec![format!("{k1}/ckpt")]);
    assert_eq!(s.check(&k1).unwrap(), CacheCheck::Hit);
}

fn recommit_after_a_bad_object_replaces_the_memo(fx: &Fixture) {
    let s = fx.open();
    let k = key(11);
    s.commit(&rec(&k, 1), &[art("ckpt", noise(BIG, 11))], &[])
        .unwrap();
    let p = s.artifact_path(&k, "ckpt").unwrap().unwrap();
    fs::write(&p, noise(BIG, 12)).unwrap();
    assert_eq!(s.check(&k).unwrap(), mismatch("ckpt"));
    // a new result for the key (e.g. nondeterministic training) replaces the bad one
    s.commit(&rec(&k, 2), &[art("ckpt", noise(BIG, 13))], &[])
        .unwrap();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    assert_eq!(
        memo_rows(fx),
        vec![(
            format!("{k}/ckpt"),
            BIG as i64,
            blake3::hash(&noise(BIG, 13)).to_hex().to_string()
        )]
    );
    assert_eq!(s.artifact(&k, "ckpt").unwrap(), noise(BIG, 13));
}

//! A forced rerun (`--force`): `acquire_replacing` takes the lease of a stored key, the stored
//! result stays a hit until `commit_replacing` replaces it (row, artifacts, metrics) in one
//! transaction; a forced run that ends without committing leaves the old result. Both backends.

#[macro_use]
mod common;

use common::*;
use mosx_store::{CacheCheck, Lease};

backend_tests!(a_forced_rerun_replaces_the_stored_result_only_when_it_commits);

fn a_forced_rerun_replaces_the_stored_result_only_when_it_commits(fx: &Fixture) {
    let s = fx.open();
    let k = key(7);
    let r1 = s.begin_run(&run_info("s.yaml")).unwrap();
    assert_eq!(s.acquire(&k, r1).unwrap(), Lease::Acquired);
    let big_old = noise(300_000, 1);
    s.commit(
        &rec(&k, r1),
        &[art("small", b"old".to_vec()), art("big", big_old.clone())],
        &[("m".into(), 1.0)],
    )
    .unwrap();
    assert_eq!(s.acquire(&k, r1).unwrap(), Lease::Done);

    // A forced run that gives up (killed, failed): the old result is untouched.
    let r2 = s.begin_run(&run_info("s.yaml")).unwrap();
    assert_eq!(s.acquire_replacing(&k, r2).unwrap(), Lease::Acquired);
    assert_eq!(
        s.check(&k).unwrap(),
        CacheCheck::Hit,
        "valid while the rerun runs"
    );
    s.record_failure(&k, "n", "train", r2, "killed").unwrap();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    assert_eq!(s.artifact(&k, "small").unwrap(), b"old");
    assert_eq!(s.metrics(&k).unwrap(), vec![("m".to_string(), 1.0)]);

    // A forced run that commits replaces row, artifacts and metrics at once.
    let r3 = s.begin_run(&run_info("s.yaml")).unwrap();
    assert_eq!(s.acquire_replacing(&k, r3).unwrap(), Lease::Acquired);
    let big_new = noise(300_000, 2);
    s.commit_replacing(
        &rec(&k, r3),
        &[art("small", b"new".to_vec()), art("big", big_new.clone())],
        &[("m".into(), 2.0), ("n".into(), 3.0)],
    )
    .unwrap();
    assert_eq!(s.check(&k).unwrap(), CacheCheck::Hit);
    assert_eq!(s.artifact(&k, "small").unwrap(), b"new");
    assert_eq!(s.artifact(&k, "big").unwrap(), big_new);
    assert_eq!(
        s.metrics(&k).unwrap(),
        vec![("m".to_string(), 2.0), ("n".to_string(), 3.0)]
    );
    assert_eq!(s.record(&k).unwrap().unwrap().run_id, r3);
    assert_eq!(s.executions(&k).unwrap(), 2);
    assert_eq!(fx.int("SELECT COUNT(*) FROM leases"), 0);
}

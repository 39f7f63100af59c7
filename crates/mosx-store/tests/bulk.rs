//! check_many on large plans (both backends): the planner's 1,001-stage cached sweep checks
//! every key in one call, whose target is well under 100 ms end to end.

#[macro_use]
mod common;

use std::time::Instant;

use common::*;
use mosx_store::{CacheCheck, MissReason};

backend_tests!(check_many_on_1001_keys_is_fast_and_exact);

fn check_many_on_1001_keys_is_fast_and_exact(fx: &Fixture) {
    let s = fx.open();
    let n = 1001;
    let keys: Vec<String> = (0..n).map(key).collect();
    // commit every other key, with two small inline artifacts and a metric each
    for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        s.commit(
            &rec(k, 1),
            &[
                art("a.json", noise(200, i as u64)),
                art("b.bin", noise(2000, i as u64)),
            ],
            &[("m".into(), i as f64)],
        )
        .unwrap();
    }
    // one with a file artifact whose object is then deleted
    s.commit(&rec(&keys[1], 1), &[art("big", noise(BIG, 1))], &[])
        .unwrap();
    std::fs::remove_file(s.artifact_path(&keys[1], "big").unwrap().unwrap()).unwrap();

    let mut best = f64::INFINITY;
    let mut out = Default::default();
    for _ in 0..5 {
        let t = Instant::now();
        out = s.check_many(&keys).unwrap();
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    eprintln!(
        "check_many({n} keys) on {:?}: best of 5 = {best:.2} ms",
        fx.backend
    );
    assert_eq!(out.len(), n);
    for (i, k) in keys.iter().enumerate() {
        let want = if i % 2 == 0 {
            CacheCheck::Hit
        } else if i == 1 {
            CacheCheck::Miss(MissReason::ObjectMissing {
                artifact: "big".into(),
            })
        } else {
            CacheCheck::Miss(MissReason::NotFound)
        };
        assert_eq!(out[k], want, "key {i}");
        if i < 20 {
            assert_eq!(
                s.check(k).unwrap(),
                want,
                "check and check_many agree on key {i}"
            );
        }
    }
    assert!(best < 50.0, "check_many took {best:.2} ms for {n} keys");
}

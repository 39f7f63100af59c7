//! The cluster jobs of a stage (`job_attempts`): recorded as the executor learns more (one row
//! per key, run and attempt, updated in place), read back by run and attempt, and read by a
//! read-only store. Both backends.

#[macro_use]
mod common;

use common::*;
use mosx_store::JobAttempt;

backend_tests!(
    attempts_are_updated_in_place_and_read_back_in_order,
    a_read_only_store_reads_attempts_and_refuses_to_record
);

fn attempt(key: &str, run: i64, n: u32, job: &str, state: &str) -> JobAttempt {
    JobAttempt {
        key: key.to_string(),
        run_id: run,
        attempt: n,
        job_id: job.to_string(),
        state: state.to_string(),
        node: None,
        submitted_at: 1_796_230_400.5,
        started_at: None,
        finished_at: None,
        mem_mib: Some(100),
        note: None,
    }
}

fn attempts_are_updated_in_place_and_read_back_in_order(fx: &Fixture) {
    let s = fx.open();
    let k = key(1);
    let run = s.begin_run(&run_info("s.yaml")).unwrap();
    // Second attempt recorded first: order comes from (run, attempt), not insertion.
    let mut second = attempt(&k, run, 2, "13", "PENDING");
    second.mem_mib = Some(200);
    s.record_attempt(&second).unwrap();
    let mut first = attempt(&k, run, 1, "12", "PENDING");
    s.record_attempt(&first).unwrap();
    // The first ran out of memory: the same row, updated.
    first.state = "OUT_OF_MEMORY".into();
    first.node = Some("vm".into());
    first.started_at = Some(1_796_230_424.0);
    first.finished_at = Some(1_796_230_425.0);
    first.note = Some("resubmitted with mem 200M".into());
    s.record_attempt(&first).unwrap();
    s.record_attempt(&attempt(&key(2), run, 1, "14", "COMPLETED"))
        .unwrap();

    let got = s.attempts(&k).unwrap();
    assert_eq!(got, vec![first.clone(), second]);
    assert_eq!(s.attempts(&key(3)).unwrap(), vec![]);
    // A later run's attempts come after.
    let run2 = s.begin_run(&run_info("s.yaml")).unwrap();
    s.record_attempt(&attempt(&k, run2, 1, "20", "COMPLETED"))
        .unwrap();
    let got = s.attempts(&k).unwrap();
    assert_eq!(
        got.iter()
            .map(|a| (a.run_id, a.attempt, a.job_id.as_str()))
            .collect::<Vec<_>>(),
        vec![(run, 1, "12"), (run, 2, "13"), (run2, 1, "20")]
    );
    assert_eq!(got[0], first, "every field round-trips");
}

fn a_read_only_store_reads_attempts_and_refuses_to_record(fx: &Fixture) {
    let k = key(4);
    let run = {
        let s = fx.open();
        let run = s.begin_run(&run_info("s.yaml")).unwrap();
        s.record_attempt(&attempt(&k, run, 1, "7", "NODE_FAIL"))
            .unwrap();
        run
    };
    let ro = fx.open_read_only().unwrap();
    assert_eq!(ro.attempts(&k).unwrap().len(), 1);
    let e = ro
        .record_attempt(&attempt(&k, run, 2, "8", "PENDING"))
        .unwrap_err();
    assert!(e.to_string().contains("read-only"), "{e}");
}

use super::*;

fn space() -> Vec<Dist> {
    vec![
        Dist::new_range("uniform", -5.0, 5.0).unwrap(),
        Dist::new_range("loguniform", 1e-4, 1.0).unwrap(),
        Dist::new_range("int", 1.0, 10.0).unwrap(),
        Dist::new_choice(vec!["a".into(), "b".into(), "c".into()]).unwrap(),
    ]
}

fn search(method: Method, seed: u64) -> Search {
    Search {
        method,
        seed,
        startup: 5,
        space: space(),
        direction: Direction::Min,
        parallel: 1,
        sequential: false,
    }
}

/// A synthetic objective with its known minimum 0 at x = 1, lr = 1e-2, k = 7, c = "b".
fn objective(p: &[Value]) -> f64 {
    let x = p[0].as_f64().unwrap();
    let lr = p[1].as_f64().unwrap();
    let k = p[2].as_i64().unwrap() as f64;
    let c = if p[3] == "b" { 0.0 } else { 1.0 };
    (x - 1.0).powi(2) + (lr.log10() + 2.0).powi(2) + (k - 7.0).powi(2) / 10.0 + c
}

/// Runs `n` trials of `s` on [`objective`]; the proposals and the best objective.
fn run(s: &Search, n: usize) -> (Vec<Vec<Value>>, f64) {
    let mut history = Vec::new();
    for i in 0..n {
        assert!(s.determined(i, history.len()));
        let p = s.propose(i, &history).unwrap();
        let v = objective(&p);
        history.push((p, Outcome::Objective(v)));
    }
    let best = history
        .iter()
        .map(|(_, o)| match o {
            Outcome::Objective(v) => *v,
            Outcome::Failed | Outcome::Pruned { .. } => f64::INFINITY,
        })
        .fold(f64::INFINITY, f64::min);
    (history.into_iter().map(|(p, _)| p).collect(), best)
}

#[test]
fn the_same_seed_proposes_the_same_trials_twice() {
    for method in [Method::Random, Method::Tpe] {
        let a = run(&search(method, 3), 15).0;
        let b = run(&search(method, 3), 15).0;
        assert_eq!(a, b, "{method:?}");
        let c = run(&search(method, 4), 15).0;
        assert_ne!(a, c, "{method:?}: another seed, other trials");
    }
}

#[test]
fn a_random_trial_does_not_depend_on_the_budget_or_on_results() {
    let s = search(Method::Random, 9);
    let small = run(&s, 5).0;
    let large = run(&s, 12).0;
    assert_eq!(small[..], large[..5]);
    let failed: Vec<_> = small.iter().map(|p| (p.clone(), Outcome::Failed)).collect();
    assert_eq!(s.propose(4, &failed).unwrap(), small[4]);
}

#[test]
fn tpe_after_startup_needs_the_earlier_outcomes_and_skips_failed_ones() {
    let s = search(Method::Tpe, 1);
    assert!(s.determined(4, 0));
    assert!(!s.determined(5, 4));
    assert_eq!(
        s.propose(5, &[]),
        Err(SearchError::History {
            index: 5,
            need: 5,
            known: 0
        })
    );
    let (props, _) = run(&s, 5);
    let mut history: Vec<_> = props
        .iter()
        .map(|p| (p.clone(), Outcome::Objective(objective(p))))
        .collect();
    let with_all = s.propose(5, &history).unwrap();
    history[0].1 = Outcome::Failed;
    let without_first = s.propose(5, &history).unwrap();
    assert_ne!(
        with_all, without_first,
        "a failed trial is left out of the model"
    );
    for (p, d) in with_all.iter().zip(&s.space) {
        assert!(d.internal(p).is_some(), "{p} lies in {d:?}");
    }
}

/// Mean best-of-20 over 20 seeds on the synthetic objective (minimum 0); the README quotes
/// the printed numbers.
#[test]
fn tpe_finds_a_better_best_of_20_than_random_search() {
    let mean = |method| {
        (0..20u64)
            .map(|seed| run(&search(method, seed), 20).1)
            .sum::<f64>()
            / 20.0
    };
    let (tpe, random) = (mean(Method::Tpe), mean(Method::Random));
    println!("mean best-of-20 over 20 seeds: tpe {tpe:.3}, random {random:.3}");
    assert!(tpe < random, "tpe {tpe} vs random {random}");
}

#[test]
fn with_parallel_w_a_tpe_trial_waits_only_for_the_trials_before_its_window() {
    let mut s = search(Method::Tpe, 3);
    s.parallel = 3;
    // Trial 7 needs trials 0..=4 (5 outcomes), not 0..=6.
    assert!(!s.determined(7, 4));
    assert!(s.determined(7, 5));
    let history: Vec<(Vec<Value>, Outcome)> = (0..5)
        .map(|i| {
            let p = s.propose(i, &[]).unwrap();
            let v = objective(&p);
            (p, Outcome::Objective(v))
        })
        .collect();
    let a = s.propose(7, &history).unwrap();
    // Later outcomes (trials 5, 6) are not read: the same proposal with them told.
    let mut more = history.clone();
    more.push((history[0].0.clone(), Outcome::Objective(-100.0)));
    more.push((history[1].0.clone(), Outcome::Objective(-100.0)));
    assert_eq!(a, s.propose(7, &more).unwrap());
}

#[test]
fn a_sequential_random_search_waits_for_its_window_and_a_plain_one_does_not() {
    let mut s = search(Method::Random, 3);
    assert!(s.determined(9, 0));
    s.sequential = true;
    s.parallel = 2;
    assert!(s.determined(1, 0));
    assert!(!s.determined(2, 0));
    assert!(s.determined(2, 1));
}

#[test]
fn a_pruned_trial_is_told_to_tpe_as_the_worst_completed_objective() {
    let s = search(Method::Tpe, 4);
    let mut history: Vec<(Vec<Value>, Outcome)> = (0..5)
        .map(|i| {
            let p = s.propose(i, &[]).unwrap();
            let v = objective(&p);
            (p, Outcome::Objective(v))
        })
        .collect();
    let worst = history
        .iter()
        .map(|(_, o)| match o {
            Outcome::Objective(v) => *v,
            _ => unreachable!(),
        })
        .fold(f64::MIN, f64::max);
    let as_worst = {
        let mut h = history.clone();
        h[2].1 = Outcome::Objective(worst);
        s.propose(5, &h).unwrap()
    };
    history[2].1 = Outcome::Pruned { epoch: 1 };
    assert_eq!(s.propose(5, &history).unwrap(), as_worst);
}

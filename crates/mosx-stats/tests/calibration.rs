//! Calibration of the seed-unit procedure (METHOD.md §8) on simulated studies, and the failure
//! of the pooled (seed, user) procedure it replaced.
//!
//! A simulated study: a fixed **population** of 1,000 users (one per scenario, as a data set's
//! users are fixed), each with a number of test points (1-3), a user effect on both methods'
//! scores and a user effect on their difference (centred over the population, so the
//! population difference is exactly the planted one).
//! Each **seed** draws 100-300 of these users without replacement (so seeds share users),
//! a seed effect on the difference (sd `seed_sd`: the seeds' models differ), and per point a
//! score for method `a` and `b` with a shared point noise (the same test point) and
//! independent noise (sd 5). The metric is the ratio of sums `Σ score / Σ points` over the
//! seed's points, a user-level ratio estimator. The procedure: per seed the paired
//! jackknife SE of `θ(a) − θ(b)`, then HKSJ across seeds, p two-sided and one-sided.
//!
//! Bound: with `R` replicates the rejection rate of a calibrated 5% test has Monte-Carlo SE
//! `sqrt(0.05·0.95/R)`; each rate must lie within 3 SEs of 0.05. Everything is seeded, so the
//! numbers are the same on every run (measured values in the README, "Statistics").

use std::sync::OnceLock;

use mosx_stats::jackknife;
use mosx_stats::{combine, paired_t, AcrossSeeds, Alternative, SeedEstimate};

const REPLICATES: usize = 4000;
const POPULATION: usize = 1000;

/// SplitMix64 with Box-Muller normals: a fixed stream per scenario, no dependency.
struct Rng {
    state: u64,
    spare: Option<f64>,
}

impl Rng {
    fn new(seed: u64) -> Self {
        Rng {
            state: seed,
            spare: None,
        }
    }
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize
    }
    fn normal(&mut self, sd: f64) -> f64 {
        if let Some(z) = self.spare.take() {
            return sd * z;
        }
        let (u, v) = (self.uniform(), self.uniform());
        let r = (-2.0 * u.ln()).sqrt();
        let t = std::f64::consts::TAU * v;
        self.spare = Some(r * t.sin());
        sd * r * t.cos()
    }
}

#[derive(Clone, Copy)]
struct Scenario {
    seeds: usize,
    seed_sd: f64,
    /// Planted difference `a − b` of the population.
    effect: f64,
}

/// One user in one seed: the sums of its points' scores under `a` and `b`, and its points.
struct UserSums {
    a: f64,
    b: f64,
    m: f64,
}

struct Population {
    points: Vec<usize>,
    effect: Vec<f64>,
    diff: Vec<f64>,
}

fn population(rng: &mut Rng) -> Population {
    let points: Vec<usize> = (0..POPULATION).map(|_| 1 + rng.below(3)).collect();
    let effect: Vec<f64> = (0..POPULATION).map(|_| rng.normal(2.0)).collect();
    let mut diff: Vec<f64> = (0..POPULATION).map(|_| rng.normal(1.0)).collect();
    // Centre the difference effect over the population's points, so the population's ratio
    // estimand of `a − b` is exactly the planted effect.
    let total: f64 = points.iter().map(|&m| m as f64).sum();
    let mean = diff
        .iter()
        .zip(&points)
        .map(|(d, &m)| d * m as f64)
        .sum::<f64>()
        / total;
    diff.iter_mut().for_each(|d| *d -= mean);
    Population {
        points,
        effect,
        diff,
    }
}

fn draw_seed(rng: &mut Rng, pop: &Population, sc: Scenario) -> Vec<UserSums> {
    let n = 100 + rng.below(201);
    let mut ids: Vec<usize> = (0..POPULATION).collect();
    for i in 0..n {
        let j = i + rng.below(POPULATION - i);
        ids.swap(i, j);
    }
    let shift = rng.normal(sc.seed_sd) + sc.effect;
    ids[..n]
        .iter()
        .map(|&u| {
            // The sums over the user's m points: per point a shared noise (sd 3) and an
            // independent noise per method (sd 5), summed as one normal of sd sqrt(m)·σ.
            let m = pop.points[u] as f64;
            let shared = m * pop.effect[u] + rng.normal(3.0 * m.sqrt());
            let half = 0.5 * m * (pop.diff[u] + shift);
            UserSums {
                a: shared + half + rng.normal(5.0 * m.sqrt()),
                b: shared - half + rng.normal(5.0 * m.sqrt()),
                m,
            }
        })
        .collect()
}

/// θ(a) − θ(b) per seed with its paired jackknife SE (each deletion in O(1) from the sums).
fn seed_estimate(users: &[UserSums]) -> SeedEstimate {
    let (sa, sb, sm) = users
        .iter()
        .fold((0.0, 0.0, 0.0), |(a, b, m), u| (a + u.a, b + u.b, m + u.m));
    let j = jackknife::by_deletion(users.len(), |del| match del {
        None => (sa - sb) / sm,
        Some(i) => (sa - users[i].a - (sb - users[i].b)) / (sm - users[i].m),
    })
    .expect("defined");
    SeedEstimate {
        estimate: j.estimate,
        se: j.se,
    }
}

/// The replaced procedure: per (seed, user) jackknife pseudo-values `nθ − (n−1)θ₋ᵤ` of each
/// method, pooled over seeds, and a paired t-test across those units.
fn pooled_p(seeds: &[Vec<UserSums>]) -> f64 {
    let (mut xa, mut xb) = (Vec::new(), Vec::new());
    for users in seeds {
        let n = users.len() as f64;
        let (sa, sb, sm) = users
            .iter()
            .fold((0.0, 0.0, 0.0), |(a, b, m), u| (a + u.a, b + u.b, m + u.m));
        for u in users {
            xa.push(n * sa / sm - (n - 1.0) * (sa - u.a) / (sm - u.m));
            xb.push(n * sb / sm - (n - 1.0) * (sb - u.b) / (sm - u.m));
        }
    }
    paired_t(&xa, &xb).expect("defined").p
}

#[derive(Debug, Default)]
struct Rates {
    two_sided: f64,
    greater: f64,
    less: f64,
    pooled: f64,
}

/// Rejection rates at 5% over `replicates` simulated studies; `null` is the tested value.
fn rates(sc: Scenario, null: f64, replicates: usize, stream: u64) -> Rates {
    let mut rng = Rng::new(stream);
    let mut hits = [0usize; 4];
    let pop = population(&mut rng);
    for _ in 0..replicates {
        let seeds: Vec<Vec<UserSums>> = (0..sc.seeds)
            .map(|_| draw_seed(&mut rng, &pop, sc))
            .collect();
        let est: Vec<SeedEstimate> = seeds.iter().map(|s| seed_estimate(s)).collect();
        let AcrossSeeds::Combined(c) = combine(&est).expect("defined") else {
            panic!("several seeds")
        };
        for (k, alt) in [
            Alternative::TwoSided,
            Alternative::Greater,
            Alternative::Less,
        ]
        .into_iter()
        .enumerate()
        {
            hits[k] += usize::from(c.p(alt, null) < 0.05);
        }
        hits[3] += usize::from(pooled_p(&seeds) < 0.05);
    }
    let r = |h: usize| h as f64 / replicates as f64;
    Rates {
        two_sided: r(hits[0]),
        greater: r(hits[1]),
        less: r(hits[2]),
        pooled: r(hits[3]),
    }
}

/// The 3-SE Monte-Carlo band around 5%.
fn band(replicates: usize) -> (f64, f64) {
    let se = (0.05f64 * 0.95 / replicates as f64).sqrt();
    (0.05 - 3.0 * se, 0.05 + 3.0 * se)
}

fn in_band(x: f64) -> bool {
    let (lo, hi) = band(REPLICATES);
    (lo..=hi).contains(&x)
}

/// The four null scenarios (3 and 5 seeds, without and with a seed effect), computed once for
/// the tests that read them.
fn null_scenarios() -> &'static [((usize, f64), Rates)] {
    static CELL: OnceLock<Vec<((usize, f64), Rates)>> = OnceLock::new();
    CELL.get_or_init(|| {
        [(3, 0.0), (3, 0.5), (5, 0.0), (5, 0.5)]
            .into_iter()
            .enumerate()
            .map(|(i, (seeds, seed_sd))| {
                let sc = Scenario {
                    seeds,
                    seed_sd,
                    effect: 0.0,
                };
                let r = rates(sc, 0.0, REPLICATES, 1000 + i as u64);
                eprintln!("{seeds} seeds, seed sd {seed_sd}: {r:?}");
                ((seeds, seed_sd), r)
            })
            .collect()
    })
}

#[test]
fn hksj_over_seeds_rejects_a_true_null_at_its_nominal_rate() {
    let (lo, hi) = band(REPLICATES);
    let mut failures = Vec::new();
    for ((seeds, seed_sd), r) in null_scenarios() {
        for (name, x) in [
            ("two-sided", r.two_sided),
            ("greater", r.greater),
            ("less", r.less),
        ] {
            if !in_band(x) {
                failures.push(format!(
                    "{seeds} seeds, seed sd {seed_sd}: {name} rejects {x:.4}, outside [{lo:.4}, {hi:.4}]"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_pooled_seed_user_procedure_fails_the_same_calibration() {
    // The procedure mosx used before, on the very same simulated studies: with a seed effect
    // of sd 0.5 (a noise of sd 5 per point), pooling (seed, user) pseudo-values treats each
    // seed's shift as if every user replicated it.
    let (_, hi) = band(REPLICATES);
    for ((seeds, seed_sd), r) in null_scenarios() {
        if *seed_sd > 0.0 {
            assert!(
                r.pooled > hi,
                "{seeds} seeds: the pooled procedure should exceed {hi:.4}: {r:?}"
            );
            // ...while the seed-unit procedure on the same studies does not.
            assert!(in_band(r.two_sided), "{r:?}");
        }
    }
}

#[test]
fn non_inferiority_at_its_margin_rejects_at_the_nominal_rate() {
    // True difference exactly −2, tested against H0 d ≤ −2 ("a >= b − 2").
    let sc = Scenario {
        seeds: 5,
        seed_sd: 0.5,
        effect: -2.0,
    };
    let r = rates(sc, -2.0, REPLICATES, 3000);
    eprintln!("non-inferiority at the margin: {r:?}");
    assert!(in_band(r.greater), "{r:?}");
}

#[test]
fn a_planted_effect_is_detected() {
    // A difference of 1.5 (about 4 within-seed SEs of one seed) with a seed sd of 0.5.
    for (seeds, min_power) in [(3, 0.5), (5, 0.9)] {
        let sc = Scenario {
            seeds,
            seed_sd: 0.5,
            effect: 1.5,
        };
        let r = rates(sc, 0.0, 1000, 4000 + seeds as u64);
        eprintln!("{seeds} seeds, effect 1.5: power {r:?}");
        assert!(r.greater > min_power, "{seeds} seeds: {r:?}");
        assert!(r.less < 0.01, "{r:?}");
    }
}

//! One comparison `a` vs `b` (each `STAGE.METRIC`) with the seed as the unit (METHOD.md §8):
//! the procedure behind every table comparison and every claim.
//!
//! Per seed `s` (a comparison unit, see `stats`): `d_s = θ_s(a) − θ_s(b)` from the **stored**
//! metric values (what the table prints) and its within-seed SE `se_s`:
//! * **paired**: both stages are `metrics` stages over the same sampled points (the same
//!   `sequences` input): the leave-one-user-out jackknife of the difference, deleting user
//!   `u` from both sides at once (`mosx_stats::jackknife::paired`), over the union of their
//!   users;
//! * **unpaired**: `metrics` stages on different samples (another dataset, another sample):
//!   `sqrt(se_a² + se_b²)` of the two jackknife SEs;
//! * **unknown**: a side is not a `metrics` stage (e.g. a train stage's `best_valid_auc`) or
//!   its metric cannot be recomputed per user: the seeds are then weighted equally.
//!
//! Across seeds: DerSimonian-Laird random effects with the HKSJ variance on `S − 1` df
//! (`mosx_stats::combine`). The p-value is that of the comparison's alternative against the
//! null value `margin` (H0 `d = m`, `d ≤ m` or `d ≥ m`). A seed whose `d_s` is undefined is
//! left out and counted. With one seed there is no test: the interval is the within-seed
//! normal interval and p is `null`.
//!
//! Invariant: undefined numbers serialise as `null`, and `note` says why a number is missing.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use mosx_stats::{combine, jackknife, AcrossSeeds, Alternative, SeedEstimate, StatsError};

use super::stats::{self, Loader};
use super::ReportError;
use crate::plan::Plan;

/// What to compare.
#[derive(Debug, Clone)]
pub struct Request {
    pub label: String,
    /// `STAGE.METRIC`.
    pub a: String,
    pub b: String,
    /// The null value of `d = a − b`.
    pub margin: f64,
    pub alternative: Alternative,
    /// Two-sided interval level (0.95).
    pub level: f64,
    /// A note the declaration adds (e.g. how a "best" side was picked).
    pub note: Option<String>,
}

/// One seed's numbers (`null` where undefined).
#[derive(Debug, Clone, Serialize)]
pub struct SeedRow {
    pub seed: Value,
    pub a: Option<f64>,
    pub b: Option<f64>,
    pub d: Option<f64>,
    pub se: Option<f64>,
    pub users: Option<usize>,
    pub dropped: Option<usize>,
}

/// The result (serialised into the report context, see the README for the fields).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub label: String,
    pub a: String,
    pub b: String,
    pub margin: f64,
    pub alternative: Alternative,
    /// `hksj` (random effects), `t` (equal weights: a within-seed SE is 0 or unknown),
    /// `one_seed` (no test), `none` (no seed has both values).
    pub method: &'static str,
    /// `paired`, `unpaired` or `none` (no within-seed SE).
    pub se_kind: &'static str,
    /// Seeds with both values defined, and seeds paired (defined or not).
    pub seeds: usize,
    pub seeds_paired: usize,
    pub mean_a: Option<f64>,
    pub mean_b: Option<f64>,
    /// `μ̂` of `d = a − b` across seeds.
    pub estimate: Option<f64>,
    pub se: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub level: f64,
    pub tau2: Option<f64>,
    pub df: Option<f64>,
    /// p of the comparison's alternative; the two-sided and one-sided ones beside it.
    pub p: Option<f64>,
    pub p_two_sided: Option<f64>,
    pub p_greater: Option<f64>,
    pub p_less: Option<f64>,
    /// Holm-adjusted `p` within the family (filled by [`holm_in_place`]).
    pub p_holm: Option<f64>,
    /// Users used, summed over the seeds used, and users dropped (deletion undefined).
    pub users: usize,
    pub users_dropped: usize,
    pub users_per_seed: Vec<usize>,
    pub per_seed: Vec<SeedRow>,
    /// holds / does not hold / inconclusive for a directional comparison, else `null`.
    pub verdict: Option<&'static str>,
    pub note: Option<String>,
}

pub(crate) fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// A comparison unit: (seed, node of a, node of b).
type Unit = (
    Option<String>,
    petgraph::graph::NodeIndex,
    petgraph::graph::NodeIndex,
);

/// The (seed, node of a, node of b) units both stages have (see `stats`' invariants).
fn pairs(plan: &Plan, sa: &str, sb: &str) -> Vec<Unit> {
    let ua = stats::units(plan, sa);
    let ub = stats::units(plan, sb);
    let single_b = ub.keys().map(|(g, _)| g).collect::<BTreeSet<_>>().len() == 1;
    let mut out = Vec::new();
    for ((g, seed), na) in &ua {
        let nb = ub.get(&(g.clone(), seed.clone())).or_else(|| {
            single_b
                .then(|| ub.iter().find(|((_, s), _)| s == seed).map(|(_, n)| n))
                .flatten()
        });
        if let Some(nb) = nb {
            out.push((seed.clone(), *na, *nb));
        }
    }
    out
}

/// Whether two metrics stages scored the same sampled points (so users pair up).
fn same_sample(plan: &Plan, a: petgraph::graph::NodeIndex, b: petgraph::graph::NodeIndex) -> bool {
    let seq = |n: petgraph::graph::NodeIndex| {
        plan.graph[n]
            .parts
            .inputs
            .get(crate::stages::artifacts::slot::SEQUENCES.name)
    };
    let metrics =
        |n: petgraph::graph::NodeIndex| plan.graph[n].kind.name() == crate::stages::metrics::NAME;
    metrics(a) && metrics(b) && seq(a).is_some() && seq(a) == seq(b)
}

/// The within-seed SE of `θ(a) − θ(b)`: (se, users, dropped, kind) or why there is none.
fn within_seed(
    plan: &Plan,
    loader: &mut Loader<'_>,
    (na, ma): (petgraph::graph::NodeIndex, &str),
    (nb, mb): (petgraph::graph::NodeIndex, &str),
) -> Result<(f64, usize, usize, &'static str), String> {
    let la = loader.loo(plan, na, ma)?;
    let lb = loader.loo(plan, nb, mb)?;
    let err = |e: StatsError| format!("no within-seed SE: {e}");
    if same_sample(plan, na, nb) {
        let users: BTreeSet<&str> = la
            .users
            .iter()
            .chain(&lb.users)
            .map(String::as_str)
            .collect();
        let wa: Vec<f64> = users.iter().map(|u| la.without_user(u)).collect();
        let wb: Vec<f64> = users.iter().map(|u| lb.without_user(u)).collect();
        let j = jackknife::paired(la.theta, &wa, lb.theta, &wb).map_err(err)?;
        Ok((j.se, j.users, j.dropped, "paired"))
    } else {
        let ja = jackknife::from_loo(la.theta, &la.without).map_err(err)?;
        let jb = jackknife::from_loo(lb.theta, &lb.without).map_err(err)?;
        Ok((
            (ja.se * ja.se + jb.se * jb.se).sqrt(),
            ja.users + jb.users,
            ja.dropped + jb.dropped,
            "unpaired",
        ))
    }
}

fn seed_value(seed: &Option<String>) -> Value {
    seed.as_deref()
        .map(|s| serde_json::from_str(s).unwrap_or(Value::String(s.to_string())))
        .unwrap_or(Value::Null)
}

/// One seed's row, and its within-seed SE's kind or why it has none (`None`: `d` undefined).
type SeedSe = Option<Result<&'static str, String>>;

fn seed_row(
    plan: &Plan,
    loader: &mut Loader<'_>,
    (seed, na, nb): &Unit,
    (ma, mb): (&str, &str),
) -> Result<(SeedRow, SeedSe), ReportError> {
    let (va, vb) = (loader.stored(plan, *na, ma)?, loader.stored(plan, *nb, mb)?);
    let d = va - vb;
    let mut row = SeedRow {
        seed: seed_value(seed),
        a: finite(va),
        b: finite(vb),
        d: finite(d),
        se: None,
        users: None,
        dropped: None,
    };
    if !d.is_finite() {
        return Ok((row, None));
    }
    let se = within_seed(plan, loader, (*na, ma), (*nb, mb)).map(|(se, u, dr, kind)| {
        row.se = finite(se);
        row.users = Some(u);
        row.dropped = Some(dr);
        kind
    });
    Ok((row, Some(se)))
}

/// Runs the comparison (see the module docs).
pub fn compare(
    plan: &Plan,
    loader: &mut Loader<'_>,
    req: &Request,
    output: &str,
) -> Result<Comparison, ReportError> {
    let ((sa, ma), (sb, mb)) = operands(plan, req).map_err(|message| ReportError::Input {
        output: output.to_string(),
        message,
    })?;
    let units = pairs(plan, sa, sb);
    let (mut rows, mut kinds, mut se_note) = (Vec::new(), BTreeSet::new(), None);
    for unit in &units {
        let (row, se) = seed_row(plan, loader, unit, (ma, mb))?;
        match se {
            Some(Ok(kind)) => {
                kinds.insert(kind);
            }
            Some(Err(e)) => {
                se_note.get_or_insert(e);
            }
            None => {}
        }
        rows.push(row);
    }
    let mut notes: Vec<String> = req.note.iter().cloned().collect();
    let undefined = rows.iter().filter(|r| r.d.is_none()).count();
    if undefined > 0 {
        notes.push(format!(
            "{undefined} of {} seeds undefined (left out)",
            units.len()
        ));
    }
    let est = estimates(&rows);
    let se_kind = se_kind(&kinds, se_note.is_some());
    let mut c = before_combining(req, rows, se_kind, units.len());
    if let Some(e) = &se_note {
        notes.push(format!("{e}: seeds weighted equally"));
    }
    if c.se_kind == "unpaired" {
        notes.push("unpaired SE (different samples): sqrt(se_a² + se_b²)".into());
    }
    combine_seeds(&mut c, &est, req, &mut notes);
    c.note = (!notes.is_empty()).then(|| notes.join("; "));
    Ok(c)
}

/// One side of a comparison: (stage, metric).
type Operand<'r> = (&'r str, &'r str);

/// The request's two sides, each stage one of the spec's; else why not.
fn operands<'r>(plan: &Plan, req: &'r Request) -> Result<(Operand<'r>, Operand<'r>), String> {
    let (a, b) = (req.a.as_str(), req.b.as_str());
    let (sa, ma) = stats::split_operand(a).ok_or_else(|| format!("`{a}` is not STAGE.METRIC"))?;
    let (sb, mb) = stats::split_operand(b).ok_or_else(|| format!("`{b}` is not STAGE.METRIC"))?;
    for s in [sa, sb] {
        if plan.all_of(s).is_empty() {
            return Err(format!("no stage `{s}` in the spec"));
        }
    }
    Ok(((sa, ma), (sb, mb)))
}

/// The seeds with `d` defined, as estimates to combine (an unknown SE is NaN).
fn estimates(rows: &[SeedRow]) -> Vec<SeedEstimate> {
    rows.iter()
        .filter(|r| r.d.is_some())
        .map(|r| SeedEstimate {
            estimate: r.d.unwrap_or(f64::NAN),
            se: r.se.unwrap_or(f64::NAN),
        })
        .collect()
}

/// `paired` / `unpaired` when every seed had that kind of within-seed SE, `none` when no
/// seed had one, else `mixed`.
fn se_kind(kinds: &BTreeSet<&'static str>, some_missing: bool) -> &'static str {
    match (kinds.len(), some_missing) {
        (1, false) => kinds.iter().next().copied().unwrap_or("none"),
        (0, _) => "none",
        _ => "mixed",
    }
}

/// The comparison with the per-seed numbers and their sums filled in, the across-seeds
/// ones not yet.
fn before_combining(
    req: &Request,
    rows: Vec<SeedRow>,
    se_kind: &'static str,
    seeds_paired: usize,
) -> Comparison {
    let used: Vec<&SeedRow> = rows.iter().filter(|r| r.d.is_some()).collect();
    let per_seed_users: Vec<usize> = used.iter().filter_map(|r| r.users).collect();
    let users = per_seed_users.iter().sum();
    let dropped = used.iter().filter_map(|r| r.dropped).sum();
    let sum_a: f64 = used.iter().filter_map(|r| r.a).sum();
    let sum_b: f64 = used.iter().filter_map(|r| r.b).sum();
    let seeds = used.len();
    let k = seeds as f64;
    Comparison {
        label: req.label.clone(),
        a: req.a.clone(),
        b: req.b.clone(),
        margin: req.margin,
        alternative: req.alternative,
        method: "none",
        se_kind,
        seeds,
        seeds_paired,
        mean_a: (k > 0.0).then(|| sum_a / k),
        mean_b: (k > 0.0).then(|| sum_b / k),
        estimate: None,
        se: None,
        ci_low: None,
        ci_high: None,
        level: req.level,
        tau2: None,
        df: None,
        p: None,
        p_two_sided: None,
        p_greater: None,
        p_less: None,
        p_holm: None,
        users,
        users_dropped: dropped,
        users_per_seed: per_seed_users,
        per_seed: rows,
        verdict: None,
        note: None,
    }
}

/// Combines the seeds' estimates into `c` (or says in `notes` why there is no test).
fn combine_seeds(c: &mut Comparison, est: &[SeedEstimate], req: &Request, notes: &mut Vec<String>) {
    match combine(est) {
        Ok(r) => fill(c, &r, req, notes),
        Err(StatsError::TooFew { .. }) => notes.push("no seed has both values defined".into()),
        Err(StatsError::Constant(d)) => {
            // Every seed's difference is the same number: no spread, so no test.
            c.estimate = finite(d);
            notes.push(format!("every seed's difference is {d}: no test"));
        }
        Err(e) => notes.push(format!("across seeds: {e}")),
    }
}

fn fill(c: &mut Comparison, r: &AcrossSeeds, req: &Request, notes: &mut Vec<String>) {
    let (lo, hi) = r.interval(req.level);
    c.estimate = finite(r.estimate());
    c.se = finite(r.se());
    c.ci_low = finite(lo);
    c.ci_high = finite(hi);
    match r {
        AcrossSeeds::OneSeed { .. } => {
            c.method = "one_seed";
            notes.insert(
                0,
                "one seed: no test across seeds (within-seed interval)".into(),
            );
        }
        AcrossSeeds::Combined(k) => {
            c.method = match k.weighting {
                mosx_stats::Weighting::RandomEffects => "hksj",
                mosx_stats::Weighting::Equal => "t",
            };
            c.tau2 = finite(k.tau2);
            c.df = Some(k.df);
            let p = |alt| finite(k.p(alt, req.margin));
            c.p = p(req.alternative);
            c.p_two_sided = p(Alternative::TwoSided);
            c.p_greater = p(Alternative::Greater);
            c.p_less = p(Alternative::Less);
        }
    }
}

/// Holm-adjusts the primary p-values of a family (a table's comparisons, a spec's claims) in
/// place, and sets directional comparisons' verdicts at level `alpha`.
pub fn holm_in_place(comps: &mut [Comparison], alpha: &[f64]) {
    let ps: Vec<f64> = comps.iter().map(|c| c.p.unwrap_or(f64::NAN)).collect();
    for ((c, p), a) in comps.iter_mut().zip(mosx_stats::holm(&ps)).zip(alpha) {
        c.p_holm = finite(p);
        if c.alternative != Alternative::TwoSided {
            let interval = (c.ci_low.unwrap_or(f64::NAN), c.ci_high.unwrap_or(f64::NAN));
            c.verdict =
                Some(mosx_stats::verdict(c.alternative, c.margin, c.p_holm, interval, *a).text());
        }
    }
}

/// `two-sided` | `greater` | `less` (also `>`, `<`).
pub fn parse_alternative(s: &str) -> Option<Alternative> {
    match s {
        "two-sided" | "two_sided" => Some(Alternative::TwoSided),
        "greater" | ">" => Some(Alternative::Greater),
        "less" | "<" => Some(Alternative::Less),
        _ => None,
    }
}

/// Mean over seeds of a stage's stored metric (for picking the "best" of several rows).
pub fn seed_mean(
    plan: &Plan,
    loader: &mut Loader<'_>,
    stage: &str,
    metric: &str,
) -> Result<f64, ReportError> {
    let mut xs = Vec::new();
    for n in plan.all_of(stage) {
        xs.push(loader.stored(plan, n, metric)?);
    }
    Ok(mosx_stats::summary(&xs).mean)
}

//! `sweep.search`, `sweep.space` and `sweep.objective`: a hyperparameter search run per grid
//! point.
//!
//! ```yaml
//! sweep:
//!   grid: { vars.dataset: [ml, bx] }        # optional: the search runs per grid point
//!   search: { method: tpe, trials: 20, seed: 0 }   # `startup: 10` (TPE's random trials),
//!                                                  # `parallel: 1` (trials in flight)
//!   space:
//!     vars.lr: { loguniform: [1e-3, 1e-1] }
//!     vars.experts: { choice: [2, 4, 8] }
//!   objective: { stage: ml_metrics, metric: auc, direction: max }
//! ```
//!
//! Invariants: `search`, `space` and `objective` come together (one without the others is an
//! error at the one written); `trials` is at least 1, `seed` and `startup` are non-negative
//! integers, `startup` only with `tpe`, `parallel` at least 1; `sweep.prune` (ASHA) is read
//! by `crate::prune`; `objective.stage` names a stage of the spec (checked
//! by the loader; the metric is checked against the stage's kind at plan time). Unknown keys
//! are refused with the closest valid one.

use mosx_search::{Direction, Method, Search, DEFAULT_STARTUP};

use crate::error::SpecError;
use crate::node::{Entry, Kind, Node};
use crate::prune::{self, PruneDecl};
use crate::sources::Sources;
use crate::space::{self, SpaceParam};
use crate::suggest::suggest;
use crate::sweep::Axis;

pub const SEARCH_KEYS: &[&str] = &["method", "trials", "seed", "startup", "parallel"];
pub const OBJECTIVE_KEYS: &[&str] = &["stage", "metric", "direction"];

/// A declared search (see the module doc).
#[derive(Clone, Debug)]
pub struct SearchDecl {
    /// Method, seed, TPE startup, the distributions (in `paths` order) and the direction.
    pub search: Search,
    /// Trials per grid point.
    pub trials: usize,
    /// The searched paths, in declared order.
    pub paths: Vec<String>,
    pub objective: Objective,
    /// `sweep.prune` (ASHA), if declared.
    pub prune: Option<PruneDecl>,
    pub(crate) params: Vec<SpaceParam>,
}

/// What a trial is judged by: `metric` of stage `stage` (mean over the replicates).
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    pub stage: String,
    pub metric: String,
    pub direction: Direction,
}

/// Reads the search of `sweep` (`None` without `search`, `space` and `objective`).
pub(crate) fn parse(
    doc: &Node,
    axes: &[Axis],
    sources: &Sources,
) -> Result<Option<SearchDecl>, SpecError> {
    let Some(sweep) = doc.get("sweep").and_then(Node::entries) else {
        return Ok(None);
    };
    let find = |k: &str| sweep.iter().find(|e| e.key == k && !e.value.is_null());
    let (search, space, objective) = match (find("search"), find("space"), find("objective")) {
        (None, None, None) => {
            // `prune` alone is an error at its key.
            prune::parse(doc, false, sources)?;
            return Ok(None);
        }
        (Some(s), Some(p), Some(o)) => (s, p, o),
        (s, p, o) => {
            let written = s.or(p).or(o).expect("one is written");
            let missing: Vec<&str> = [("search", s), ("space", p), ("objective", o)]
                .iter()
                .filter(|(_, e)| e.is_none())
                .map(|(k, _)| *k)
                .collect();
            let msg = format!(
                "a search needs `search`, `space` and `objective`; `{}` missing",
                missing.join("`, `")
            );
            let field = format!("sweep.{}", written.key);
            return Err(sources.error(written.key_loc, field, msg, None));
        }
    };
    let params = space::parse(doc, space, axes, sources)?;
    let (method, trials, seed, startup) = search_fields(search, sources)?;
    let parallel = parallel_field(search, sources)?;
    let objective = objective_fields(objective, sources)?;
    let prune = prune::parse(doc, true, sources)?;
    Ok(Some(SearchDecl {
        search: Search {
            method,
            seed,
            startup,
            space: params.iter().map(|p| p.dist.clone()).collect(),
            direction: objective.direction,
            parallel,
            sequential: prune.is_some(),
        },
        trials,
        paths: params.iter().map(|p| p.path.clone()).collect(),
        objective,
        prune,
        params,
    }))
}

/// The entries of the map `e` (at `sweep.KEY`), every key one of `keys`.
pub(crate) fn fields<'a>(
    e: &'a Entry,
    keys: &[&str],
    sources: &Sources,
) -> Result<&'a [Entry], SpecError> {
    let base = format!("sweep.{}", e.key);
    let Kind::Map(entries) = &e.value.kind else {
        let msg = format!(
            "expected a map with {}, found {}",
            keys.join(", "),
            e.value.describe()
        );
        return Err(sources.error(e.value.loc, base, msg, None));
    };
    for f in entries {
        if !keys.contains(&f.key.as_str()) {
            let hint = suggest(&f.key, keys.iter().copied());
            let field = format!("{base}.{}", f.key);
            return Err(sources.error(f.key_loc, field, "unknown field", hint));
        }
    }
    Ok(entries)
}

/// The value of `key` in `entries` (`None` when absent or null).
pub(crate) fn value<'a>(entries: &'a [Entry], key: &str) -> Option<&'a Node> {
    entries
        .iter()
        .find(|f| f.key == key)
        .map(|f| &f.value)
        .filter(|v| !v.is_null())
}

/// A non-negative integer at `field` (at least `min`).
pub(crate) fn integer(
    n: &Node,
    field: &str,
    min: i64,
    sources: &Sources,
) -> Result<u64, SpecError> {
    match n.kind {
        Kind::Int(i) if i >= min => Ok(i as u64),
        _ => {
            let msg = format!("expected an integer >= {min}, found {}", n.describe());
            Err(sources.error(n.loc, field, msg, None))
        }
    }
}

/// A string at `field` that is one of `names` (when given).
pub(crate) fn word<'a>(
    n: &'a Node,
    field: &str,
    names: Option<&[&str]>,
    sources: &Sources,
) -> Result<&'a str, SpecError> {
    let Some(s) = n.as_str() else {
        let msg = format!("expected a string, found {}", n.describe());
        return Err(sources.error(n.loc, field, msg, None));
    };
    match names {
        Some(names) if !names.contains(&s) => {
            let msg = format!("`{s}` is not one of {}", names.join(", "));
            Err(sources.error(n.loc, field, msg, suggest(s, names.iter().copied())))
        }
        _ => Ok(s),
    }
}

/// A required field `key` of `entries` under `base` (an error at `at` when missing).
fn required<'a>(
    entries: &'a [Entry],
    at: &Entry,
    key: &str,
    sources: &Sources,
) -> Result<&'a Node, SpecError> {
    value(entries, key).ok_or_else(|| {
        let field = format!("sweep.{}", at.key);
        sources.error(at.key_loc, field, format!("missing `{key}`"), None)
    })
}

fn search_fields(e: &Entry, sources: &Sources) -> Result<(Method, usize, u64, usize), SpecError> {
    let entries = fields(e, SEARCH_KEYS, sources)?;
    let m = required(entries, e, "method", sources)?;
    let method = Method::parse(word(
        m,
        "sweep.search.method",
        Some(Method::NAMES),
        sources,
    )?)
    .expect("checked against the names");
    let t = required(entries, e, "trials", sources)?;
    let trials = integer(t, "sweep.search.trials", 1, sources)? as usize;
    let seed = match value(entries, "seed") {
        Some(n) => integer(n, "sweep.search.seed", 0, sources)?,
        None => 0,
    };
    let startup = match value(entries, "startup") {
        Some(n) if method != Method::Tpe => {
            let msg = "`startup` (TPE's initial random trials) applies to `method: tpe` only";
            return Err(sources.error(n.loc, "sweep.search.startup", msg, None));
        }
        Some(n) => integer(n, "sweep.search.startup", 0, sources)? as usize,
        None => DEFAULT_STARTUP,
    };
    Ok((method, trials, seed, startup))
}

/// `parallel` (trials in flight at once, default 1) of `sweep.search`.
fn parallel_field(e: &Entry, sources: &Sources) -> Result<usize, SpecError> {
    let entries = fields(e, SEARCH_KEYS, sources)?;
    Ok(match value(entries, "parallel") {
        Some(n) => integer(n, "sweep.search.parallel", 1, sources)? as usize,
        None => 1,
    })
}

fn objective_fields(e: &Entry, sources: &Sources) -> Result<Objective, SpecError> {
    let entries = fields(e, OBJECTIVE_KEYS, sources)?;
    let stage = word(
        required(entries, e, "stage", sources)?,
        "sweep.objective.stage",
        None,
        sources,
    )?;
    let metric = word(
        required(entries, e, "metric", sources)?,
        "sweep.objective.metric",
        None,
        sources,
    )?;
    let d = required(entries, e, "direction", sources)?;
    let direction = Direction::parse(word(
        d,
        "sweep.objective.direction",
        Some(Direction::NAMES),
        sources,
    )?)
    .expect("checked against the names");
    Ok(Objective {
        stage: stage.to_string(),
        metric: metric.to_string(),
        direction,
    })
}

/// Checks that the objective names one of `stages` (the spec's stage names).
pub(crate) fn check_stage(
    decl: &SearchDecl,
    doc: &Node,
    stages: &[&str],
    sources: &Sources,
) -> Result<(), SpecError> {
    let stage = decl.objective.stage.as_str();
    if stages.contains(&stage) {
        return Ok(());
    }
    let loc = doc
        .get("sweep")
        .and_then(|s| s.get("objective"))
        .and_then(|o| o.get("stage"))
        .map_or(doc.loc, |n| n.loc);
    let msg = format!("no stage `{stage}` in the spec");
    Err(sources.error(
        loc,
        "sweep.objective.stage",
        msg,
        suggest(stage, stages.iter().copied()),
    ))
}

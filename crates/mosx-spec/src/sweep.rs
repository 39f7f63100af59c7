//! `sweep:` parsing and point enumeration. Invariants: axes are the grid paths in declared order,
//! then `seeds` as the axis `vars.seed`; points enumerate the cartesian product with the last axis
//! varying fastest; every grid path starts with `vars.` or `stages.` and its parent exists in the
//! merged document (checked here, reported at the sweep entry's key). `replicates` names grid
//! paths that are repetitions of one experiment (like `seeds`, e.g. a training seed) rather
//! than settings: reports pool them into mean ± sd and pair comparisons on them; it must name
//! grid paths of this sweep. `search`, `space` and `objective` are read by `search`.

use crate::error::SpecError;
use crate::node::{split, Entry, Kind, Loc, Node, PathError};
use crate::sources::Sources;
use crate::suggest::suggest;

/// One swept path and the values it takes (each located where it was written in `sweep`).
#[derive(Clone, Debug)]
pub(crate) struct Axis {
    pub path: String,
    pub key_loc: Loc,
    pub values: Vec<Node>,
    /// A repetition axis (`seeds`, or named in `replicates`), not a setting.
    pub replicate: bool,
}

const SWEEP_KEYS: &[&str] = &[
    "grid",
    "seeds",
    "replicates",
    "search",
    "space",
    "objective",
    "prune",
];
const SEED_PATH: &str = "vars.seed";

/// Reads and checks `sweep` in the merged document; no sweep yields no axes.
pub(crate) fn parse(doc: &Node, sources: &Sources) -> Result<Vec<Axis>, SpecError> {
    let Some(sweep) = doc.get("sweep") else {
        return Ok(Vec::new());
    };
    let entries = match &sweep.kind {
        Kind::Null => return Ok(Vec::new()),
        Kind::Map(e) => e,
        _ => {
            let msg = format!(
                "expected a map with `grid` and/or `seeds`, found {}",
                sweep.type_name()
            );
            return Err(sources.error(sweep.loc, "sweep", msg, None));
        }
    };
    let mut axes = Vec::new();
    let mut seeds: Option<Axis> = None;
    for e in entries {
        let field = format!("sweep.{}", e.key);
        match e.key.as_str() {
            "grid" => axes.extend(grid_axes(doc, e, &field, sources)?),
            "seeds" => {
                if !e.value.is_null() {
                    let values = values_of(&e.value, &field, sources)?;
                    seeds = Some(Axis {
                        path: SEED_PATH.to_string(),
                        key_loc: e.key_loc,
                        values,
                        replicate: true,
                    });
                }
            }
            // Read by `search::parse`.
            "replicates" | "search" | "space" | "objective" | "prune" => {}
            other => {
                let hint = suggest(other, SWEEP_KEYS.iter().copied());
                return Err(sources.error(e.key_loc, field, "unknown field", hint));
            }
        }
    }
    if let Some(s) = seeds {
        if axes.iter().any(|a| a.path == SEED_PATH) {
            let msg = "`seeds` and the grid path `vars.seed` both sweep the seed; keep one";
            return Err(sources.error(s.key_loc, "sweep.seeds", msg, None));
        }
        axes.push(s);
    }
    if let Some(r) = sweep.get("replicates") {
        mark_replicates(r, &mut axes, sources)?;
    }
    Ok(axes)
}

/// The axes of the `grid` entry `e` (at `field`), in declared order, each path checked.
fn grid_axes(
    doc: &Node,
    e: &Entry,
    field: &str,
    sources: &Sources,
) -> Result<Vec<Axis>, SpecError> {
    let grid = match &e.value.kind {
        Kind::Null => return Ok(Vec::new()),
        Kind::Map(grid) => grid,
        _ => {
            let msg = format!(
                "expected a map of path -> list of values, found {}",
                e.value.type_name()
            );
            return Err(sources.error(e.value.loc, field, msg, None));
        }
    };
    let mut axes = Vec::with_capacity(grid.len());
    for g in grid {
        let gfield = format!("sweep.grid.{}", g.key);
        check_path(doc, &g.key, g.key_loc, &gfield, sources)?;
        let values = values_of(&g.value, &gfield, sources)?;
        axes.push(Axis {
            path: g.key.clone(),
            key_loc: g.key_loc,
            values,
            replicate: false,
        });
    }
    Ok(axes)
}

/// Marks the axes that `replicates` (the node `r`) names as repetitions; each must be one.
fn mark_replicates(r: &Node, axes: &mut [Axis], sources: &Sources) -> Result<(), SpecError> {
    let items = match &r.kind {
        Kind::Null => &[][..],
        Kind::Seq(items) => items.as_slice(),
        _ => {
            let msg = format!("expected a list of grid paths, found {}", r.type_name());
            return Err(sources.error(r.loc, "sweep.replicates", msg, None));
        }
    };
    for (i, item) in items.iter().enumerate() {
        let field = format!("sweep.replicates.{i}");
        let path = item.as_str().unwrap_or_default();
        match axes.iter_mut().find(|a| a.path == path) {
            Some(a) => a.replicate = true,
            None => {
                let grid = axes.iter().map(|a| a.path.as_str());
                let msg = format!("{} is not a grid path of this sweep", item.describe());
                return Err(sources.error(item.loc, field, msg, suggest(path, grid)));
            }
        }
    }
    Ok(())
}

fn values_of(n: &Node, field: &str, sources: &Sources) -> Result<Vec<Node>, SpecError> {
    match &n.kind {
        Kind::Seq(items) if !items.is_empty() => Ok(items.clone()),
        Kind::Seq(_) => {
            Err(sources.error(n.loc, field, "expected a non-empty list of values", None))
        }
        _ => Err(sources.error(
            n.loc,
            field,
            format!("expected a list of values, found {}", n.type_name()),
            None,
        )),
    }
}

pub(crate) fn check_path(
    doc: &Node,
    path: &str,
    loc: Loc,
    field: &str,
    sources: &Sources,
) -> Result<(), SpecError> {
    let segs = split(path);
    if segs.iter().any(|s| s.is_empty()) || segs.len() < 2 || !matches!(segs[0], "vars" | "stages")
    {
        let msg =
            format!("`{path}` is not a sweepable path: it must start with `vars.` or `stages.`");
        return Err(sources.error(loc, field, msg, None));
    }
    match doc.check_parent(&segs) {
        Ok(()) => Ok(()),
        Err(PathError::Missing { depth }) => {
            let parent = doc.walk(&segs[..depth]).1;
            let keys = parent
                .entries()
                .unwrap_or(&[])
                .iter()
                .map(|e| e.key.as_str());
            let hint = suggest(segs[depth], keys).map(|s| {
                let mut fixed: Vec<&str> = segs.clone();
                fixed[depth] = &s;
                fixed.join(".")
            });
            let msg = format!(
                "`{}` does not exist, so `{path}` cannot be set",
                segs[..=depth].join(".")
            );
            Err(sources.error(loc, field, msg, hint))
        }
        Err(PathError::NotContainer { depth, found }) => {
            let msg = format!(
                "`{}` is {found}, so `{path}` cannot be set",
                segs[..depth].join(".")
            );
            Err(sources.error(loc, field, msg, None))
        }
    }
}

/// Number of points (product of axis lengths; 1 without axes), or an error on overflow.
pub(crate) fn point_count(axes: &[Axis], sources: &Sources) -> Result<usize, SpecError> {
    axes.iter().try_fold(1usize, |acc, a| {
        acc.checked_mul(a.values.len()).ok_or_else(|| {
            sources.error(
                a.key_loc,
                format!("sweep.{}", a.path),
                "the sweep has too many points",
                None,
            )
        })
    })
}

/// The value index of each axis for point `index` (last axis fastest).
pub(crate) fn choices(axes: &[Axis], mut index: usize) -> Vec<usize> {
    let mut out = vec![0; axes.len()];
    for (slot, a) in out.iter_mut().zip(axes).rev() {
        *slot = index % a.values.len();
        index /= a.values.len();
    }
    out
}

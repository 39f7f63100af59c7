//! `sweep.space`: the distribution of each searched path.
//!
//! ```yaml
//! space:
//!   vars.lr: { loguniform: [1e-3, 1e-1] }
//!   vars.experts: { choice: [2, 4, 8] }
//! ```
//!
//! Invariants: every path is sweepable like a grid path (starts with `vars.` or `stages.`,
//! its parent exists), is not also a grid path, and maps to exactly one distribution of
//! [`mosx_search::DIST_NAMES`]; `uniform`/`loguniform`/`int` take `[lo, hi]` (numbers;
//! integers for `int`), `choice` a non-empty list of scalars. Errors are located at the
//! offending key or value.

use mosx_search::{Dist, DIST_NAMES};

use crate::error::SpecError;
use crate::node::{Entry, Kind, Loc, Node};
use crate::sources::Sources;
use crate::suggest::suggest;
use crate::sweep::{check_path, Axis};

/// One searched path: its distribution and where its key was written.
#[derive(Clone, Debug)]
pub(crate) struct SpaceParam {
    pub path: String,
    pub key_loc: Loc,
    pub dist: Dist,
}

/// Parses the `space` entry `e` of `sweep` (`axes` are the grid's).
pub(crate) fn parse(
    doc: &Node,
    e: &Entry,
    axes: &[Axis],
    sources: &Sources,
) -> Result<Vec<SpaceParam>, SpecError> {
    let entries = match &e.value.kind {
        Kind::Map(entries) if !entries.is_empty() => entries,
        _ => {
            let msg = format!(
                "expected a non-empty map of path -> distribution, found {}",
                e.value.describe()
            );
            return Err(sources.error(e.value.loc, "sweep.space", msg, None));
        }
    };
    let mut out = Vec::with_capacity(entries.len());
    for p in entries {
        let field = format!("sweep.space.{}", p.key);
        check_path(doc, &p.key, p.key_loc, &field, sources)?;
        if axes.iter().any(|a| a.path == p.key) {
            let msg = format!("`{}` is both a grid path and searched; keep one", p.key);
            return Err(sources.error(p.key_loc, field, msg, None));
        }
        out.push(SpaceParam {
            path: p.key.clone(),
            key_loc: p.key_loc,
            dist: dist_of(&p.value, &field, sources)?,
        });
    }
    Ok(out)
}

/// The distribution `{ NAME: ARGS }` at `field`.
fn dist_of(n: &Node, field: &str, sources: &Sources) -> Result<Dist, SpecError> {
    let one = match &n.kind {
        Kind::Map(entries) if entries.len() == 1 => &entries[0],
        _ => {
            let msg = format!(
                "expected one distribution ({}), e.g. `{{ loguniform: [1e-3, 1e-1] }}`, found {}",
                DIST_NAMES.join(", "),
                n.describe()
            );
            return Err(sources.error(n.loc, field, msg, None));
        }
    };
    let dfield = format!("{field}.{}", one.key);
    if !DIST_NAMES.contains(&one.key.as_str()) {
        let msg = format!(
            "unknown distribution `{}`; one of {}",
            one.key,
            DIST_NAMES.join(", ")
        );
        let hint = suggest(&one.key, DIST_NAMES.iter().copied());
        return Err(sources.error(one.key_loc, dfield, msg, hint));
    }
    let items = match &one.value.kind {
        Kind::Seq(items) => items,
        _ => {
            let msg = format!("expected a list, found {}", one.value.describe());
            return Err(sources.error(one.value.loc, dfield, msg, None));
        }
    };
    if one.key == "choice" {
        let values = items
            .iter()
            .map(|i| match i.kind {
                Kind::Seq(_) | Kind::Map(_) => Err(i.loc),
                _ => i.to_json(),
            })
            .collect::<Result<Vec<_>, Loc>>()
            .map_err(|loc| {
                sources.error(loc, dfield.as_str(), "choices must be finite scalars", None)
            })?;
        return Dist::new_choice(values)
            .map_err(|e| sources.error(one.value.loc, dfield.as_str(), e.to_string(), None));
    }
    let bounds: Vec<f64> = items
        .iter()
        .filter_map(|i| match i.kind {
            Kind::Int(x) => Some(x as f64),
            Kind::Float(x) => Some(x),
            _ => None,
        })
        .collect();
    if items.len() != 2 || bounds.len() != 2 {
        let msg = format!(
            "expected two numbers [lo, hi], found {}",
            one.value.describe()
        );
        return Err(sources.error(one.value.loc, dfield, msg, None));
    }
    Dist::new_range(&one.key, bounds[0], bounds[1])
        .map_err(|e| sources.error(one.value.loc, dfield, e.to_string(), None))
}

/// The value a search path takes where no trial sets it (the spec's own check of its stages
/// and `mosx dag` of the search itself): the lower bound, or the first choice.
pub(crate) fn representative(d: &Dist) -> serde_json::Value {
    match d {
        Dist::Uniform { lo, .. } | Dist::LogUniform { lo, .. } => serde_json::Value::from(*lo),
        Dist::Int { lo, .. } => serde_json::Value::from(*lo),
        Dist::Choice(v) => v[0].clone(),
    }
}

/// A scalar JSON value as a document node located at `loc`.
pub(crate) fn node_of(v: &serde_json::Value, loc: Loc) -> Node {
    use serde_json::Value;
    let kind = match v {
        Value::Null => Kind::Null,
        Value::Bool(b) => Kind::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Kind::Int(i),
            None => Kind::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Kind::Str(s.clone()),
        // Choices are scalars (checked when parsed).
        Value::Array(_) | Value::Object(_) => Kind::Null,
    };
    Node::new(kind, loc)
}

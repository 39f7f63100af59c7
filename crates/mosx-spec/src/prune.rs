//! `sweep.prune`: ASHA pruning of a search's trials (issue 19).
//!
//! ```yaml
//! sweep:
//!   search: { method: random, trials: 9, parallel: 3 }
//!   prune: { method: asha, metric: valid_auc, min_epochs: 1, reduction_factor: 3 }
//! ```
//!
//! Invariants: `prune` needs a `search` (an error at `sweep.prune` otherwise); `method` is
//! `asha`, `metric` is `valid_auc` (the only per-epoch metric the trainer logs; maximised),
//! `min_epochs` ≥ 1 (default 1), `reduction_factor` ≥ 2 (default 3); `stage` names the
//! pruned training, by default the spec's one stage of `kind: train` (checked by the
//! loader: none or several is an error at `sweep.prune`). Unknown keys are refused with the
//! closest valid one.

use crate::error::SpecError;
use crate::node::{Entry, Kind, Loc, Node};
use crate::search::{fields, integer, value, word};
use crate::sources::Sources;
use crate::suggest::suggest;

pub const PRUNE_KEYS: &[&str] = &[
    "method",
    "metric",
    "min_epochs",
    "reduction_factor",
    "stage",
];
pub const PRUNE_METHODS: &[&str] = &["asha"];
pub const PRUNE_METRICS: &[&str] = &["valid_auc"];

/// A declared pruning (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub struct PruneDecl {
    pub metric: String,
    pub min_epochs: usize,
    pub reduction_factor: usize,
    /// The pruned `train` stage.
    pub stage: String,
}

/// Reads `sweep.prune` (`None` without it); `has_search`: whether `sweep.search` is written.
pub(crate) fn parse(
    doc: &Node,
    has_search: bool,
    sources: &Sources,
) -> Result<Option<PruneDecl>, SpecError> {
    let Some(e) = doc
        .get("sweep")
        .and_then(Node::entries)
        .and_then(|s| s.iter().find(|e| e.key == "prune" && !e.value.is_null()))
    else {
        return Ok(None);
    };
    if !has_search {
        let msg =
            "`prune` stops the trials of a search: it needs `search`, `space` and `objective`";
        return Err(sources.error(e.key_loc, "sweep.prune", msg, None));
    }
    let entries = fields(e, PRUNE_KEYS, sources)?;
    if let Some(m) = value(entries, "method") {
        word(m, "sweep.prune.method", Some(PRUNE_METHODS), sources)?;
    } else {
        return Err(missing(e, "method", sources));
    }
    let metric = match value(entries, "metric") {
        Some(m) => word(m, "sweep.prune.metric", Some(PRUNE_METRICS), sources)?,
        None => PRUNE_METRICS[0],
    };
    let min_epochs = match value(entries, "min_epochs") {
        Some(n) => integer(n, "sweep.prune.min_epochs", 1, sources)? as usize,
        None => 1,
    };
    let reduction_factor = match value(entries, "reduction_factor") {
        Some(n) => integer(n, "sweep.prune.reduction_factor", 2, sources)? as usize,
        None => 3,
    };
    let stage = train_stage(doc, e, entries, sources)?;
    Ok(Some(PruneDecl {
        metric: metric.to_string(),
        min_epochs,
        reduction_factor,
        stage,
    }))
}

fn missing(e: &Entry, key: &str, sources: &Sources) -> SpecError {
    sources.error(e.key_loc, "sweep.prune", format!("missing `{key}`"), None)
}

/// The pruned stage: `stage` if written (a stage of `kind: train`), else the one such stage.
fn train_stage(
    doc: &Node,
    e: &Entry,
    entries: &[Entry],
    sources: &Sources,
) -> Result<String, SpecError> {
    let stages: Vec<(&str, Option<&str>)> = doc
        .get("stages")
        .and_then(Node::entries)
        .unwrap_or(&[])
        .iter()
        .map(|s| {
            let kind = s.value.get("kind").and_then(Node::as_str);
            (s.key.as_str(), kind)
        })
        .collect();
    let trains: Vec<&str> = stages
        .iter()
        .filter(|(_, k)| *k == Some("train"))
        .map(|(n, _)| *n)
        .collect();
    if let Some(n) = value(entries, "stage") {
        let name = word(n, "sweep.prune.stage", None, sources)?;
        if trains.contains(&name) {
            return Ok(name.to_string());
        }
        let msg = format!("no stage `{name}` of `kind: train` in the spec");
        let hint = suggest(name, trains.iter().copied());
        return Err(sources.error(n.loc, "sweep.prune.stage", msg, hint));
    }
    match trains.as_slice() {
        [one] => Ok(one.to_string()),
        [] => {
            let msg = "ASHA stops a training: the spec has no stage of `kind: train`";
            Err(sources.error(e.key_loc, "sweep.prune", msg, None))
        }
        many => {
            let msg = format!(
                "several stages of `kind: train` ({}): name the pruned one with `stage`",
                many.join(", ")
            );
            Err(sources.error(e.key_loc, "sweep.prune", msg, None))
        }
    }
}

/// A JSON value as a document node located at `loc` (maps and sequences included).
pub(crate) fn node_of_json(v: &serde_json::Value, loc: Loc) -> Node {
    use serde_json::Value;
    let kind = match v {
        Value::Array(items) => Kind::Seq(items.iter().map(|x| node_of_json(x, loc)).collect()),
        Value::Object(m) => Kind::Map(
            m.iter()
                .map(|(k, x)| Entry {
                    key: k.clone(),
                    key_loc: loc,
                    value: node_of_json(x, loc),
                })
                .collect(),
        ),
        other => return crate::space::node_of(other, loc),
    };
    Node::new(kind, loc)
}

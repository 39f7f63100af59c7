//! Fresh or Dirty(reason): why a stage will (re)run, for `--explain` and `--dry-run`.
//!
//! The reason compares the stage's new fingerprint with the one last recorded for
//! the same node name of the same spec (the store's lineage table).

use mosx_store::{CacheCheck, MissReason, Store};

use crate::plan::fingerprint::{diff, Change, Parts};
use crate::plan::Node;

#[derive(Debug, Clone)]
pub enum Status {
    Fresh,
    Dirty(Reason),
}

#[derive(Debug, Clone)]
pub enum Reason {
    /// No earlier fingerprint for this node name and no cached result.
    NeverBuilt,
    /// The fingerprint changed since the last run of this node.
    Changed(Vec<Change>),
    /// Same fingerprint, but the cached result is missing or damaged.
    Missing(MissReason),
    /// `--force` matched the node.
    Forced,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::NeverBuilt => write!(f, "never built"),
            Reason::Changed(c) if c.is_empty() => write!(f, "fingerprint changed"),
            Reason::Changed(c) => {
                let parts: Vec<String> = c.iter().map(|x| x.to_string()).collect();
                write!(f, "{}", parts.join("; "))
            }
            Reason::Missing(m) => write!(f, "cached result unusable: {m}"),
            Reason::Forced => write!(f, "forced (--force)"),
        }
    }
}

/// Decide Fresh/Dirty for `node` given its cache check.
pub fn status(
    store: Option<&dyn Store>,
    scope: &str,
    node: &Node,
    check: &CacheCheck,
    forced: bool,
) -> Status {
    if forced {
        return Status::Dirty(Reason::Forced);
    }
    match check {
        CacheCheck::Hit => Status::Fresh,
        CacheCheck::Miss(miss) => {
            let previous = store.and_then(|s| s.lineage_get(scope, &node.name).ok().flatten());
            match previous {
                Some((old_key, old_parts)) if old_key != node.key => {
                    match serde_json::from_value::<Parts>(old_parts) {
                        Ok(old) => Status::Dirty(Reason::Changed(diff(&old, &node.parts))),
                        Err(_) => Status::Dirty(Reason::Changed(Vec::new())),
                    }
                }
                Some(_) => Status::Dirty(Reason::Missing(miss.clone())),
                None => match miss {
                    MissReason::NotFound => Status::Dirty(Reason::NeverBuilt),
                    other => Status::Dirty(Reason::Missing(other.clone())),
                },
            }
        }
    }
}

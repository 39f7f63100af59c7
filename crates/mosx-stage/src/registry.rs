//! A set of stage kinds by name: the planner's is every kind a spec may name
//! (`mosx::stages::registry::builtin`), the worker's the kinds it runs ([`crate::kinds::worker`]).

use std::collections::BTreeMap;

use crate::kind::KindRef;

pub struct Registry {
    kinds: BTreeMap<&'static str, KindRef>,
}

impl Registry {
    /// The registry of `kinds` (a later kind of the same name replaces an earlier one).
    pub fn new(kinds: Vec<KindRef>) -> Registry {
        Registry {
            kinds: kinds.into_iter().map(|k| (k.name(), k)).collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&KindRef> {
        self.kinds.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }
}

//! The set of stage kinds a spec may name.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    evaluate::Evaluate, load::Load, measure::Measure, metrics::Metrics, sample::Sample,
    split::Split, train::Train, KindRef,
};

pub struct Registry {
    kinds: BTreeMap<&'static str, KindRef>,
}

impl Registry {
    /// Every stage kind mosx ships.
    pub fn builtin() -> Registry {
        let all: Vec<KindRef> = vec![
            Arc::new(Load),
            Arc::new(Sample),
            Arc::new(Split),
            Arc::new(Measure),
            Arc::new(Train),
            Arc::new(Evaluate),
            Arc::new(Metrics),
            Arc::new(super::baseline::Baseline),
        ];
        Registry {
            kinds: all.into_iter().map(|k| (k.name(), k)).collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&KindRef> {
        self.kinds.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }
}

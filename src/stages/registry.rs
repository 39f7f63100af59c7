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

#[cfg(test)]
mod tests {
    use super::super::{Execution, Resource};
    use super::Registry;

    /// The device is serialised by its worker, so a kind that needs the device must execute
    /// there; and only the kinds that need libtorch do.
    #[test]
    fn device_kinds_execute_in_the_worker() {
        let reg = Registry::builtin();
        for name in reg.names() {
            let kind = reg.get(name).unwrap();
            let device = kind.resource(&serde_json::json!({})) == Resource::Device;
            assert_eq!(
                kind.execution() == Execution::Worker,
                device,
                "stage kind `{name}`"
            );
        }
        for name in ["train", "evaluate"] {
            assert_eq!(reg.get(name).unwrap().execution(), Execution::Worker);
        }
    }
}

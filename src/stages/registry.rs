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

    /// The names a source file writes with `out.metric(...)`: literals, and `format!`
    /// patterns with each `{...}` as `{}`.
    fn written_metrics(src: &str) -> Vec<String> {
        let mut out = Vec::new();
        for piece in src.split(".metric(").skip(1) {
            let rest = piece.trim_start();
            let rest = rest.strip_prefix("format!(").unwrap_or(rest).trim_start();
            let Some(lit) = rest.strip_prefix('"') else {
                continue;
            };
            let name = lit.split('"').next().unwrap_or_default();
            let mut norm = String::new();
            let mut depth = 0;
            for c in name.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        norm.push_str("{}");
                    }
                    '}' => depth -= 1,
                    _ if depth == 0 => norm.push(c),
                    _ => {}
                }
            }
            out.push(norm);
        }
        out
    }

    /// A declared pattern with `{group}`/`{epoch}` as `{}`, as [`written_metrics`] gives it.
    fn as_written(pattern: &str) -> String {
        pattern.replace("{group}", "{}").replace("{epoch}", "{}")
    }

    /// Claims are checked against [`super::super::StageKind::metrics`]: every metric a kind's
    /// code writes must be declared, and every declared one written, or a claim on a real
    /// metric would be refused (or one on a missing metric let through).
    #[test]
    fn each_kind_declares_exactly_the_metrics_its_code_writes() {
        let sources: &[(&str, &str)] = &[
            ("load", include_str!("load.rs")),
            ("sample", include_str!("sample.rs")),
            ("split", include_str!("split.rs")),
            ("measure", include_str!("measure.rs")),
            ("metrics", include_str!("metrics.rs")),
            ("baseline", include_str!("baseline.rs")),
            (
                "train",
                include_str!("../../crates/mosx-worker/src/runners/train.rs"),
            ),
            (
                "evaluate",
                include_str!("../../crates/mosx-worker/src/runners/evaluate.rs"),
            ),
        ];
        let reg = Registry::builtin();
        assert_eq!(sources.len(), reg.names().count(), "a kind is not covered");
        for (name, src) in sources {
            let kind = reg.get(name).unwrap();
            let declared: Vec<String> = kind.metrics().iter().map(|p| as_written(p)).collect();
            let written = written_metrics(src);
            assert!(!written.is_empty(), "{name}: no metric found in its source");
            for w in &written {
                assert!(
                    declared.contains(w),
                    "{name} writes `{w}` but does not declare it"
                );
            }
            for d in &declared {
                assert!(
                    written.contains(d),
                    "{name} declares `{d}` but never writes it"
                );
            }
        }
    }

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

//! The set of stage kinds a spec may name: [`builtin`].

use std::sync::Arc;

use mosx_stage::KindRef;
pub use mosx_stage::Registry;

use crate::{
    baseline::Baseline, candidates::Candidates, evaluate::Evaluate, load::Load, measure::Measure,
    metrics::Metrics, sample::Sample, split::Split, train::Train,
};

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
        Arc::new(Baseline),
        Arc::new(Candidates),
    ];
    Registry::new(all)
}

#[cfg(test)]
mod tests {
    use mosx_config::log::{
        EpochLog, GroupWeights, RoutingShares, StepLog, TrainLog, INTERNAL_METRICS,
    };
    use mosx_stage::kind::metric_matches as matches;
    use mosx_stage::{Execution, Resource};

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

    /// A declared pattern with `{group}`/`{epoch}`/`{k}` as `{}`, as [`written_metrics`] gives it.
    fn as_written(pattern: &str) -> String {
        pattern
            .replace("{group}", "{}")
            .replace("{epoch}", "{}")
            .replace("{k}", "{}")
    }

    /// Claims are checked against [`mosx_stage::StageKind::metrics`]: every metric a kind's
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
            ("candidates", include_str!("candidates.rs")),
            (
                "train",
                include_str!("../../mosx-worker/src/runners/train.rs"),
            ),
            (
                "evaluate",
                include_str!("../../mosx-worker/src/runners/evaluate.rs"),
            ),
        ];
        let reg = super::builtin();
        assert_eq!(sources.len(), reg.names().count(), "a kind is not covered");
        for (name, src) in sources {
            let kind = reg.get(name).unwrap();
            // The training log's internals are written through `TrainLog::internal_metrics`,
            // checked on a full log below.
            let internal = |p: &&&str| *name == "train" && INTERNAL_METRICS.contains(p);
            let declared: Vec<String> = kind
                .metrics()
                .iter()
                .filter(|p| !internal(p))
                .map(|p| as_written(p))
                .collect();
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

    /// A training log with every internal a method can have (routing tables, a watched
    /// gradient set, IFairLRS weights, UP5 discriminator accuracies).
    fn full_log() -> TrainLog {
        let epoch = |e: usize| EpochLog {
            epoch: e,
            train_loss: 1.0,
            valid_loss: 1.0,
            valid_auc: 0.5,
            seconds: 1.0,
            samples_per_s: 1.0,
            routing: Some(RoutingShares {
                train: vec![vec![0.5, 0.5]; 2],
                valid: vec![vec![0.5, 0.5]; 2],
            }),
            grad_norms: [("router".to_string(), 0.1)].into(),
            disc_acc: Some(0.6),
        };
        let step = StepLog {
            epoch: 0,
            step: 0,
            lr: 0.1,
            loss: 1.0,
            parts: Default::default(),
            grad_norms: [("router".to_string(), 0.1)].into(),
        };
        TrainLog {
            steps: vec![step],
            epochs: vec![epoch(0), epoch(1)],
            best_epoch: Some(1),
            train_p_h: vec![0.3, 0.2],
            base_routing_valid: Some(vec![vec![0.5, 0.5]; 2]),
            group_weights: Some(GroupWeights {
                groups: vec![Some(0.9), Some(1.1)],
                neutral: 1.0,
            }),
            disc_chance: Some(0.55),
            ..TrainLog::default()
        }
    }

    /// The internals half of the check above: the runner writes `internal_metrics`, every
    /// name a full log gives is declared by the `train` kind (so a claim on it validates),
    /// and every declared internal pattern is written by some method's log.
    #[test]
    fn the_train_kind_declares_every_internal_metric_a_full_log_writes() {
        let runner = include_str!("../../mosx-worker/src/runners/train.rs");
        assert!(runner.contains("log.internal_metrics(&ds.groups)"));
        let groups = vec!["male".to_string(), "female".to_string()];
        let names: Vec<String> = full_log()
            .internal_metrics(&groups)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let kind = super::builtin().get("train").unwrap().clone();
        for n in &names {
            assert!(
                kind.metrics()
                    .iter()
                    .any(|p| matches(p, n, Some(&groups), Some(2))),
                "train writes `{n}` but does not declare it"
            );
        }
        for p in INTERNAL_METRICS {
            assert!(kind.metrics().contains(p), "`{p}` is not declared by train");
            assert!(
                names.iter().any(|n| matches(p, n, Some(&groups), Some(2))),
                "`{p}` is declared but no log writes it: {names:?}"
            );
        }
        // Epoch-indexed internals use the runner's 0-based epochs.
        for n in ["router_grad_norm.epoch.0", "up5.disc_acc.epoch.1"] {
            assert!(names.iter().any(|x| x == n), "{n}: {names:?}");
        }
    }

    /// The device is serialised by its worker, so a kind that needs the device must execute
    /// there; and only the kinds that need libtorch do.
    #[test]
    fn device_kinds_execute_in_the_worker() {
        let reg = super::builtin();
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

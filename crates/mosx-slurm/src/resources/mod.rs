//! What a job asks of the cluster: partition, time limit, memory, CPUs per task, generic
//! resources (GPUs).
//!
//! Invariants:
//! * A value of these types is valid Slurm syntax: every constructor (`FromStr`,
//!   `Deserialize`) validates, so `sbatch` never sees a malformed `--time`, `--mem`,
//!   `--gres` or `--partition`. Whether the cluster can satisfy it (a partition that
//!   exists, memory a node has) is only known to `sbatch`, which rejects the job.
//! * A [`ResourceError`] names the field (`time`, `mem`, `gres`, `partition`) and the
//!   rejected value, so a spec error reads `stages.x.resources.mem: invalid mem `4X`: …`
//!   under a serde path.
//! * Values serialize back to a string Slurm accepts and that parses to the same value
//!   (`"90"` minutes round-trips as `"0-01:30:00"`, `"4G"` as `"4096M"`).
//! * [`Resources`] is strict (`deny_unknown_fields`); every field is optional and an
//!   absent field leaves Slurm's default (the partition's `DefaultTime`, `DefMemPerCPU`, …).
//!
//! Layout: this module ([`Resources`], how entries merge and the `sbatch` options they give,
//! and [`ResourceError`]), `limits` ([`TimeLimit`], [`Memory`]: numbers with units),
//! `names` ([`Gres`], [`Partition`]: validated strings) and `serde_str` (their serde as
//! strings). Every public item is re-exported here.

mod limits;
mod names;
mod serde_str;

pub use limits::{Memory, TimeLimit};
pub use names::{Gres, Partition};

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

/// A resource value that is not valid Slurm syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field} `{value}`: {reason}")]
pub struct ResourceError {
    /// The [`Resources`] field: `partition`, `time`, `mem` or `gres`.
    pub field: &'static str,
    /// The value as given.
    pub value: String,
    /// What is wrong with it, and what is expected.
    pub reason: &'static str,
}

impl ResourceError {
    fn new(field: &'static str, value: &str, reason: &'static str) -> Self {
        ResourceError {
            field,
            value: value.to_string(),
            reason,
        }
    }
}

/// What a job asks of the cluster. Every field is optional; `None` leaves Slurm's
/// default. Deserializes strictly from a spec (`resources: { time: "2:00:00", mem: 4G }`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// `--partition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Partition>,
    /// `--time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeLimit>,
    /// `--mem` (per node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<Memory>,
    /// `--cpus-per-task` (the job is one task). Also read as `cpus`, the key of a
    /// mosx spec's `resources:` entries.
    #[serde(default, alias = "cpus", skip_serializing_if = "Option::is_none")]
    pub cpus_per_task: Option<NonZeroU32>,
    /// `--gres`, e.g. `gpu:1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gres: Option<Gres>,
}

impl Resources {
    /// These resources, with each field that is `None` taken from `defaults` (e.g. a
    /// stage's own resources over its kind's).
    pub fn or(self, defaults: &Resources) -> Resources {
        Resources {
            partition: self.partition.or_else(|| defaults.partition.clone()),
            time: self.time.or(defaults.time),
            mem: self.mem.or(defaults.mem),
            cpus_per_task: self.cpus_per_task.or(defaults.cpus_per_task),
            gres: self.gres.or_else(|| defaults.gres.clone()),
        }
    }

    /// The `sbatch` options these resources give, in a fixed order.
    pub(crate) fn sbatch_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(p) = &self.partition {
            args.push(format!("--partition={p}"));
        }
        if let Some(t) = &self.time {
            args.push(format!("--time={t}"));
        }
        if let Some(m) = &self.mem {
            args.push(format!("--mem={m}"));
        }
        if let Some(c) = &self.cpus_per_task {
            args.push(format!("--cpus-per-task={c}"));
        }
        if let Some(g) = &self.gres {
            args.push(format!("--gres={g}"));
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbatch_options_in_fixed_order() {
        let r = Resources {
            partition: Some("main".parse().unwrap()),
            time: Some("1:00:00".parse().unwrap()),
            mem: Some("2G".parse().unwrap()),
            cpus_per_task: NonZeroU32::new(4),
            gres: Some("gpu:1".parse().unwrap()),
        };
        assert_eq!(
            r.sbatch_args(),
            [
                "--partition=main",
                "--time=0-01:00:00",
                "--mem=2048M",
                "--cpus-per-task=4",
                "--gres=gpu:1"
            ]
        );
        assert!(Resources::default().sbatch_args().is_empty());
    }

    #[test]
    fn or_fills_only_missing_fields() {
        let kind = Resources {
            partition: Some("gpu".parse().unwrap()),
            time: Some("60".parse().unwrap()),
            gres: Some("gpu:1".parse().unwrap()),
            ..Resources::default()
        };
        let stage = Resources {
            time: Some("10".parse().unwrap()),
            ..Resources::default()
        };
        let merged = stage.or(&kind);
        assert_eq!(merged.time, Some(TimeLimit::Seconds(600)));
        assert_eq!(merged.partition, kind.partition);
        assert_eq!(merged.gres, kind.gres);
        assert_eq!(merged.mem, None);
    }
}

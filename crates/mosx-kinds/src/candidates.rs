//! Stage `candidates`: the candidate lists of the ranking protocol, drawn once so that every
//! method ranked on them (each `evaluate` with `protocol: ranking` bound to this stage) ranks
//! the same lists.
//!
//! For each point of the split's `part` (spread down to `max_points`, as `evaluate` does):
//! its target and `negatives` items its user never interacted with in the whole loaded data,
//! sampled uniformly with `seed` (`mosx_data::sample_candidates` states the invariants). Runs
//! in-process; its artifact is a [`mosx_data::Candidates`] (`mosx export` writes it as one
//! row per candidate).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::artifacts::{self, slot, ARTIFACTS_UNIT};
use mosx_stage::params::{self, Bound};
use mosx_stage::predictions::{part_points, Part};
use mosx_stage::{Output, ParamError, Slot, StageCtx, StageError, StageKind};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Negatives per list (the list holds `negatives + 1` items).
    #[serde(default = "default_negatives")]
    negatives: usize,
    #[serde(default)]
    seed: u64,
    #[serde(default = "default_part")]
    part: Part,
    /// List N points of the part, evenly spaced over it; `null`: all.
    #[serde(default)]
    max_points: Option<usize>,
}
fn default_negatives() -> usize {
    19
}
fn default_part() -> Part {
    Part::Test
}

/// The kind's name in specs (`kind: candidates`).
pub const NAME: &str = "candidates";

pub struct Candidates;

impl StageKind for Candidates {
    fn name(&self) -> &'static str {
        NAME
    }
    fn code_version(&self) -> u32 {
        1
    }
    fn code(&self) -> &'static [&'static str] {
        &[
            "mosx-data",
            "crates/mosx-kinds/src/candidates.rs",
            ARTIFACTS_UNIT,
        ]
    }
    fn about(&self) -> &'static str {
        "sample each test point's ranking candidates: its target and never-interacted negatives"
    }
    fn metrics(&self) -> &'static [&'static str] {
        &["n", "negatives"]
    }
    fn slots(&self) -> &'static [Slot] {
        const SLOTS: &[Slot] = &[
            Slot::given(slot::SPLIT),
            Slot::inferred(slot::SEQUENCES),
            Slot::inferred(slot::DATASET),
        ];
        SLOTS
    }
    fn normalize(&self, p: &serde_json::Map<String, Value>) -> Result<Value, ParamError> {
        let (typed, v) = params::parse::<Params>(p)?;
        params::check(&[
            Bound::at_least("negatives", typed.negatives, 1),
            Bound::cap("max_points", typed.max_points),
        ])?;
        Ok(v)
    }
    fn run(&self, ctx: &StageCtx<'_>) -> Result<Output, StageError> {
        let p: Params = params::typed(ctx.params)?;
        let ds = ctx.inputs.read(slot::DATASET, &artifacts::DATASET)?;
        let seq = ctx.inputs.read(slot::SEQUENCES, &artifacts::SEQUENCES)?;
        let split = ctx.inputs.read(slot::SPLIT, &artifacts::SPLIT)?;
        let idx = part_points(&split, p.part, p.max_points);
        let c = mosx_data::sample_candidates(&ds, &seq, &idx, p.negatives, p.seed)
            .map_err(|e| ctx.data_error(e, |_| None))?;
        let mut out = Output::default();
        out.metric("n", c.lists.len() as f64);
        out.metric("negatives", c.negatives as f64);
        out.write(&artifacts::CANDIDATES, &c)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_nineteen_negatives_of_the_test_part() {
        let v = Candidates.normalize(&serde_json::Map::new()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"negatives": 19, "seed": 0, "part": "test", "max_points": null})
        );
        let mut m = serde_json::Map::new();
        m.insert("negatives".into(), 0.into());
        assert_eq!(Candidates.normalize(&m).unwrap_err().field, "negatives");
    }
}

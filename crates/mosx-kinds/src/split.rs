//! Stage `split`: train/valid/test split of the sampled points, by user (default,
//! no user in two splits) or at random (METHOD.md §1).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_data::{DataError, SplitBy, SplitOptions};

use crate::artifacts::{self, slot, ARTIFACTS_UNIT};
use mosx_stage::{params, Output, ParamError, Slot, StageCtx, StageError, StageKind};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "default_ratios")]
    ratios: [f64; 3],
    #[serde(default = "default_by")]
    by: SplitBy,
    #[serde(default)]
    seed: u64,
}
fn default_ratios() -> [f64; 3] {
    [0.8, 0.1, 0.1]
}
fn default_by() -> SplitBy {
    SplitBy::User
}

/// The kind's name in specs (`kind: split`).
pub const NAME: &str = "split";

pub struct Split;

impl StageKind for Split {
    fn name(&self) -> &'static str {
        NAME
    }
    fn code_version(&self) -> u32 {
        1
    }
    fn code(&self) -> &'static [&'static str] {
        &[
            "mosx-data",
            "crates/mosx-kinds/src/split.rs",
            ARTIFACTS_UNIT,
        ]
    }
    fn about(&self) -> &'static str {
        "split sampled points 8:1:1 into train/valid/test"
    }
    fn metrics(&self) -> &'static [&'static str] {
        &["train", "valid", "test"]
    }
    fn slots(&self) -> &'static [Slot] {
        const SLOTS: &[Slot] = &[Slot::given(slot::SEQUENCES)];
        SLOTS
    }
    fn normalize(&self, p: &serde_json::Map<String, Value>) -> Result<Value, ParamError> {
        let (typed, v) = params::parse::<Params>(p)?;
        let sum: f64 = typed.ratios.iter().sum();
        if typed.ratios.iter().any(|r| !(r.is_finite() && *r >= 0.0)) || (sum - 1.0).abs() > 1e-6 {
            let [a, b, c] = typed.ratios;
            return Err(ParamError {
                field: "ratios".into(),
                message: format!(
                    "three non-negative shares summing to 1, found {a} + {b} + {c} = {sum}"
                ),
                suggestion: None,
            });
        }
        Ok(v)
    }
    fn run(&self, ctx: &StageCtx<'_>) -> Result<Output, StageError> {
        let p: Params = params::typed(ctx.params)?;
        let seq = ctx.inputs.read(slot::SEQUENCES, &artifacts::SEQUENCES)?;
        // A part with a share that gets no point depends on the data: located at `ratios`.
        let split = mosx_data::split(
            &seq,
            &SplitOptions {
                ratios: p.ratios,
                by: p.by,
                seed: p.seed,
            },
        )
        .map_err(|e| {
            ctx.data_error(e, |e| match e {
                DataError::Empty { what, .. } if what.starts_with("split part") => Some("ratios"),
                _ => None,
            })
        })?;
        let mut out = Output::default();
        out.metric("train", split.train.len() as f64);
        out.metric("valid", split.valid.len() as f64);
        out.metric("test", split.test.len() as f64);
        out.write(&artifacts::SPLIT, &split)?;
        Ok(out)
    }
}

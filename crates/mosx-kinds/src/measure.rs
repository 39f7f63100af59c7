//! Stage `measure`: stereotype measurement over the train histories
//! (METHOD.md §2): per-item group counts, degree, per-group z-scores, membership
//! at `z_star`, neutral items.

use serde_json::Value;

use mosx_data::MeasureOptions;

use crate::artifacts::{self, slot, ARTIFACTS_UNIT};
use mosx_stage::params::Bound;
use mosx_stage::{params, Output, ParamError, Slot, StageCtx, StageError, StageKind};

/// The parameters are the measurement's own options (`mosx_data::MeasureOptions`, with their
/// defaults), declared once.
type Params = MeasureOptions;

/// The kind's name in specs (`kind: measure`).
pub const NAME: &str = "measure";

pub struct Measure;

impl StageKind for Measure {
    fn name(&self) -> &'static str {
        NAME
    }
    fn code_version(&self) -> u32 {
        3
    }
    fn code(&self) -> &'static [&'static str] {
        &[
            "mosx-data",
            "crates/mosx-kinds/src/measure.rs",
            ARTIFACTS_UNIT,
        ]
    }
    fn about(&self) -> &'static str {
        "stereotype degree, z-scores and group membership of every item"
    }
    fn metrics(&self) -> &'static [&'static str] {
        &["members.{group}", "neutral", "measured"]
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
        // z* is a one-sided threshold above the mean (METHOD.md Eq. 4: 1.0, 1.645, 1.96); an
        // item read by no train user has no degree, so min_count counts at least one reader.
        params::check(&[
            Bound::non_negative("z_star", typed.z_star),
            Bound::at_least("min_count", typed.min_count as usize, 1),
        ])?;
        Ok(v)
    }
    fn run(&self, ctx: &StageCtx<'_>) -> Result<Output, StageError> {
        let p: Params = params::typed(ctx.params)?;
        let ds = ctx.inputs.read(slot::DATASET, &artifacts::DATASET)?;
        let seq = ctx.inputs.read(slot::SEQUENCES, &artifacts::SEQUENCES)?;
        let split = ctx.inputs.read(slot::SPLIT, &artifacts::SPLIT)?;
        let st =
            mosx_data::measure(&ds, &seq, &split, &p).map_err(|e| ctx.data_error(e, |_| None))?;
        let mut out = Output::default();
        for (g, name) in st.groups.iter().enumerate() {
            let members = st
                .items
                .iter()
                .filter(|i| i.member.get(g).copied().unwrap_or(false))
                .count();
            out.metric(format!("members.{name}"), members as f64);
        }
        out.metric("neutral", st.neutral_count() as f64);
        out.metric(
            "measured",
            st.items
                .iter()
                .filter(|i| i.z.iter().any(|z| z.is_finite()))
                .count() as f64,
        );
        out.write(&artifacts::STEREOTYPES, &st)?;
        // The item table (item, title, counts, degree, z, group per item), readable as is.
        out.write_table(&artifacts::ITEMS, &mosx_data::item_table(&ds, &st));
        Ok(out)
    }
}

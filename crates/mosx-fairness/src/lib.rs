//! Stereotype-aware fairness and performance metrics (METHOD.md §3), as pure functions.
//!
//! Invariants shared by every module:
//! * Undefined quantities are `f64::NAN`, never `0.0` (an empty group, `P_H = 0`, an empty class).
//!   [`fmt_metric`] shows them as `-`. When serialised (serde), NaN becomes `null` and `null`
//!   reads back as NaN, so a [`Report`] round-trips through JSON.
//! * Units: the plain functions ([`recommended_share`], [`historical_share`], [`auc`],
//!   [`precision_recall`]) return **fractions** in [0, 1]; fairness values ([`pairwise`],
//!   [`headline`]) are **x100** by definition; every field of [`Report`] (and its breakdowns)
//!   that is a percentage is **x100**.
//! * A point is *recommended* iff `p_yes > THRESHOLD` (strictly greater).
//! * `target_groups[b]` / `history_share[b]` entries missing for an item group `b` count as
//!   "not a member" / share 0 (a shorter vector is read as zero-padded).
//! * The ranking protocol (`ranking`, `topk`, `exposure`): a list's candidate 0 is its target,
//!   ties rank the target below every negative scored equal to it (pessimistic).

mod breakdown;
mod exposure;
mod format;
mod nan_serde;
mod performance;
mod point;
mod ranking;
mod report;
mod shares;
mod topk;

pub use breakdown::{by_target_side, per_pair, PairBreakdown, SideBreakdown};
pub use exposure::{arp, coverage, exposure_counts, gini};
pub use format::fmt_metric;
pub use performance::{auc, precision_recall, Confusion};
pub use point::{EvalPoint, FairnessKind, THRESHOLD};
pub use ranking::{hit_rate, mrr, ndcg, order, target_rank};
pub use report::{evaluate, Report};
pub use shares::{headline, historical_share, pairwise, recommended_share};
pub use topk::{evaluate_ranking, top_k_fairness, AtK, Catalogue, RankedList, RankingReport};

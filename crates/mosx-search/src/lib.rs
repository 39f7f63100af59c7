//! mosx-search: the proposals of a hyperparameter search, as a pure function of the search's
//! seed, the trial index and the outcomes of the earlier trials.
//!
//! Invariants:
//! * A trial's RNG is seeded from `(seed, trial index)` alone, so trial `i` of a random search
//!   never depends on the budget or on any other trial: a larger `trials` only adds trials.
//! * TPE's first [`Search::startup`] trials are those same random draws; trial `i` after them
//!   is asked from optimizers told exactly the trials `< i` that have an objective (failed
//!   trials are left out), in trial order, so the same history gives the same proposal.
//!   With `parallel: w`, trial `i` is told exactly the trials `0..=i-w` (the ones that must
//!   have an outcome for it to be proposed, [`Search::determined`]); `w = 1` is the above.
//! * A pruned trial ([`Outcome::Pruned`]) is told to TPE as the worst objective of the
//!   completed trials it is told with (left out while there is none).
//! * Objectives are told to TPE as values to minimise (`direction: max` negates them).
//! * A proposal holds one value per parameter, in the space's declared order; every value
//!   lies in its distribution's support (`int` bounds inclusive).

pub mod asha;
mod dist;
mod propose;

pub use dist::{Dist, DistError, DIST_NAMES};
pub use propose::{Direction, Method, Outcome, Search, SearchError, DEFAULT_STARTUP};

//! Bounds on what one spec may ask for, so a hostile or mistaken spec fails with a located
//! error instead of exhausting memory or time. Each is far above any real study (the paper's
//! whole set of tables is a few hundred stages in a few hundred lines).
//!
//! * [`MAX_SPEC_BYTES`]: each file of the extends chain (checked before it is read whole).
//! * [`MAX_STAGES`]: stages of the whole spec, sweep points times stages per point (checked
//!   before any point is expanded); a `matrix:` stage expands to at most 100,000 stages.
//! * [`crate::MAX_ALIASES`] and [`crate::MAX_ALIAS_NODES`]: YAML aliases of one file or one
//!   `--set` value, and the nodes they may add when expanded (an alias bomb).
//! * [`MAX_VAR_EXPANSION`]: what `${name}` substitution may copy into one sweep point, in
//!   nodes plus string bytes (a variable bomb: variables doubling one another).

/// Bytes of one spec file: 16 MiB.
pub const MAX_SPEC_BYTES: u64 = 16 << 20;
/// Stages of a spec after its sweep and matrix stages are expanded.
pub const MAX_STAGES: usize = 200_000;
/// Nodes plus string bytes that variable substitution may produce for one sweep point.
pub const MAX_VAR_EXPANSION: usize = 50_000_000;

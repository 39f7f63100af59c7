//! Pieces shared by the decoder-only backbones (Gemma-3, the Llama family), written once:
//! rotary tables and rotation ([`rope`]), grouped-query attention ([`attend`]), additive causal / sliding-window masks with
//! padding ([`mask`]), the RMS normalisation both norms start from ([`norm`]), and the selection of the rows the last layer keeps ([`rows`]).
//!
//! Invariants (each mirrors transformers' shared code, `modeling_rope_utils.py`,
//! `masking_utils.py`):
//! * RoPE angles are computed in f32 for positions `0..T` (soft prompt included) and
//!   rotate the two halves of each head (`rotate_half`), cast to the compute kind.
//! * Masks hide future keys, padded keys and, with a window, keys `q - k >= window`, with
//!   the kind's most negative finite value (never `-inf`), so padded query rows stay finite.
//! * With kept rows, only those queries are formed; keys and values still cover every
//!   position, so the kept outputs equal the full pass's rows.

pub mod attend;
pub mod mask;
pub mod norm;
pub mod rope;
pub mod rows;

pub use attend::attend;
pub use mask::additive_mask;
pub use norm::rms_normalized;
pub use rope::{default_inv_freq, rope_tables, rotate};
pub use rows::{map_real_positions, take_rows, Keep, QueryRows};

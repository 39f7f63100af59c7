//! Which positions the last decoder layer computes, and the gathers that select them.
//!
//! Invariants: [`Keep::Rows`] keeps one query position per row (the answer state), whose
//! RoPE angle and mask row are gathered with it ([`QueryRows`]); [`Keep::Real`] keeps
//! every position but lets the last feed-forward run on real positions only
//! ([`map_real_positions`]), padded positions keeping their input (no reader looks at
//! them: pooling is masked, the answer row is a real token).

use tch::{Kind, Tensor};

/// Which positions of the last layer are read.
#[derive(Clone, Copy)]
pub enum Keep<'a> {
    /// Every real position (pooled states need them all): `[B, T, d]` out.
    Real,
    /// One position per row, `[B]` int64 (the answer state): `[B, d]` out.
    Rows(&'a Tensor),
}

/// `x[b, rows[b]]` of a `[B, T, ..]` tensor: `[B, ..]`.
pub fn take_rows(x: &Tensor, rows: &Tensor) -> Tensor {
    let b = x.size()[0];
    let ar = Tensor::arange(b, (Kind::Int64, x.device()));
    x.index(&[Some(ar), Some(rows.shallow_clone())])
}

/// `f` applied to the positions where `mask` (`[B, T]`) is set of `h` (`[B, T, d]`); the
/// other positions are returned unchanged.
pub fn map_real_positions(h: &Tensor, mask: &Tensor, f: impl FnOnce(&Tensor) -> Tensor) -> Tensor {
    let d = h.size()[2];
    let flat = h.reshape([-1, d]);
    let idx = mask.reshape([-1]).ne(0).nonzero().squeeze_dim(1);
    let real = f(&flat.index_select(0, &idx));
    flat.index_copy(0, &idx, &real).view_as(h)
}

/// The queries of one attention call: every position, or one per row with its RoPE angle
/// and its mask row.
pub struct QueryRows {
    /// `[B, Tq, d]` normed input of the queries.
    pub x: Tensor,
    /// `[B or 1, 1, Tq, hd]` RoPE tables at the queries' positions.
    pub cos: Tensor,
    pub sin: Tensor,
    /// `[B, 1, Tq, T]` additive mask rows.
    pub mask: Tensor,
}

impl QueryRows {
    /// Every position (`rows` `None`) or the kept row of each sequence.
    pub fn select(
        x: &Tensor,
        rows: Option<&Tensor>,
        mask: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
    ) -> QueryRows {
        let Some(r) = rows else {
            return QueryRows {
                x: x.shallow_clone(),
                cos: cos.shallow_clone(),
                sin: sin.shallow_clone(),
                mask: mask.shallow_clone(),
            };
        };
        let (b, t) = (x.size()[0], x.size()[1]);
        let hd = cos.size()[3];
        let table = |c: &Tensor| c.view([t, hd]).index_select(0, r).view([b, 1, 1, hd]);
        let m = take_rows(&mask.expand([b, 1, t, t], false).transpose(1, 2), r);
        QueryRows {
            x: take_rows(x, r).unsqueeze(1),
            cos: table(cos),
            sin: table(sin),
            mask: m.unsqueeze(1),
        }
    }
}

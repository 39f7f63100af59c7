//! The additive attention mask of a right-padded batch: causal, padded keys hidden and,
//! for sliding-window layers, only keys with `q - k < window` visible.

use tch::{Kind, Tensor};

use crate::numerics::min_value;

/// Additive `[B, 1, T, T]` mask in `kind` from the `[B, T]` padding mask: 0 where a query
/// sees a key, the kind's most negative finite value elsewhere. `window`: the sliding
/// window (`None`: unbounded).
pub fn additive_mask(mask: &Tensor, t: i64, window: Option<i64>, kind: Kind) -> Tensor {
    let device = mask.device();
    let q = Tensor::arange(t, (Kind::Int64, device)).view([t, 1]);
    let k = Tensor::arange(t, (Kind::Int64, device)).view([1, t]);
    let mut ok = k.le_tensor(&q);
    if let Some(w) = window {
        ok = ok.logical_and(&(&q - &k).lt(w.min(t + 1)));
    }
    let keys = mask.ne(0).view([mask.size()[0], 1, 1, t]);
    let ok = ok.view([1, 1, t, t]).logical_and(&keys);
    let zero = Tensor::zeros([1], (kind, device));
    let neg = Tensor::full([1], min_value(kind), (kind, device));
    zero.where_self(&ok, &neg)
}

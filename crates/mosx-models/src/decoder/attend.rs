//! Scaled dot-product attention of rotated heads, grouped-query when there are fewer
//! key/value heads than query heads, with an additive mask; heads merged back.

use tch::Tensor;

/// `softmax(q k^T * scale + mask) v` of `q` `[B, nh, Tq, hd]` over `k`, `v`
/// `[B, nkv, T, hd]` (each key/value head shared by `nh / nkv` query heads): `[B, Tq, nh * hd]`.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor, scale: f64) -> Tensor {
    let s = q.size();
    let (b, nh, tq, hd) = (s[0], s[1], s[2], s[3]);
    let grouped = k.size()[1] != nh;
    let out = Tensor::scaled_dot_product_attention(q, k, v, Some(mask), 0.0, false, scale, grouped);
    out.transpose(1, 2).reshape([b, tq, nh * hd])
}

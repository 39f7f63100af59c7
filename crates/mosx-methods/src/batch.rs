//! Training examples and their batches.
//!
//! Invariants:
//! * An [`Example`] is what a method may see of a data point: token ids, the label, the
//!   user's group, the target's item-group membership, the history share `P_u(g)`, and,
//!   only when a method asks for them, the same prompt rendered with each group's profile.
//! * [`epoch_batches`] is a function of (lengths, batch size, seed, epoch) only: a rerun
//!   or a resumed run sees the same batches in the same order. Batches are bucketed by
//!   length (shuffle, sort within windows of 50 batches, shuffle the batches) so padding
//!   stays small without a fixed order.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use mosx_models::tokenizer::pad_batch;
use mosx_models::TokenBatch;

/// One data point as the methods see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Token ids of the prompt the backbone reads (special tokens included).
    pub ids: Vec<i64>,
    pub label: bool,
    /// Index of the user's stereotype group.
    pub user_group: usize,
    /// Membership of the target in each item group (all false: neutral).
    pub target_groups: Vec<bool>,
    /// `P_u(g)`: the share of the history in each item group (METHOD.md Eq. 3).
    pub history_share: Vec<f64>,
    /// The prompt rendered with each group's profile stated, indexed by group; filled only
    /// for methods whose [`crate::Method::needs_variants`] is true.
    pub variants: Vec<Vec<i64>>,
}

/// A batch on the device.
#[derive(Debug)]
pub struct Batch {
    pub tokens: TokenBatch,
    /// `[B]` int64, 1 = liked.
    pub labels: Tensor,
    /// `[B]` int64 user groups.
    pub user_groups: Tensor,
    /// `[B, G]` f32 target membership.
    pub target_groups: Tensor,
    /// `[B, G]` f32 history shares.
    pub history_share: Tensor,
    /// `[B]` f32 per-sample weights of `L_rec` (1 unless the method sets them).
    pub weights: Tensor,
    /// Per group g: the batch rendered with g's profile (empty unless asked for).
    pub variants: Vec<TokenBatch>,
    /// Indices of the examples in the batch (into the slice the batch was cut from).
    pub index: Vec<usize>,
}

impl Batch {
    /// Builds the batch of `examples[index]`; `weights` are per-example (None: all 1).
    pub fn new(
        examples: &[Example],
        index: &[usize],
        pad_id: i64,
        weights: Option<&[f64]>,
        with_variants: bool,
        device: Device,
    ) -> Batch {
        let rows: Vec<&Example> = index.iter().map(|&i| &examples[i]).collect();
        let ids: Vec<Vec<i64>> = rows.iter().map(|e| e.ids.clone()).collect();
        let tb = pad_batch(&ids, pad_id);
        let g = rows.first().map_or(0, |e| e.target_groups.len());
        let b = rows.len() as i64;
        let flat_bool = |f: &dyn Fn(&Example) -> Vec<f32>| -> Tensor {
            let v: Vec<f32> = rows.iter().flat_map(|e| f(e)).collect();
            Tensor::from_slice(&v).view([b, g as i64]).to_device(device)
        };
        let target_groups = flat_bool(&|e| {
            e.target_groups
                .iter()
                .map(|&m| if m { 1.0 } else { 0.0 })
                .collect()
        });
        let history_share = flat_bool(&|e| e.history_share.iter().map(|&s| s as f32).collect());
        let labels: Vec<i64> = rows.iter().map(|e| e.label as i64).collect();
        let groups: Vec<i64> = rows.iter().map(|e| e.user_group as i64).collect();
        let w: Vec<f32> = match weights {
            Some(w) => index.iter().map(|&i| w[i] as f32).collect(),
            None => vec![1.0; rows.len()],
        };
        let variants = if with_variants {
            (0..g)
                .map(|k| {
                    let v: Vec<Vec<i64>> = rows.iter().map(|e| e.variants[k].clone()).collect();
                    let t = pad_batch(&v, pad_id);
                    TokenBatch {
                        input_ids: t.input_ids.to_device(device),
                        attention_mask: t.attention_mask.to_device(device),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Batch {
            tokens: TokenBatch {
                input_ids: tb.input_ids.to_device(device),
                attention_mask: tb.attention_mask.to_device(device),
            },
            labels: Tensor::from_slice(&labels).to_device(device),
            user_groups: Tensor::from_slice(&groups).to_device(device),
            target_groups,
            history_share,
            weights: Tensor::from_slice(&w).to_device(device),
            variants,
            index: index.to_vec(),
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Real (non-pad) tokens in the batch.
    pub fn real_tokens(&self) -> i64 {
        self.tokens.attention_mask.sum(Kind::Int64).int64_value(&[])
    }
}

/// A 64-bit seed for (seed, epoch, stream): every random draw of an epoch derives from it.
pub fn epoch_seed(seed: u64, epoch: usize, stream: u64) -> u64 {
    // SplitMix64 over the three values: well mixed, stable across platforms.
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((epoch as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(stream.wrapping_mul(0x94D0_49BB_1331_11EB));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The batches of one epoch, as indices into the examples (see the module note).
pub fn epoch_batches(
    lengths: &[usize],
    batch_size: usize,
    seed: u64,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let bs = batch_size.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(epoch_seed(seed, epoch, 1));
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.shuffle(&mut rng);
    let mut batches: Vec<Vec<usize>> = Vec::with_capacity(lengths.len().div_ceil(bs));
    for window in order.chunks(bs * 50) {
        let mut w = window.to_vec();
        w.sort_by_key(|&i| (lengths[i], i));
        batches.extend(w.chunks(bs).map(<[usize]>::to_vec));
    }
    batches.shuffle(&mut rng);
    batches
}

/// Batches for scoring: sorted by length (least padding), in fixed order.
pub fn scoring_batches(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| (lengths[i], i));
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_depend_on_seed_and_epoch_only_and_cover_everything() {
        let lengths: Vec<usize> = (0..103).map(|i| (i * 37) % 50 + 5).collect();
        let a = epoch_batches(&lengths, 8, 7, 2);
        let b = epoch_batches(&lengths, 8, 7, 2);
        assert_eq!(a, b);
        assert_ne!(a, epoch_batches(&lengths, 8, 7, 3));
        assert_ne!(a, epoch_batches(&lengths, 8, 8, 2));
        let mut all: Vec<usize> = a.concat();
        all.sort();
        assert_eq!(all, (0..103).collect::<Vec<_>>());
        // Bucketed: within a batch the lengths are sorted.
        for batch in &a {
            assert!(batch.windows(2).all(|w| lengths[w[0]] <= lengths[w[1]]));
        }
    }
}

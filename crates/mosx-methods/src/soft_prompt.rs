//! Soft prompts: the prepend, written once, and their initialisation.
//!
//! Invariants:
//! * [`prepend`] puts the soft prompt in front of the task embeddings and extends the
//!   mask with ones; a `[L, d]` prompt is shared by the batch, a `[B, L, d]` one is per
//!   row. The prompt is cast to the embeddings' kind; the trainable copy stays f32.
//! * [`init_from_vocab`] samples rows of the backbone's (scaled) token embeddings with a
//!   seeded generator, as Lester et al. (2021) initialise prompt tuning: the prompt starts
//!   in the region of embedding space the backbone reads.

use tch::{Device, Kind, Tensor};

use mosx_models::Backbone;

/// `([soft; embeds], [1; mask])`; unchanged when `soft` is None.
pub fn prepend(soft: Option<&Tensor>, embeds: Tensor, mask: Tensor) -> (Tensor, Tensor) {
    let Some(soft) = soft else {
        return (embeds, mask);
    };
    let b = embeds.size()[0];
    let soft = match soft.dim() {
        2 => soft.unsqueeze(0).expand([b, -1, -1], false),
        _ => soft.shallow_clone(),
    };
    let l = soft.size()[1];
    let ones = Tensor::ones([b, l], (mask.kind(), mask.device()));
    (
        Tensor::cat(&[&soft.to_kind(embeds.kind()), &embeds], 1),
        Tensor::cat(&[&ones, &mask], 1),
    )
}

/// `[n, d]` f32 rows of the backbone's token embeddings at seeded random ids in
/// `[low, vocab)` (`low` skips special tokens at the start of the vocabulary).
pub fn init_from_vocab(backbone: &dyn Backbone, n: i64, seed: u64, device: Device) -> Tensor {
    let _guard = tch::no_grad_guard();
    let vocab = backbone.vocab_size();
    let low = 1000.min(vocab / 2);
    let mut rng = seed;
    let ids: Vec<i64> = (0..n)
        .map(|_| {
            rng = crate::batch::epoch_seed(rng, 0, 7);
            low + (rng % (vocab - low) as u64) as i64
        })
        .collect();
    let ids = Tensor::from_slice(&ids)
        .view([1, n])
        .to_device(backbone.device());
    backbone
        .embed(&ids)
        .squeeze_dim(0)
        .to_kind(Kind::Float)
        .to_device(device)
}

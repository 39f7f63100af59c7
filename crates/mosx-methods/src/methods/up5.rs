//! `up5` (user-side, counterfactually fair prompting): prompt tuning against an MLP
//! discriminator that reads the pooled hidden state of the same forward pass and predicts
//! the user's group. Steps alternate: on even optimizer steps the discriminator minimises
//! its cross-entropy on the detached state (the prompt gets no gradient); on odd steps the
//! prompt minimises `L_rec − λ_adv·L_disc` through a frozen copy of the discriminator's
//! weights (the discriminator gets no gradient).
//!
//! The discriminator is G-way for any number of groups G: `Linear(d, h) → ReLU →
//! Linear(h, G)`, trained by the cross-entropy of the softmax over the G groups; the
//! adversarial term is the same cross-entropy, negated.
//!
//! The log records the discriminator's accuracy on the validation points per epoch
//! ([`Method::group_logits`]) and the chance rate beside it: an adversarial term with no
//! bound can flip the group information instead of removing it, which shows as an
//! accuracy far *below* chance, while removal shows as accuracy near chance.

use serde_json::Value;
use tch::{nn, Kind, Reduction, Tensor};

use mosx_config::methods::typed;
pub use mosx_config::methods::up5::Config;
use mosx_models::Backbone;

use super::prompt_tuning::{Init, SoftPrompt};
use crate::error::MethodError;
use crate::method::{Forward, LossCtx, Method, Setup};

/// The discriminator: `Linear(d, h) → ReLU → Linear(h, G)`.
pub struct Discriminator {
    pub l1: nn::Linear,
    pub l2: nn::Linear,
}

impl Discriminator {
    /// Group logits; `frozen` uses detached weights (no gradient reaches them).
    pub fn logits(&self, x: &Tensor, frozen: bool) -> Tensor {
        let w = |t: &Tensor| {
            if frozen {
                t.detach()
            } else {
                t.shallow_clone()
            }
        };
        let b = |t: &Option<Tensor>| t.as_ref().map(&w);
        let h = x.linear(&w(&self.l1.ws), b(&self.l1.bs).as_ref()).relu();
        h.linear(&w(&self.l2.ws), b(&self.l2.bs).as_ref())
    }
}

pub struct Up5 {
    soft: SoftPrompt,
    pub disc: Discriminator,
    lambda_adv: f64,
}

pub(super) fn build(
    cfg: &Value,
    setup: &Setup,
    backbone: &mut dyn Backbone,
    root: &nn::Path,
) -> Result<Box<dyn Method>, MethodError> {
    let c: Config = typed("up5", cfg)?;
    backbone.freeze_base();
    let soft = SoftPrompt::new(root, setup, backbone, c.tokens, Init::Vocab, 11);
    let g = setup.n_groups as i64;
    let disc = Discriminator {
        l1: nn::linear(
            root / "disc" / "0",
            setup.hidden,
            c.hidden,
            Default::default(),
        ),
        l2: nn::linear(root / "disc" / "2", c.hidden, g, Default::default()),
    };
    Ok(Box::new(Up5 {
        soft,
        disc,
        lambda_adv: c.lambda_adv,
    }))
}

/// Whether optimizer step `step` is a discriminator step.
pub fn is_disc_step(step: usize) -> bool {
    step % 2 == 0
}

impl Method for Up5 {
    fn name(&self) -> &'static str {
        "up5"
    }
    fn soft_prompt(&self, _e: &Tensor, _m: &Tensor, _train: bool) -> Option<Tensor> {
        Some(self.soft.prompt.shallow_clone())
    }
    fn needs_pooled(&self) -> bool {
        true
    }
    fn trains_task(&self, step: usize) -> bool {
        !is_disc_step(step)
    }
    fn group_logits(&self, fwd: &Forward) -> Option<Tensor> {
        let pooled = fwd.pooled.as_ref()?;
        Some(self.disc.logits(&pooled.to_kind(Kind::Float), true))
    }
    fn extra_losses(&self, cx: &LossCtx<'_>) -> Vec<(&'static str, Tensor)> {
        let Some(pooled) = &cx.forward.pooled else {
            return Vec::new();
        };
        let groups = &cx.batch.user_groups;
        if !cx.train || is_disc_step(cx.step) {
            let logits = self
                .disc
                .logits(&pooled.detach().to_kind(Kind::Float), false);
            let l = logits.cross_entropy_loss::<Tensor>(groups, None, Reduction::Mean, -100, 0.0);
            vec![("disc", l)]
        } else {
            let logits = self.disc.logits(&pooled.to_kind(Kind::Float), true);
            let l = logits.cross_entropy_loss::<Tensor>(groups, None, Reduction::Mean, -100, 0.0);
            vec![("adv", l * -self.lambda_adv)]
        }
    }
}

#!/usr/bin/env python
"""Golden values for the Rust T5 backbone (crates/mosx-models/src/t5.rs).

Builds two tiny randomly initialised `T5ForConditionalGeneration` models with a fixed
seed, saves each as a Hugging Face checkpoint folder, reloads it with
`from_pretrained` (so the reference is what transformers makes of the files) and
records, in f32 eval mode with eager attention:

* the first-decoder-step logits (decoder input = decoder_start_token_id) of a few
  answer ids, for a right-padded batch of 3 sequences, without and with a soft prompt
  prepended in `inputs_embeds` space (mask extended with ones);
* the masked mean of the encoder's last hidden state (pooled), both ways;
* the full first-step logits row, for debugging.

Variants:
  t5_v1_0  feed_forward_proj "relu", tied head (decoder output scaled by d_model^-0.5),
           saved by `save_pretrained`, which stores only `shared.weight` for the tied
           embeddings and head.
  t5_v1_1  feed_forward_proj "gated-gelu" (gelu_new), untied `lm_head.weight`, no
           scaling; config.json written in the Hub's style (`tie_word_embeddings: false`,
           as google/flan-t5-* carry), inner dim num_heads*d_kv != d_model and an
           asymmetric decoder depth.

Run: make goldens (or .venv-dev/bin/python tools/golden_t5.py)
"""

import json
import os
import sys

import safetensors
import torch
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import T5Config, T5ForConditionalGeneration

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "mosx-models", "tests", "golden")
ANSWER_IDS = [5, 9, 17, 3]
PROMPT_LEN = 4
LENGTHS = [17, 11, 6]


def perturb(model: T5ForConditionalGeneration, gen: torch.Generator) -> None:
    """Give the layer norms non-unit weights and the relative biases a strong scale, so a
    wrong norm or a wrong bucket shows up in the logits."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_norm.weight"):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
            elif name.endswith("relative_attention_bias.weight"):
                p.copy_(2.0 * torch.randn(p.shape, generator=gen))


def batch(vocab: int, gen: torch.Generator):
    t = max(LENGTHS)
    ids = torch.zeros(len(LENGTHS), t, dtype=torch.long)  # pad id 0
    mask = torch.zeros(len(LENGTHS), t, dtype=torch.long)
    for i, n in enumerate(LENGTHS):
        ids[i, :n] = torch.randint(2, vocab, (n,), generator=gen)
        ids[i, n - 1] = 1  # eos, as a tokenizer would append
        mask[i, :n] = 1
    return ids, mask


@torch.no_grad()
def reference(model, embeds, mask, start_id):
    b = embeds.shape[0]
    dec = torch.full((b, 1), start_id, dtype=torch.long)
    out = model(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=dec, return_dict=True)
    logits = out.logits[:, 0, :]
    enc = out.encoder_last_hidden_state
    m = mask.to(enc.dtype).unsqueeze(-1)
    pooled = (enc * m).sum(1) / m.sum(1).clamp_min(1.0)
    return logits, pooled


def tensor_names(path):
    with safe_open(path, "pt") as f:
        return sorted(f.keys())


def build(name: str, cfg_kwargs: dict, untied: bool, seed: int) -> None:
    out_dir = os.path.join(ROOT, name)
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    cfg = T5Config(**cfg_kwargs)
    model = T5ForConditionalGeneration(cfg)
    perturb(model, gen)
    if untied:
        model.lm_head.weight = torch.nn.Parameter(torch.randn(model.lm_head.weight.shape, generator=gen))
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        # Hub-style file: shared + lm_head; the tied per-stack embeddings are dropped as
        # save_pretrained does (they alias `shared`).
        state.pop("encoder.embed_tokens.weight", None)
        state.pop("decoder.embed_tokens.weight", None)
        save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
        config = cfg.to_dict()
        config["tie_word_embeddings"] = False
        config.pop("scale_decoder_outputs", None)
        config["architectures"] = ["T5ForConditionalGeneration"]
        with open(os.path.join(out_dir, "config.json"), "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
    else:
        model.save_pretrained(out_dir)

    names = tensor_names(os.path.join(out_dir, "model.safetensors"))
    ref = T5ForConditionalGeneration.from_pretrained(out_dir, attn_implementation="eager").eval().float()
    assert ref.config.scale_decoder_outputs == (not untied)
    if untied:
        assert ref.lm_head.weight.data_ptr() != ref.shared.weight.data_ptr()
        assert torch.equal(ref.lm_head.weight, model.lm_head.weight)
    else:
        assert "lm_head.weight" not in names and "encoder.embed_tokens.weight" not in names

    d = cfg.d_model
    ids, mask = batch(cfg.vocab_size, gen)
    prompt = 0.5 * torch.randn(PROMPT_LEN, d, generator=gen)
    with torch.no_grad():
        tok = ref.shared(ids)
        embeds_p = torch.cat([prompt.unsqueeze(0).expand(ids.shape[0], -1, -1), tok], dim=1)
    mask_p = torch.cat([torch.ones(ids.shape[0], PROMPT_LEN, dtype=torch.long), mask], dim=1)

    start = cfg.decoder_start_token_id
    logits, pooled = reference(ref, tok, mask, start)
    logits_p, pooled_p = reference(ref, embeds_p, mask_p, start)

    # Cross-checks: sdpa agrees with eager, and input_ids agrees with inputs_embeds.
    sdpa = T5ForConditionalGeneration.from_pretrained(out_dir, attn_implementation="sdpa").eval()
    l2, _ = reference(sdpa, embeds_p, mask_p, start)
    assert torch.allclose(l2, logits_p, atol=1e-5), (l2 - logits_p).abs().max()
    with torch.no_grad():
        l3 = ref(input_ids=ids, attention_mask=mask, decoder_input_ids=torch.full((3, 1), start)).logits[:, 0]
    assert torch.allclose(l3, logits, atol=1e-6)

    a = torch.tensor(ANSWER_IDS)
    golden = {
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "safetensors_version": safetensors.__version__,
        "seed": seed,
        "attn_implementation": "eager",
        "tensor_names": names,
        "answer_ids": ANSWER_IDS,
        "decoder_start_token_id": start,
        "input_ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        "soft_prompt": prompt.tolist(),
        "answer_logits": logits[:, a].tolist(),
        "answer_logits_prompt": logits_p[:, a].tolist(),
        "pooled": pooled.tolist(),
        "pooled_prompt": pooled_p.tolist(),
        "full_logits_prompt": logits_p.tolist(),
    }
    with open(os.path.join(out_dir, "golden.json"), "w") as f:
        json.dump(golden, f)
    size = os.path.getsize(os.path.join(out_dir, "model.safetensors"))
    print(f"{name}: {len(names)} tensors, {size} bytes, logits range "
          f"[{logits_p.min():.3f}, {logits_p.max():.3f}]", file=sys.stderr)


COMMON = dict(
    relative_attention_num_buckets=8,
    relative_attention_max_distance=16,
    dropout_rate=0.1,
    layer_norm_epsilon=1e-6,
    pad_token_id=0,
    eos_token_id=1,
    decoder_start_token_id=0,
    is_encoder_decoder=True,
)

if __name__ == "__main__":
    build(
        "t5_v1_0",
        dict(COMMON, vocab_size=160, d_model=48, d_kv=12, d_ff=96, num_layers=2, num_decoder_layers=2,
             num_heads=4, feed_forward_proj="relu", tie_word_embeddings=True),
        untied=False,
        seed=1234,
    )
    build(
        "t5_v1_1",
        dict(COMMON, vocab_size=200, d_model=32, d_kv=16, d_ff=80, num_layers=2, num_decoder_layers=3,
             num_heads=3, feed_forward_proj="gated-gelu", tie_word_embeddings=False),
        untied=True,
        seed=4321,
    )

#!/usr/bin/env python3
"""Golden outputs of Hugging Face transformers' Llama-family decoders for mosx-models' tests.

Run with the dev venv (torch + transformers 5.24):

    .venv-dev/bin/python tools/golden_llama.py   # -> crates/mosx-models/tests/golden/llama/

For each tiny random config below (one folder each: config.json, model.safetensors,
golden.json) it records, on right-padded batches of different lengths, with and without a
soft prompt prepended through `inputs_embeds`, the answer-position logits of a few
vocabulary ids and the masked mean of the last hidden state (eager attention, f32):

* llama2   -- multi-head attention, untied head, default RoPE
* llama3   -- grouped-query, tied head, `rope_type: llama3` scaling, attention and MLP biases
* qwen2    -- biases on q/k/v, tied head
* qwen3    -- per-head q/k RMSNorm, explicit head_dim (24, not hidden/heads)
* mistral  -- sliding window 4 (the padded rows of ~10 tokens cross it), untied head

`tokenizer/` holds a byte-level BPE tokenizer trained by the `tokenizers` library on the
words of a few dataset-like titles (the settings of mosx's `tiny-model --arch llama`) and
transformers' ids for those titles; the Rust test checks both its own trainer's vocabulary
and merges and its ids against them.
"""

import json
import math
import os
import re

import torch
import transformers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from golden_gemma3 import run_cases  # same cases, same recording (tools/ is on sys.path)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "crates", "mosx-models", "tests", "golden", "llama")

VOCAB = 64
ANSWER_IDS = [0, 5, 17, 40, 63]

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    intermediate_size=32,
    num_hidden_layers=2,
    rms_norm_eps=1e-6,
    max_position_embeddings=1024,
    pad_token_id=0,
    bos_token_id=2,
    eos_token_id=1,
    attn_implementation="eager",
)

CASES = {
    "llama2": (
        LlamaConfig,
        LlamaForCausalLM,
        dict(num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=False,
             rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
    ),
    "llama3": (
        LlamaConfig,
        LlamaForCausalLM,
        dict(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
             attention_bias=True, mlp_bias=True,
             rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                              "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 512}),
    ),
    "qwen2": (
        Qwen2Config,
        Qwen2ForCausalLM,
        dict(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
             rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
    ),
    "qwen3": (
        Qwen3Config,
        Qwen3ForCausalLM,
        dict(num_attention_heads=2, num_key_value_heads=1, head_dim=24,
             tie_word_embeddings=True,
             rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
    ),
    "mistral": (
        MistralConfig,
        MistralForCausalLM,
        dict(num_attention_heads=4, num_key_value_heads=2, sliding_window=4,
             tie_word_embeddings=False,
             rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
    ),
}


def randomise(model, gen):
    """Weights large enough that every block matters (HF's init is near-trivial)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + torch.randn(p.shape, generator=gen) * 0.3)
            elif name.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            else:
                fan_in = p.shape[-1]
                p.copy_(torch.randn(p.shape, generator=gen) * (1.5 / math.sqrt(fan_in)))


def batches(gen):
    """Two right-padded batches (pad id 0) with rows of different lengths."""
    out = []
    for lengths in ([10, 7, 3], [12, 12, 5, 1]):
        t = max(lengths)
        ids = torch.zeros((len(lengths), t), dtype=torch.long)
        mask = torch.zeros((len(lengths), t), dtype=torch.long)
        for r, n in enumerate(lengths):
            ids[r, :n] = torch.randint(3, VOCAB, (n,), generator=gen)
            mask[r, :n] = 1
        out.append((ids, mask))
    return out


def model_case(name, cfg_cls, model_cls, over, seed):
    out_dir = os.path.join(GOLDEN, name)
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(1000 + seed)
    model = model_cls(cfg_cls(**COMMON, **over)).eval()
    randomise(model, gen)
    model.save_pretrained(out_dir, safe_serialization=True)
    p = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(p):
        os.remove(p)
    data = batches(gen)
    soft = torch.randn((3, COMMON["hidden_size"]), generator=gen) * 0.5
    golden = dict(transformers_version=transformers.__version__, torch_version=torch.__version__,
                  attn_implementation="eager", dtype="float32", answer_ids=ANSWER_IDS,
                  soft_prompt=soft.tolist(), cases=run_cases(model, data, soft, ANSWER_IDS))
    with open(os.path.join(out_dir, "golden.json"), "w") as f:
        json.dump(golden, f)
    print("wrote", out_dir)


# ---------------------------------------------------------------- tokenizer

TITLES = [
    "Toy Story (1995)", "GoldenEye (1995)", "Four Rooms (1995)", "Get Shorty (1995)",
    "Copycat (1995)", "Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)",
    "Twelve Monkeys (1995)", "Babe (1995)", "Dead Man Walking (1995)", "Richard III (1995)",
    "Seven (Se7en) (1995)", "Usual Suspects, The (1995)", "Mighty Aphrodite (1995)",
    "Postino, Il (1994)", "Mr. Holland's Opus (1995)", "French Twist (Gazon maudit) (1995)",
    "From Dusk Till Dawn (1996)", "White Balloon, The (1995)", "Antonia's Line (1995)",
    "Angels and Insects (1995)", "Muppet Treasure Island (1996)", "Braveheart (1995)",
    "Taxi Driver (1976)", "Rumble in the Bronx (1995)", "Birdcage, The (1996)",
    "Brothers McMullen, The (1995)", "Bad Boys (1995)", "Apollo 13 (1995)",
    "Belle de jour (1967)", "Crumb (1994)", "Café au Lait (1994)",
    "Cité des enfants perdus, La (1995)", "Misérables, Les (1995)", "Señorita Extraviada (2001)",
]
WORDS_EXTRA = "Yes No"


def words_of(text):
    """mosx's `tiny::words_of`: runs of word characters and runs of other non-space ones."""
    return re.findall(r"\w+|[^\w\s]+", text)


def tokenizer_case():
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    out_dir = os.path.join(GOLDEN, "tokenizer")
    os.makedirs(out_dir, exist_ok=True)
    words = words_of(" ".join(TITLES) + " " + WORDS_EXTRA)
    specials = [AddedToken(s, special=True) for s in ("<pad>", "</s>", "<bos>", "<unk>")]
    trainer = trainers.BpeTrainer(vocab_size=4096, min_frequency=0, show_progress=False,
                                  special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator([f"{w} {w}" for w in words], trainer=trainer)
    path = os.path.join(out_dir, "tokenizer.json")
    tok.save(path)
    fast = PreTrainedTokenizerFast(tokenizer_file=path)
    ids = [fast(t, add_special_tokens=False)["input_ids"] for t in TITLES]
    with open(os.path.join(out_dir, "ids.json"), "w") as f:
        json.dump(dict(transformers_version=transformers.__version__, words_extra=WORDS_EXTRA,
                       titles=TITLES, ids=ids), f, ensure_ascii=False)
    print("wrote", out_dir)


def main():
    for seed, (name, (cfg_cls, model_cls, over)) in enumerate(CASES.items()):
        model_case(name, cfg_cls, model_cls, over, seed)
    tokenizer_case()


if __name__ == "__main__":
    main()

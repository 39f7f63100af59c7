#!/usr/bin/env python3
"""Golden outputs of peft's LoRA on every projection, for mosx-models' `targets` test.

Run with the dev venv (torch, transformers 5.24, peft 0.21):

    .venv-dev/bin/python tools/golden_lora.py   # -> crates/mosx-models/tests/golden/lora/

For the tiny decoder checkpoints of the other goldens (Qwen2 with q/k/v biases, Qwen3 with
an explicit head_dim and q/k norms, Gemma-3), peft wraps every linear projection of every
layer by its module name (`q_proj k_proj v_proj o_proj gate_proj up_proj down_proj`,
r = 2, lora_alpha = 4, no dropout), every adapter's A and B are drawn at random (B is zero
at peft's init, which would test nothing), and the adapted model's answer logits and
pooled last states are recorded on the padded batches of `golden_llama.py`, with and
without a soft prompt. `adapter.safetensors` holds the adapters under mosx's names
(`model.layers.0.self_attn.q_proj.lora_A`: peft's `base_model.model.` prefix and
`.weight` suffix dropped).
"""

import json
import os

import peft
import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

from golden_gemma3 import run_cases
from golden_llama import ANSWER_IDS, batches

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "crates", "mosx-models", "tests", "golden")
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
CHECKPOINTS = {"qwen2": "llama/qwen2", "qwen3": "llama/qwen3", "gemma3": "gemma3"}


def case(name, rel, seed):
    src = os.path.join(GOLDEN, rel)
    out_dir = os.path.join(GOLDEN, "lora", name)
    os.makedirs(out_dir, exist_ok=True)
    base = AutoModelForCausalLM.from_pretrained(src, attn_implementation="eager",
                                                dtype=torch.float32).eval()
    cfg = peft.LoraConfig(r=2, lora_alpha=4, lora_dropout=0.0, target_modules=TARGETS)
    model = peft.get_peft_model(base, cfg).eval()
    gen = torch.Generator().manual_seed(seed)
    adapters = {}
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_" in n:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
                short = n.removeprefix("base_model.model.").replace(".default", "")
                adapters[short.removesuffix(".weight")] = p.detach().clone().contiguous()
    assert len(adapters) == 2 * len(TARGETS) * base.config.num_hidden_layers, len(adapters)
    save_file(adapters, os.path.join(out_dir, "adapter.safetensors"))
    hidden = base.config.hidden_size
    data = batches(gen)
    soft = torch.randn((3, hidden), generator=gen) * 0.5
    inner = model.base_model.model
    golden = dict(transformers_version=transformers.__version__, peft_version=peft.__version__,
                  torch_version=torch.__version__, checkpoint=rel, rank=2, alpha=4.0,
                  targets=TARGETS, answer_ids=ANSWER_IDS, soft_prompt=soft.tolist(),
                  cases=run_cases(inner, data, soft, ANSWER_IDS))
    with open(os.path.join(out_dir, "golden.json"), "w") as f:
        json.dump(golden, f)
    print("wrote", out_dir, len(adapters), "adapter tensors")


if __name__ == "__main__":
    for i, (name, rel) in enumerate(CHECKPOINTS.items()):
        case(name, rel, 50 + i)

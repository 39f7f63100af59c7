#!/usr/bin/env python3
"""Golden outputs of Hugging Face transformers' Gemma-3 for mosx-models' tests.

Run with the dev venv (torch + transformers):

    .venv-dev/bin/python tools/golden_gemma3.py tiny   # tiny random model -> crates/mosx-models/tests/golden/gemma3/
    .venv-dev/bin/python tools/golden_gemma3.py real   # needs models/gemma-3-270m and data/ml-100k

`tiny` saves a seeded, randomly initialised Gemma-3 text model (sliding-window layers,
grouped-query attention, window 4 so padded batches of ~10 tokens cross it) with
`save_pretrained` and records, on padded batches of different lengths, with and without
a soft prompt prepended through `inputs_embeds`, the answer-position logits of a few
vocabulary ids and the masked mean of the last hidden state (eager attention, f32).
A second case set re-runs the same weights with logit soft-capping switched on.

`real` runs `Gemma3ForCausalLM` (f32) on the converted Gemma-3-270M folder and records
(1) transformers' tokenizer ids for 200 MovieLens titles ("Title (Year)", accents
included), keyed by ml-100k.item line number and an FNV-1a hash of the title -- the
titles themselves are not stored (MovieLens terms); (2) p(Yes) for 20 prompts built from
ml-100k by `build_prompts` below, stored as token ids plus a hash of the prompt text.
The Rust test rebuilds titles and prompts from the same data files with the same rules.
"""

import json
import math
import os
import sys

import torch
import transformers
from transformers import Gemma3ForCausalLM, Gemma3TextConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "crates", "mosx-models", "tests", "golden", "gemma3")
MODEL = os.path.join(ROOT, "models", "gemma-3-270m")
ITEMS = os.path.join(ROOT, "data", "ml-100k", "ml-100k.item")
INTER = os.path.join(ROOT, "data", "ml-100k", "ml-100k.inter")

ANSWER_IDS = [0, 5, 17, 100, 255]


def tiny_config(**over):
    cfg = dict(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=6,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        rms_norm_eps=1e-6,
        rope_theta=1_000_000.0,
        rope_local_base_freq=10_000.0,
        sliding_window=4,
        sliding_window_pattern=3,
        query_pre_attn_scalar=24,
        hidden_activation="gelu_pytorch_tanh",
        max_position_embeddings=128,
        final_logit_softcapping=None,
        attn_logit_softcapping=None,
        tie_word_embeddings=True,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=1,
        attn_implementation="eager",
    )
    cfg.update(over)
    return Gemma3TextConfig(**cfg)


def randomise(model, gen):
    """Weights large enough that every block matters (HF's init is near-trivial)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.15)
            else:
                fan_in = p.shape[-1]
                p.copy_(torch.randn(p.shape, generator=gen) * (1.5 / math.sqrt(fan_in)))


def batches(gen, vocab):
    """Two right-padded batches (pad id 0) with rows of different lengths."""
    out = []
    for lengths in ([10, 7, 3], [12, 12, 5, 1]):
        t = max(lengths)
        ids = torch.zeros((len(lengths), t), dtype=torch.long)
        mask = torch.zeros((len(lengths), t), dtype=torch.long)
        for r, n in enumerate(lengths):
            ids[r, :n] = torch.randint(3, vocab, (n,), generator=gen)
            ids[r, 0] = 2  # BOS
            mask[r, :n] = 1
        out.append((ids, mask))
    return out


def run_cases(model, data, soft, answer_ids=ANSWER_IDS):
    cases = []
    emb_layer = model.get_input_embeddings()
    for ids, mask in data:
        for use_soft in (False, True):
            with torch.no_grad():
                emb = emb_layer(ids)
                m = mask
                if use_soft:
                    s = soft.unsqueeze(0).expand(ids.shape[0], -1, -1)
                    emb = torch.cat([s, emb], dim=1)
                    m = torch.cat([torch.ones((ids.shape[0], soft.shape[0]), dtype=torch.long), mask], dim=1)
                out = model(inputs_embeds=emb, attention_mask=m, output_hidden_states=True)
                last = m.sum(1) - 1
                rows = torch.arange(ids.shape[0])
                logits = out.logits[rows, last][:, answer_ids]
                h = out.hidden_states[-1]  # after the final norm
                mf = m.unsqueeze(-1).float()
                pooled = (h * mf).sum(1) / mf.sum(1)
            cases.append(
                dict(
                    input_ids=ids.tolist(),
                    attention_mask=mask.tolist(),
                    soft_prompt=use_soft,
                    logits=logits.tolist(),
                    pooled=pooled.tolist(),
                )
            )
    return cases


def tiny():
    os.makedirs(GOLDEN, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    config = tiny_config()
    model = Gemma3ForCausalLM(config).eval()
    randomise(model, gen)
    model.save_pretrained(GOLDEN, safe_serialization=True)
    for extra in ("generation_config.json",):
        p = os.path.join(GOLDEN, extra)
        if os.path.exists(p):
            os.remove(p)
    data = batches(gen, config.vocab_size)
    soft = torch.randn((3, config.hidden_size), generator=gen)
    cases = run_cases(model, data, soft)
    softcap_over = dict(final_logit_softcapping=2.0, attn_logit_softcapping=3.0)
    capped = Gemma3ForCausalLM(tiny_config(**softcap_over)).eval()
    capped.load_state_dict(model.state_dict())
    capped_cases = run_cases(capped, data, soft)
    golden = dict(
        transformers_version=transformers.__version__,
        torch_version=torch.__version__,
        attn_implementation="eager",
        dtype="float32",
        answer_ids=ANSWER_IDS,
        soft_prompt=soft.tolist(),
        cases=cases,
        softcap_config_override=softcap_over,
        softcap_cases=capped_cases,
    )
    with open(os.path.join(GOLDEN, "golden.json"), "w") as f:
        json.dump(golden, f)
    print("wrote", GOLDEN, "transformers", transformers.__version__)


# ---------------------------------------------------------------- real model

def text_hash(s):
    """FNV-1a 64 of the UTF-8 text, 16 hex digits (the Rust test computes the same)."""
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def read_items():
    """[(line_number, "Title (Year)")] from ml-100k.item (line 1 is the header)."""
    out = []
    with open(ITEMS, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if n == 1:
                continue
            cols = line.rstrip("\n").split("\t")
            title, year = cols[1].strip(), cols[2].strip()
            out.append((n, f"{title} ({year})" if year else title))
    return out


def pick_titles(items, k=200):
    """Every title with a non-ASCII character, then every 8th line, up to k (sorted by line)."""
    accented = [it for it in items if any(ord(c) > 127 for c in it[1])]
    chosen = {n for n, _ in accented}
    for n, _ in items[::8]:
        if len(chosen) >= k:
            break
        chosen.add(n)
    return [it for it in items if it[0] in chosen][:k]


def build_prompts(items):
    """20 prompts: users 1..20 of ml-100k.inter, their first 6 ratings (by timestamp, then
    item id) as history, the 7th as the target; liked = rating >= 4."""
    titles = dict(items)
    by_line = {}
    # item_id -> title: items are listed with line = item_id + 1
    id_title = {}
    with open(ITEMS, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if n == 1:
                continue
            cols = line.rstrip("\n").split("\t")
            id_title[int(cols[0])] = titles[n]
    ratings = {}
    with open(INTER, encoding="utf-8") as f:
        next(f)
        for line in f:
            u, i, r, t = line.rstrip("\n").split("\t")
            ratings.setdefault(int(u), []).append((float(t), int(i), float(r)))
    prompts = []
    for u in range(1, 21):
        rs = sorted(ratings[u])[:7]
        hist, target = rs[:6], rs[6]
        liked = [id_title[i] for _, i, r in hist if r >= 4]
        disliked = [id_title[i] for _, i, r in hist if r < 4]
        prompts.append(
            "Given the user's preference and unpreference, identify whether the user will like the "
            "target movie by answering \"Yes.\" or \"No.\".\n"
            f"User Preference: {', '.join(liked)}\n"
            f"User Unpreference: {', '.join(disliked)}\n"
            f"Whether the user will like the target movie \"{id_title[target[1]]}\"?\n"
            "Answer:"
        )
    return prompts


def real():
    from transformers import AutoTokenizer

    if not os.path.isdir(MODEL):
        sys.exit(f"{MODEL} is missing: run `make model` first")
    tok = AutoTokenizer.from_pretrained(MODEL)
    items = read_items()
    titles = pick_titles(items)
    title_rows = [
        dict(line=n, fnv64=text_hash(t), ids=tok(t, add_special_tokens=True)["input_ids"]) for n, t in titles
    ]
    model = Gemma3ForCausalLM.from_pretrained(MODEL, dtype=torch.float32, attn_implementation="eager").eval()
    yes = tok(" Yes", add_special_tokens=False)["input_ids"][0]
    no = tok(" No", add_special_tokens=False)["input_ids"][0]
    rows = []
    for p in build_prompts(items):
        ids = tok(p, add_special_tokens=True)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        pair = torch.stack([logits[yes], logits[no]]).double()
        p_yes = torch.softmax(pair, 0)[0].item()
        rows.append(dict(fnv64=text_hash(p), ids=ids, logit_yes=logits[yes].item(), logit_no=logits[no].item(), p_yes=p_yes))
    out = dict(
        transformers_version=transformers.__version__,
        torch_version=torch.__version__,
        model_dir="models/gemma-3-270m",
        yes_id=yes,
        no_id=no,
        titles=title_rows,
        prompts=rows,
    )
    with open(os.path.join(GOLDEN, "real_270m.json"), "w") as f:
        json.dump(out, f, ensure_ascii=False)
    print("wrote real_270m.json:", len(title_rows), "titles,", len(rows), "prompts; yes/no ids", yes, no)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "tiny"
    {"tiny": tiny, "real": real}[mode]()

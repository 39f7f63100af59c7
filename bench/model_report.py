#!/usr/bin/env python3
"""Turns bench/out/model_raw.jsonl (one RESULT object per process of bench/model.sh) into the
markdown table of bench/out/model_results.md.

Definitions (documented in the output too):
* samples/s = timed samples / timed seconds (warm-up steps excluded); tokens are the real
  (unpadded) tokens, the 16 virtual tokens included when training.
* P = non-embedding parameters + the 2 answer rows of the tied head (what a token's matmuls
  touch when only the answer logits are computed): 100.3 M for Gemma-3-270M.
* Achieved FLOP/s: scoring 2 * P * tokens/s; training 6 * P * tokens/s (the usual
  forward + backward estimate). With a frozen base the backward needs no weight gradients,
  so the work really done is about 4 * P per token: the `MFU (4P)` column. Attention FLOPs
  and, for the `typical` HF configuration, the full-vocabulary head are not counted, so
  MFU measures useful work.
* Peak = the highest f32 [2048, 2048] matmul FLOP/s measured by any of the processes (each
  measures its own at start, same threads).
* samples/CPU-s = timed samples / CPU seconds (user + system, all threads) of the process over
  the timed steps: less sensitive than wall clock to other load on a shared machine.
* Peak RSS = VmHWM of the process at its end (model load included).

Usage: model_report.py RAW.jsonl OUT_DIR "LOADAVG AFTER" [SUFFIX of the pyes_*.json files]
       model_report.py --train TRAIN_RAW.jsonl OUT_DIR "LOADAVG AFTER"   (bench/train.sh)
"""
import json
import statistics
import sys
from pathlib import Path


def _cpu(r):
    return r["extra"].get("cpu_s") or float("nan")


def train_main(raw: Path, load_after: str) -> None:
    """bench/train.sh: the trainer loop (mosx) vs transformers + peft, several rounds per label.

    Pooled over rounds: samples/s = sum samples / sum timed seconds; samples/CPU-s = sum
    samples / sum CPU seconds. Ratios are given pooled and per round (the pairs are adjacent
    in every round, so a round's ratio sees the same background load on both sides)."""
    rs = [json.loads(l) for l in raw.open() if l.strip()]
    labels = []
    for r in rs:
        if r["label"] not in labels:
            labels.append(r["label"])
    by = {l: [r for r in rs if r["label"] == l] for l in labels}
    peak = max(r["matmul_peak_flops"] for r in rs)
    r0 = rs[0]
    hf = next((r for r in rs if r["side"] == "hf"), {})
    v = hf.get("versions", {})
    lines = []
    p = lines.append

    def pooled(label):
        g = by.get(label, [])
        if not g:
            return None
        n = sum(r["samples"] for r in g)
        sec = sum(r["seconds"] for r in g)
        cpu = sum(_cpu(r) for r in g)
        steps = [x for r in g for x in r["extra"]["step_s"]]
        part = lambda k: statistics.median([x for r in g for x in r["extra"].get(k, [])] or [float("nan")])
        return {
            "n": n, "sps": n / sec, "spc": n / cpu, "tok_s": sum(r["tokens"] for r in g) / sec,
            "step": statistics.median(steps), "mean_step": sum(steps) / len(steps),
            "cpu_step": cpu / len(steps), "fwd": part("fwd_s"), "bwd": part("bwd_s"), "opt": part("opt_s"),
            "rss": max(r["vm_hwm_mib"] for r in g), "rounds": len(g), "steps": len(steps),
            "loads": [r["load_before"] for r in g], "trainable": g[0].get("trainable_params"),
            "peak": max(r["matmul_peak_flops"] for r in g), "flop_params": g[0]["flop_params"],
        }

    dtypes = [d for d in ("f32", "bf16") if any(l.endswith(" " + d) for l in labels)]
    p(f"# mosx trainer loop vs transformers + peft: Gemma-3-270M training steps (batch {r0['batch']})\n")
    p(f"torch {v.get('torch', '?')} (the same libtorch on both sides), transformers {v.get('transformers', '?')}, "
      f"peft {v.get('peft', '?')}; {r0['threads']} threads each; on {r0.get('device', 'cpu')}; dtypes {', '.join(dtypes)} "
      f"(bf16: the backbone's weights and activations, trainable parameters and optimizer state f32 on both sides); "
      f"AdamW lr 1e-3 weight decay 0 (= Adam), grad-norm clip 1.0, pair loss (cross-entropy over [Yes, No]) on both sides.  ")
    peaks = {d: max(r["matmul_peak_flops"] for r in rs if r["label"].endswith(" " + d)) for d in dtypes}
    peak_text = ", ".join(f"{d} {peaks[d] / 1e9:.1f} GFLOP/s" for d in dtypes)
    p(f"Measured matmul peak (2048^3, best process, per dtype): {peak_text}; "
      f"P = {r0['flop_params'] / 1e6:.1f} M. Load average after the run: {load_after}.\n")
    p("| workload | implementation | dtype | trainable | rounds x steps | samples/s | samples per CPU-s | median step s (fwd / bwd / opt) | peak RSS GiB | MFU (4P) | load before (1-min) |")
    p("|---|---|---|---|---|---|---|---|---|---|---|")
    order = [("prompt tuning", "prompt_tuning"), ("LoRA r8 q,v", "lora"), ("MoS E4 L16 (rec+fair+div)", "mos")]
    for work, m in order:
        for d in dtypes:
            for l in (f"mosx {m} {d}", f"hf {m} best {d}", f"hf {m} typical {d}"):
                q = pooled(l)
                if q is None:
                    continue
                impl = "mosx (trainer)" if l.startswith("mosx") else f"HF+peft {l.split()[2]}"
                mfu = 4 * q["flop_params"] * q["tok_s"] / q["peak"]
                p(f"| {work} | {impl} | {d} | {q['trainable'] or '?'} | {q['rounds']} x {q['steps'] // q['rounds']} | "
                  f"{q['sps']:.3f} | {q['spc']:.3f} | {q['step']:.2f} ({q['fwd']:.2f} / {q['bwd']:.2f} / {q['opt']:.3f}) | "
                  f"{q['rss'] / 1024:.2f} | {mfu:.0%} | {', '.join(x.split()[0] for x in q['loads'])} |")
    p("")

    def per_round(a, b, f):
        out = []
        for ra in by.get(a, []):
            rb = next((x for x in by.get(b, []) if x["round"] == ra["round"]), None)
            if rb:
                out.append(f(ra, rb))
        return out

    spc = lambda r: r["samples"] / _cpu(r)
    sps = lambda r: r["samples"] / r["seconds"]

    def ratio_line(name, a, b, target):
        qa, qb = pooled(a), pooled(b)
        if not (qa and qb):
            return
        wall, cpu = qa["sps"] / qb["sps"], qa["spc"] / qb["spc"]
        rounds = per_round(a, b, lambda x, y: f"{sps(x) / sps(y):.2f}x / {spc(x) / spc(y):.2f}x")
        verdict = "met" if min(wall, cpu) >= target else ("NOT met" if max(wall, cpu) < target else "mixed")
        p(f"* {name}: `{a}` / `{b}` = **{wall:.2f}x** by wall clock, **{cpu:.2f}x** per CPU-second "
          f"(target >= {target}x: {verdict}); per round (wall / CPU): {', '.join(rounds)}. "
          f"Peak RSS {qa['rss'] / 1024:.2f} vs {qb['rss'] / 1024:.2f} GiB.")

    p("Targets:")
    for m in ("prompt_tuning", "lora", "mos"):
        ratio_line(f"{m}, mixed precision", f"mosx {m} bf16", f"mosx {m} f32", 1.8)
    for m in ("prompt_tuning", "lora"):
        for d in dtypes:
            ratio_line(f"{m}, vs HF+peft best ({d})", f"mosx {m} {d}", f"hf {m} best {d}", 1.2 if d == "bf16" else 1.1)
        qm, qt = pooled(f"mosx {m} f32"), pooled(f"hf {m} typical f32")
        if qm and qt:
            p(f"  * `mosx {m} f32` vs HF+peft typical f32: {qm['sps'] / qt['sps']:.2f}x by wall clock, "
              f"{qm['spc'] / qt['spc']:.2f}x per CPU-second.")
    q = pooled("mosx prompt_tuning bf16")
    if q:
        p(f"* peak RSS of mosx prompt tuning in bf16 at batch {r0['batch']}: {q['rss'] / 1024:.2f} GiB "
          f"(target <= 2.5 GiB: {'met' if q['rss'] / 1024 <= 2.5 else 'NOT met'}).")
    for d in dtypes:
        qm, qp = pooled(f"mosx mos {d}"), pooled(f"mosx prompt_tuning {d}")
        if not (qm and qp):
            continue
        wall, cpu = qm["mean_step"] / qp["mean_step"], qm["cpu_step"] / qp["cpu_step"]
        rounds = per_round(f"mosx mos {d}", f"mosx prompt_tuning {d}",
                           lambda a, b: f"{(a['seconds'] / a['steps']) / (b['seconds'] / b['steps']):.2f}x / "
                                        f"{(_cpu(a) / a['steps']) / (_cpu(b) / b['steps']):.2f}x")
        verdict = "met" if max(wall, cpu) <= 1.3 else ("NOT met" if min(wall, cpu) > 1.3 else "mixed")
        p(f"* MoS / prompt tuning step time ({d}) = **{wall:.2f}x** by wall clock, **{cpu:.2f}x** in CPU time per step "
          f"(target <= 1.3x: {verdict}); per round (wall / CPU): {', '.join(rounds)}.")
    for l in labels:
        p(f"* {l} losses: {', '.join(f'{x:.3f}' for r in by[l] for x in r['extra']['losses'])}")
    p("")
    p("samples/s pools all rounds (sum of samples / sum of timed step seconds, warm-up steps excluded); "
      "samples per CPU-s divides by the process's CPU time (user + system, all threads) over the timed steps, "
      "less sensitive to the machine's other load. A step is zero_grad + batch + forward + loss read-back (fwd), "
      "backward (bwd), clip + optimizer step (opt). Peak RSS = VmHWM at the end (model load included). "
      "MFU (4P) = 4 x P x tokens/s / the matmul peak of the row's dtype (frozen base: no weight gradients; P = non-embedding parameters + "
      "2 answer rows). HF best = left padding + `logits_to_keep=1`; typical = right padding, full-vocabulary "
      "logits. Batches: the same file-order batches on every side.")
    print("\n".join(lines))


def main() -> None:
    if sys.argv[1] == "--train":
        train_main(Path(sys.argv[2]), sys.argv[4])
        return
    raw, out_dir, load_after = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    suf = sys.argv[4] if len(sys.argv) > 4 else ""
    rs = [json.loads(l) for l in raw.open() if l.strip()]
    by = {r["label"]: r for r in rs}
    peak = max(r["matmul_peak_flops"] for r in rs)
    lines = []
    p = lines.append
    r0 = rs[0]
    hf = next((r for r in rs if r["side"] == "hf"), {})
    v = hf.get("versions", {})
    p(f"# mosx vs transformers + peft: Gemma-3-270M prompt tuning and scoring (batch {r0['batch']})\n")
    p(f"torch {v.get('torch', '?')} (the same libtorch on both sides), transformers {v.get('transformers', '?')}, "
      f"peft {v.get('peft', '?')}; {r0['threads']} threads each; {r0.get('dtype', 'f32')} on {r0.get('device', 'cpu')}.  ")
    p(f"Measured matmul peak ({r0.get('dtype', 'f32')} 2048^3, best process): {peak / 1e9:.1f} GFLOP/s; "
      f"P = {r0['flop_params'] / 1e6:.1f} M (non-embedding + 2 answer rows). "
      f"Load average after the run: {load_after}.\n")
    p("| workload | implementation | timed | samples/s | median step s | tokens/s | peak RSS MiB | mosx speed-up | samples/CPU-s | mosx speed-up (CPU) | MFU | MFU (4P) | load before |")
    p("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for mode, mosx_label, others in (
        ("train", "mosx train", ["hf train best", "hf train typical"]),
        ("score", "mosx score", ["hf score best", "hf score typical"]),
    ):
        m = by.get(mosx_label)
        for label in [mosx_label] + others:
            r = by.get(label)
            if r is None:
                continue
            flops = (6 if mode == "train" else 2) * r["flop_params"] * r["tokens_per_s"]
            mfu4 = f"{4 * r['flop_params'] * r['tokens_per_s'] / peak:.0%}" if mode == "train" else ""
            speed = "" if label == mosx_label or m is None else f"{m['samples_per_s'] / r['samples_per_s']:.2f}x"
            unit = "steps" if mode == "train" else "passes of 64"
            impl = "mosx" if r["side"] == "mosx" else f"HF {r['config']}"
            spc = r["samples"] / r["extra"]["cpu_s"] if r["extra"].get("cpu_s") else float("nan")
            mspc = m["samples"] / m["extra"]["cpu_s"] if m and m["extra"].get("cpu_s") else float("nan")
            speed_cpu = "" if label == mosx_label else f"{mspc / spc:.2f}x"
            med = statistics.median(r["extra"]["step_s"]) if r["extra"].get("step_s") else float("nan")
            p(f"| {mode} | {impl} | {r['steps'] if mode == 'train' else r['extra']['passes']} {unit} | "
              f"{r['samples_per_s']:.2f} | {med:.2f} | {r['tokens_per_s']:.0f} | {r['vm_hwm_mib']:.0f} | {speed} | "
              f"{spc:.3f} | {speed_cpu} | {flops / peak:.0%} | {mfu4} | {r['load_before']} |")
    p("")
    p("Targets: training >= 1.5x and scoring >= 2x the HF *best* configuration (speed-up = mosx samples/s / HF samples/s).")
    for mode, best in (("train", "hf train best"), ("score", "hf score best")):
        m, h = by.get(f"mosx {mode}"), by.get(best)
        if m and h:
            target = 1.5 if mode == "train" else 2.0
            ratio = m["samples_per_s"] / h["samples_per_s"]
            cpu = (m["samples"] / m["extra"]["cpu_s"]) / (h["samples"] / h["extra"]["cpu_s"]) \
                if m["extra"].get("cpu_s") and h["extra"].get("cpu_s") else float("nan")
            p(f"* {mode}: {ratio:.2f}x vs HF best by wall clock (target {target}x: {'met' if ratio >= target else 'NOT met'}), "
              f"{cpu:.2f}x by CPU time; peak RSS {m['vm_hwm_mib']:.0f} vs {h['vm_hwm_mib']:.0f} MiB.")
    # Agreement of the scored probabilities (same prompts, same weights).
    try:
        a = json.loads((out_dir / f"pyes_mosx{suf}.json").read_text())
        for cfg in ("best", "typical"):
            b = json.loads((out_dir / f"pyes_hf_{cfg}{suf}.json").read_text())
            d = max(abs(x - y) for x, y in zip(a, b))
            p(f"* scoring agreement: max |p_yes(mosx) - p_yes(HF {cfg})| = {d:.2e} over {len(a)} prompts.")
    except (OSError, ValueError) as e:
        p(f"* scoring agreement: not checked ({e}).")
    for label in ("mosx train", "hf train best", "hf train typical"):
        r = by.get(label)
        if r:
            p(f"* {label} losses: {', '.join(f'{x:.3f}' for x in r['extra']['losses'])}")
    p("")
    p("Configurations: HF best = left padding + `logits_to_keep=1` (scoring: length-sorted batches); "
      "HF typical = right padding, full-vocabulary logits, answer gathered at the last real token "
      "(scoring: file order). mosx = `probe` (length-sorted, right padding, answer rows only) for "
      "scoring; soft prompt prepended to `embed(ids)` + `answer_logits` + Adam for training. "
      "Training batches are the same 8 file-order batches on every side. "
      "MFU = 2P (scoring) or 6P (training) x tokens/s / peak; MFU (4P) counts the frozen-base "
      "backward honestly (no weight gradients). samples/CPU-s divides by the process's CPU time "
      "(user + system, all threads) instead of wall time.")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

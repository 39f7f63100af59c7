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

Usage: model_report.py RAW.jsonl OUT_DIR "LOADAVG AFTER"
"""
import json
import statistics
import sys
from pathlib import Path


def main() -> None:
    raw, out_dir, load_after = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
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
      f"peft {v.get('peft', '?')}; {r0['threads']} threads each; f32 on CPU.  ")
    p(f"Measured matmul peak (f32 2048^3, best process): {peak / 1e9:.1f} GFLOP/s; "
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
        a = json.loads((out_dir / "pyes_mosx.json").read_text())
        for cfg in ("best", "typical"):
            b = json.loads((out_dir / f"pyes_hf_{cfg}.json").read_text())
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

//! Measurement helpers shared by the Rust sides of the model benchmarks
//! (`crates/mosx-models/examples/bench_prompt_tuning.rs`, `crates/mosx-methods/examples/bench_train.rs`),
//! included by path: the prompts file both sides read, the device and dtype they run in
//! (`BENCH_DEVICE`, `BENCH_DTYPE`), peak RSS, process CPU time and the machine's matmul peak
//! in that device and dtype.

use std::io::BufRead;
use std::time::Instant;

use tch::{Device, Kind, Tensor};

pub type BoxErr = Box<dyn std::error::Error>;

pub struct Prompt {
    pub text: String,
    pub label: i64,
}

pub fn read_prompts(path: &str) -> Result<Vec<Prompt>, BoxErr> {
    let f = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("{path}:{}: {e}", i + 1))?;
        let text = v["prompt"]
            .as_str()
            .ok_or_else(|| format!("{path}:{}: no string `prompt`", i + 1))?;
        let label = v["label"]
            .as_i64()
            .ok_or_else(|| format!("{path}:{}: no integer `label`", i + 1))?;
        out.push(Prompt {
            text: text.to_string(),
            label,
        });
    }
    if out.is_empty() {
        return Err(format!("{path}: no prompts").into());
    }
    Ok(out)
}

/// Peak resident set size of this process, in MiB (`VmHWM` of /proc/self/status).
pub fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds (user + system, all threads) this process has used, from /proc/self/stat.
pub fn cpu_seconds() -> f64 {
    // stat(5): utime and stime are fields 14 and 15 (clock ticks, 100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // `rest` starts with field 3, the state letter (dropped: not a number), so field k is f[k - 4].
    match (f.get(10), f.get(11)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => f64::NAN,
    }
}

/// Where a benchmark runs: `BENCH_DEVICE` (`cpu`, default, or `cuda`) and `BENCH_DTYPE`
/// (`f32`, default, or `bf16`: the backbone's weights and activations; trainable
/// parameters stay f32), with their names for the RESULT line.
pub struct Target {
    pub device: Device,
    pub kind: Kind,
    pub device_name: &'static str,
    pub dtype_name: &'static str,
}

pub fn target() -> Result<Target, BoxErr> {
    let dev = std::env::var("BENCH_DEVICE").unwrap_or_else(|_| "cpu".into());
    let (device, device_name) = match dev.as_str() {
        "cpu" => (Device::Cpu, "cpu"),
        "cuda" if tch::Cuda::is_available() => (Device::Cuda(0), "cuda"),
        "cuda" => return Err("BENCH_DEVICE=cuda but CUDA is not available".into()),
        other => return Err(format!("BENCH_DEVICE {other:?}: expected cpu or cuda").into()),
    };
    let dt = std::env::var("BENCH_DTYPE").unwrap_or_else(|_| "f32".into());
    let (kind, dtype_name) = match dt.as_str() {
        "f32" => (Kind::Float, "f32"),
        "bf16" => (Kind::BFloat16, "bf16"),
        other => return Err(format!("BENCH_DTYPE {other:?}: expected f32 or bf16").into()),
    };
    Ok(Target {
        device,
        kind,
        device_name,
        dtype_name,
    })
}

/// Waits for the device's queued work (CUDA kernels are asynchronous), so timings end
/// when the work does.
pub fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Best-of-`reps` FLOP/s of a `[n, n] x [n, n]` matmul on `t`'s device in its dtype.
pub fn matmul_peak(n: i64, reps: usize, t: &Target) -> f64 {
    let _g = tch::no_grad_guard();
    let a = Tensor::randn([n, n], (t.kind, t.device));
    let b = Tensor::randn([n, n], (t.kind, t.device));
    let mut c = a.matmul(&b);
    sync(t.device);
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t0 = Instant::now();
        c = a.matmul(&b);
        sync(t.device);
        best = best.min(t0.elapsed().as_secs_f64());
    }
    let _ = c.double_value(&[0, 0]);
    2.0 * (n as f64).powi(3) / best
}

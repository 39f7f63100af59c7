//! Shared helpers for the mosx-store integration tests.
#![allow(dead_code)]

use mosx_store::{Artifact, RunId, SqliteStore, StageRecord};
use serde_json::json;

pub fn open_tmp() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
    (dir, store)
}

pub fn key(i: usize) -> String {
    blake3::hash(format!("key-{i}").as_bytes())
        .to_hex()
        .to_string()
}

pub fn rec(key: &str, run: RunId) -> StageRecord {
    StageRecord {
        key: key.to_string(),
        kind: "train".into(),
        name: format!("train/{}", &key[..8.min(key.len())]),
        params: json!({"lr": 0.001, "epochs": 3}),
        parts: json!({"code": "abc", "data": "def"}),
        started_at: 1_700_000_000.25,
        finished_at: 1_700_000_010.75,
        duration_ms: 10_500,
        run_id: run,
        mosx_version: "0.1.0".into(),
        git_commit: Some("deadbeef".into()),
        git_dirty: true,
        host: "testhost".into(),
        device: "cpu".into(),
        seed: Some(42),
        spec_hash: "spec".into(),
    }
}

pub fn art(name: &str, bytes: Vec<u8>) -> Artifact {
    Artifact {
        name: name.to_string(),
        format: "bin".into(),
        bytes,
    }
}

/// Deterministic pseudo-random bytes (so a large artifact is not trivially compressible).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub const BIG: usize = 300 * 1024;

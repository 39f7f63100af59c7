//! The named parts a stage key is the hash of, shared by the planner (which computes them)
//! and the worker (which checks a job's key against them).
//!
//! Invariant: the key is blake3 over the canonical JSON of [`Parts`] (object keys sorted at
//! every depth), so it does not depend on key order in the spec, on mtimes or on absolute
//! paths.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The named parts a stage key is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parts {
    pub kind: String,
    pub code_version: u32,
    /// Code unit (crate, root source file, `libtorch`) → build-time hash or version.
    /// Absent in fingerprints recorded before code hashing (they differ from every new one).
    #[serde(default)]
    pub code: BTreeMap<String, String>,
    pub params: Value,
    /// Slot → upstream key.
    pub inputs: BTreeMap<String, String>,
    /// Stable file name → content hash (blake3 hex).
    pub files: BTreeMap<String, String>,
}

impl Parts {
    pub fn key(&self) -> String {
        let v = serde_json::to_value(self).unwrap_or(Value::Null);
        let mut buf = Vec::with_capacity(256);
        write_canonical(&v, &mut buf);
        blake3::hash(&buf).to_hex().to_string()
    }
}

/// Canonical JSON: object keys sorted, no whitespace.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(serde_json::to_string(k).unwrap_or_default().as_bytes());
                out.push(b':');
                write_canonical(&m[*k], out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out);
            }
            out.push(b']');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

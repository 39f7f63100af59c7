//! Stage fingerprints: named parts, a canonical serialisation, and a blake3 key.
//!
//! Invariants:
//! * The key is blake3 over the canonical JSON of `Parts` (object keys sorted at
//!   every depth), so it does not depend on key order in the spec, on mtimes or on
//!   absolute paths.
//! * `diff` compares two `Parts` and names each change (param with old and new
//!   value, upstream slot, file, code unit, code version), which is what `--explain` prints.
//! * `code` holds the build-time hash of every code unit the kind runs (`plan::code`), so the
//!   key changes when that code changes; `code_version` is a manual addition to it.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::Value;

pub use mosx_stage::parts::{write_canonical, Parts};

/// One difference between an old and a new fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    CodeVersion {
        kind: String,
        old: u32,
        new: u32,
    },
    Kind {
        old: String,
        new: String,
    },
    Code {
        unit: String,
        old: Option<String>,
        new: Option<String>,
    },
    Param {
        path: String,
        old: Option<Value>,
        new: Option<Value>,
    },
    Input {
        slot: String,
    },
    File {
        name: String,
        old: Option<String>,
        new: Option<String>,
    },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn show(v: &Option<Value>) -> String {
            match v {
                None => "(unset)".into(),
                Some(v) => v.to_string(),
            }
        }
        match self {
            Change::CodeVersion { kind, old, new } => {
                write!(f, "code version of `{kind}` {old} → {new}")
            }
            Change::Kind { old, new } => write!(f, "kind {old} → {new}"),
            Change::Code { unit, old, new } if unit == super::code::LIBTORCH_UNIT => write!(
                f,
                "libtorch {} → {}",
                old.as_deref().unwrap_or("(none)"),
                new.as_deref().unwrap_or("(none)")
            ),
            Change::Code { unit, old, new } => match (old, new) {
                (Some(_), Some(_)) => write!(f, "code of {unit} changed"),
                (None, _) => write!(f, "code of {unit} added"),
                (Some(_), None) => write!(f, "code of {unit} no longer used"),
            },
            Change::Param { path, old, new } => {
                write!(f, "param {path} {} → {}", show(old), show(new))
            }
            Change::Input { slot } => write!(f, "upstream `{slot}` changed"),
            Change::File { name, old, new } => match (old, new) {
                (Some(a), Some(b)) => write!(
                    f,
                    "file {name} changed ({} → {})",
                    &a[..8.min(a.len())],
                    &b[..8.min(b.len())]
                ),
                (None, Some(_)) => write!(f, "file {name} added"),
                (Some(_), None) => write!(f, "file {name} removed"),
                (None, None) => write!(f, "file {name}"),
            },
        }
    }
}

/// The changes from `old` to `new`, params first.
pub fn diff(old: &Parts, new: &Parts) -> Vec<Change> {
    let mut out = Vec::new();
    if old.kind != new.kind {
        out.push(Change::Kind {
            old: old.kind.clone(),
            new: new.kind.clone(),
        });
    } else if old.code_version != new.code_version {
        out.push(Change::CodeVersion {
            kind: new.kind.clone(),
            old: old.code_version,
            new: new.code_version,
        });
    }
    if old.kind == new.kind {
        let units: std::collections::BTreeSet<&String> =
            old.code.keys().chain(new.code.keys()).collect();
        for u in units {
            let (x, y) = (old.code.get(u), new.code.get(u));
            if x != y {
                out.push(Change::Code {
                    unit: u.clone(),
                    old: x.cloned(),
                    new: y.cloned(),
                });
            }
        }
    }
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &old.params, &mut a);
    flatten("", &new.params, &mut b);
    let paths: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for p in paths {
        let (x, y) = (a.get(p), b.get(p));
        if x != y {
            out.push(Change::Param {
                path: p.clone(),
                old: x.cloned(),
                new: y.cloned(),
            });
        }
    }
    let slots: std::collections::BTreeSet<&String> =
        old.inputs.keys().chain(new.inputs.keys()).collect();
    for s in slots {
        if old.inputs.get(s) != new.inputs.get(s) {
            out.push(Change::Input { slot: s.clone() });
        }
    }
    let names: std::collections::BTreeSet<&String> =
        old.files.keys().chain(new.files.keys()).collect();
    for n in names {
        let (x, y) = (old.files.get(n), new.files.get(n));
        if x != y {
            out.push(Change::File {
                name: n.clone(),
                old: x.cloned(),
                new: y.cloned(),
            });
        }
    }
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, x, out);
            }
        }
        _ => {
            out.insert(prefix.to_string(), v.clone());
        }
    }
}

/// Content hashes of files, memoised per process by (path, size, mtime): the memo
/// only avoids re-reading a file within one process; the hash itself is of content.
static FILE_HASHES: Mutex<Option<HashMap<PathBuf, (u64, Option<SystemTime>, String)>>> =
    Mutex::new(None);

pub fn file_hash(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    let (len, mtime) = (meta.len(), meta.modified().ok());
    if let Ok(guard) = FILE_HASHES.lock() {
        if let Some((l, m, h)) = guard.as_ref().and_then(|m| m.get(path)) {
            if *l == len && *m == mtime {
                return Ok(h.clone());
            }
        }
    }
    let mut hasher = blake3::Hasher::new();
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let h = hasher.finalize().to_hex().to_string();
    if let Ok(mut guard) = FILE_HASHES.lock() {
        guard
            .get_or_insert_with(HashMap::new)
            .insert(path.to_path_buf(), (len, mtime, h.clone()));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(params: Value) -> Parts {
        Parts {
            kind: "measure".into(),
            code_version: 1,
            code: BTreeMap::from([("mosx-data".to_string(), "aa".to_string())]),
            params,
            inputs: BTreeMap::new(),
            files: BTreeMap::new(),
        }
    }

    #[test]
    fn key_ignores_object_key_order() {
        let a = parts(json!({"a": 1, "b": {"x": 1, "y": 2}}));
        let b = parts(json!({"b": {"y": 2, "x": 1}, "a": 1}));
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), parts(json!({"a": 2, "b": {"x": 1, "y": 2}})).key());
    }

    #[test]
    fn diff_names_param_with_old_and_new() {
        let a = parts(json!({"z_star": 1.0, "degree": "share"}));
        let b = parts(json!({"z_star": 1.645, "degree": "share"}));
        let d = diff(&a, &b);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].to_string(), "param z_star 1.0 → 1.645");
    }

    #[test]
    fn code_hash_enters_the_key_and_diff_names_the_unit() {
        let a = parts(json!({}));
        let mut b = a.clone();
        b.code.insert("mosx-data".into(), "bb".into());
        assert_ne!(a.key(), b.key());
        let d: Vec<String> = diff(&a, &b).iter().map(|c| c.to_string()).collect();
        assert_eq!(d, vec!["code of mosx-data changed"]);
        b.code.insert("libtorch".into(), "2.11.0+cpu".into());
        let mut c = b.clone();
        c.code.insert("libtorch".into(), "2.12.0+cpu".into());
        let d: Vec<String> = diff(&b, &c).iter().map(|c| c.to_string()).collect();
        assert_eq!(d, vec!["libtorch 2.11.0+cpu → 2.12.0+cpu"]);
        // A fingerprint recorded before code hashing still reads, and names what was added.
        let mut old = serde_json::to_value(&a).unwrap();
        old.as_object_mut().unwrap().remove("code");
        let old: Parts = serde_json::from_value(old).unwrap();
        let d: Vec<String> = diff(&old, &a).iter().map(|c| c.to_string()).collect();
        assert_eq!(d, vec!["code of mosx-data added"]);
    }

    #[test]
    fn diff_names_upstream_and_code_version() {
        let mut a = parts(json!({}));
        a.inputs.insert("split".into(), "k1".into());
        let mut b = a.clone();
        b.inputs.insert("split".into(), "k2".into());
        b.code_version = 2;
        let d: Vec<String> = diff(&a, &b).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            d,
            vec![
                "code version of `measure` 1 → 2",
                "upstream `split` changed"
            ]
        );
    }
}

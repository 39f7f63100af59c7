//! The code a stage kind runs, as build-time hashes of its units (see `build.rs` and
//! `code_units.rs`), so a stage key changes when that code changes.
//!
//! Invariants:
//! * Every unit a kind names is known at build time; an unknown name is a plan error
//!   ([`UnknownUnit`]), never ignored.
//! * A crate unit brings its workspace dependencies with it (transitively), each under its
//!   own name, so `--explain` names the crate whose sources changed.
//! * `src/stages/mod.rs`, `artifact.rs` and `params.rs` are implied for every kind, and so is
//!   the build, as cargo's fingerprints cover it: `Cargo.lock` (the locked dependency
//!   versions) and `rustc` (`rustc -vV`), so `--explain` names them when they changed.
//! * Device stages also cover the libtorch version (`libtorch`): the one in `$LIBTORCH` when
//!   mosx was built, which the worker checks is the one it runs (`exec::job::Job::verify`).

use std::collections::BTreeMap;

use crate::stages::{Resource, StageKind};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/code_hashes.rs"));
}

pub use generated::LIBTORCH_VERSION;

/// Units every kind runs: the stage framework, and the build (`Cargo.lock`, the compiler).
pub const IMPLIED: &[&str] = &[
    "src/stages/artifact.rs",
    "src/stages/mod.rs",
    "src/stages/params.rs",
    LOCK_UNIT,
    RUSTC_UNIT,
];

/// The build units `build.rs` adds (`code_units::LOCK_UNIT`, `code_units::RUSTC_UNIT`):
/// the hash of `Cargo.lock` and of `rustc -vV`.
pub const LOCK_UNIT: &str = "Cargo.lock";
pub const RUSTC_UNIT: &str = "rustc";

/// The unit name under which the libtorch version enters device stages' keys.
pub const LIBTORCH_UNIT: &str = "libtorch";

/// A kind named a code unit that is neither a workspace crate nor a source file of the root
/// crate or the worker (`code_units::FILE_UNIT_DIRS`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("stage kind `{kind}` names code unit `{unit}`, which is not a workspace crate or a source file under src/ or crates/mosx-worker/src/{}", .suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
pub struct UnknownUnit {
    pub kind: String,
    pub unit: String,
    pub suggestion: Option<String>,
}

/// The build-time hash of `unit`.
pub fn unit_hash(unit: &str) -> Option<&'static str> {
    generated::UNITS
        .binary_search_by(|(n, _)| (*n).cmp(unit))
        .ok()
        .map(|i| generated::UNITS[i].1)
}

/// Every known unit name.
pub fn units() -> impl Iterator<Item = &'static str> {
    generated::UNITS.iter().map(|(n, _)| *n)
}

fn crate_deps(name: &str) -> &'static [&'static str] {
    generated::CRATE_DEPS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, d)| *d)
        .unwrap_or(&[])
}

/// Unit → hash for `kind` with these normalised params: its units, the implied ones, the
/// workspace dependencies of its crates, and `libtorch` for device stages.
pub fn code_of(
    kind: &dyn StageKind,
    params: &serde_json::Value,
) -> Result<BTreeMap<String, String>, UnknownUnit> {
    let mut out = BTreeMap::new();
    let mut todo: Vec<&str> = IMPLIED.iter().chain(kind.code().iter()).copied().collect();
    while let Some(u) = todo.pop() {
        if out.contains_key(u) {
            continue;
        }
        let Some(h) = unit_hash(u) else {
            return Err(UnknownUnit {
                kind: kind.name().to_string(),
                unit: u.to_string(),
                suggestion: mosx_spec::suggest(u, units()),
            });
        };
        out.insert(u.to_string(), h.to_string());
        todo.extend(crate_deps(u).iter().copied());
    }
    if kind.resource(params) == Resource::Device {
        out.insert(LIBTORCH_UNIT.to_string(), LIBTORCH_VERSION.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::code_units;
    use std::path::Path;

    #[test]
    fn every_registered_kind_names_known_units() {
        let reg = crate::stages::Registry::builtin();
        for name in reg.names() {
            let kind = reg.get(name).unwrap();
            for u in kind.code() {
                assert!(
                    unit_hash(u).is_some(),
                    "stage kind `{name}` names unknown code unit `{u}`"
                );
            }
            let code = code_of(&**kind, &serde_json::json!({})).unwrap();
            for i in IMPLIED {
                assert!(code.contains_key(*i), "{name}: {i} not implied");
            }
        }
    }

    #[test]
    fn unknown_unit_is_an_error_naming_it() {
        struct Bad;
        impl StageKind for Bad {
            fn name(&self) -> &'static str {
                "bad"
            }
            fn code_version(&self) -> u32 {
                1
            }
            fn code(&self) -> &'static [&'static str] {
                &["mosx-dta"]
            }
            fn about(&self) -> &'static str {
                ""
            }
            fn slots(&self) -> &'static [crate::stages::Slot] {
                &[]
            }
            fn metrics(&self) -> &'static [&'static str] {
                &[]
            }
            fn normalize(
                &self,
                _: &serde_json::Map<String, serde_json::Value>,
            ) -> Result<serde_json::Value, crate::stages::ParamError> {
                Ok(serde_json::json!({}))
            }
            fn run(
                &self,
                _: &crate::stages::StageCtx<'_>,
            ) -> Result<crate::stages::Output, crate::stages::StageError> {
                unreachable!()
            }
        }
        let e = code_of(&Bad, &serde_json::json!({})).unwrap_err();
        assert_eq!(e.unit, "mosx-dta");
        assert!(e.to_string().contains("did you mean `mosx-data`"), "{e}");
    }

    #[test]
    fn generated_hashes_match_the_sources() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let f = "src/stages/load.rs";
        assert_eq!(
            unit_hash(f).unwrap(),
            code_units::hash_file(&root.join(f)).unwrap()
        );
        let files = code_units::crate_files(root, "mosx-fairness").unwrap();
        assert!(files.contains(&"crates/mosx-fairness/Cargo.toml".to_string()));
        assert_eq!(
            unit_hash("mosx-fairness").unwrap(),
            code_units::hash_files(root, &files).unwrap()
        );
    }

    #[test]
    fn the_table_lists_the_lock_file_and_the_compiler_and_every_kind_runs_them() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(
            (LOCK_UNIT, RUSTC_UNIT),
            (code_units::LOCK_UNIT, code_units::RUSTC_UNIT)
        );
        assert_eq!(
            unit_hash(code_units::LOCK_UNIT).unwrap(),
            code_units::hash_file(&root.join("Cargo.lock")).unwrap()
        );
        let rustc = std::process::Command::new("rustc")
            .arg("-vV")
            .output()
            .unwrap();
        assert_eq!(
            unit_hash(code_units::RUSTC_UNIT).unwrap(),
            code_units::hash_bytes(&rustc.stdout),
            "the compiler unit is `rustc -vV` (run with the toolchain that built the tests)"
        );
        let reg = crate::stages::Registry::builtin();
        for name in reg.names() {
            let code = code_of(&**reg.get(name).unwrap(), &serde_json::json!({})).unwrap();
            for unit in [code_units::LOCK_UNIT, code_units::RUSTC_UNIT] {
                assert!(code.contains_key(unit), "{name}: no {unit}");
            }
        }
    }

    #[test]
    fn crate_units_bring_their_workspace_dependencies() {
        if unit_hash("mosx-methods").is_none() {
            return;
        }
        assert!(crate_deps("mosx-methods").contains(&"mosx-models"));
        assert!(crate_deps("mosx-methods").contains(&"mosx-config"));
        assert!(crate_deps("mosx-models").contains(&"mosx-config"));
    }
}

//! The planner's code table: the build-time hashes of every code unit (`build.rs`, with the
//! kernel's `code_units::generate`), which the stage keys cover (see `mosx_stage::code`).

pub use mosx_stage::code::{
    CodeTable, UnknownUnit, IMPLIED, KERNEL_UNIT, LIBTORCH_UNIT, LOCK_UNIT, RUSTC_UNIT,
};

/// The table of this binary.
pub static CODE: CodeTable = mosx_stage::code_table!();

/// The version of the libtorch in `$LIBTORCH` when the planner was built.
pub const LIBTORCH_VERSION: &str = CODE.libtorch;

#[cfg(test)]
mod tests {
    use super::*;
    use mosx_stage::code_units;
    use mosx_stage::StageKind;
    use std::path::Path;

    #[test]
    fn every_registered_kind_names_known_units() {
        let reg = crate::stages::registry::builtin();
        for name in reg.names() {
            let kind = reg.get(name).unwrap();
            for u in kind.code() {
                assert!(
                    CODE.unit_hash(u).is_some(),
                    "stage kind `{name}` names unknown code unit `{u}`"
                );
            }
            let code = CODE.code_of(&**kind, &serde_json::json!({})).unwrap();
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
            fn slots(&self) -> &'static [mosx_stage::Slot] {
                &[]
            }
            fn metrics(&self) -> &'static [&'static str] {
                &[]
            }
            fn normalize(
                &self,
                _: &serde_json::Map<String, serde_json::Value>,
            ) -> Result<serde_json::Value, mosx_stage::ParamError> {
                Ok(serde_json::json!({}))
            }
            fn run(
                &self,
                _: &mosx_stage::StageCtx<'_>,
            ) -> Result<mosx_stage::Output, mosx_stage::StageError> {
                unreachable!()
            }
        }
        let e = CODE.code_of(&Bad, &serde_json::json!({})).unwrap_err();
        assert_eq!(e.unit, "mosx-dta");
        assert!(e.to_string().contains("did you mean `mosx-data`"), "{e}");
    }

    #[test]
    fn generated_hashes_match_the_sources() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let f = "crates/mosx-kinds/src/load.rs";
        assert_eq!(
            CODE.unit_hash(f).unwrap(),
            code_units::hash_file(&root.join(f)).unwrap()
        );
        let files = code_units::crate_files(root, "mosx-fairness").unwrap();
        assert!(files.contains(&"crates/mosx-fairness/Cargo.toml".to_string()));
        assert_eq!(
            CODE.unit_hash("mosx-fairness").unwrap(),
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
            CODE.unit_hash(code_units::LOCK_UNIT).unwrap(),
            code_units::hash_file(&root.join("Cargo.lock")).unwrap()
        );
        let rustc = std::process::Command::new("rustc")
            .arg("-vV")
            .output()
            .unwrap();
        assert_eq!(
            CODE.unit_hash(code_units::RUSTC_UNIT).unwrap(),
            code_units::hash_bytes(&rustc.stdout),
            "the compiler unit is `rustc -vV` (run with the toolchain that built the tests)"
        );
        let reg = crate::stages::registry::builtin();
        for name in reg.names() {
            let code = CODE
                .code_of(&**reg.get(name).unwrap(), &serde_json::json!({}))
                .unwrap();
            for unit in [code_units::LOCK_UNIT, code_units::RUSTC_UNIT] {
                assert!(code.contains_key(unit), "{name}: no {unit}");
            }
        }
    }

    #[test]
    fn crate_units_bring_their_workspace_dependencies() {
        if CODE.unit_hash("mosx-methods").is_none() {
            return;
        }
        assert!(CODE.crate_deps("mosx-methods").contains(&"mosx-models"));
        assert!(CODE.crate_deps("mosx-methods").contains(&"mosx-config"));
        assert!(CODE.crate_deps("mosx-models").contains(&"mosx-config"));
    }
}

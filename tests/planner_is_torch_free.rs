//! The planner links no libtorch: the normal dependency tree of `mosx` (what `cargo build -p
//! mosx` compiles) has neither `tch` nor `torch-sys`, nor the heavy `tokenizers`, nor the tch
//! crates mosx-models and mosx-methods (their tch-free halves are mosx-config). Adding one of
//! them back fails this test, and so does a planner binary that loads libtorch.

use std::process::Command;

#[test]
fn the_planner_dependency_tree_has_no_torch() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let o = Command::new(&cargo)
        .args([
            "tree", "-p", "mosx", "-e", "normal", "--locked", "--prefix", "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.lines().any(|l| l.starts_with("mosx v")), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("mosx-config v")),
        "mosx-config is expected in the tree (the tch-free halves): {out}"
    );
    let crates: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for banned in [
        "tch",
        "torch-sys",
        "tokenizers",
        "mosx-models",
        "mosx-methods",
    ] {
        assert!(
            !crates.contains(&banned),
            "`{banned}` is in the planner's dependency tree:\n{out}"
        );
    }
}

/// The planner binary this test run built (with the whole workspace when run as `cargo test
/// --workspace`, which is where features would unify) loads no libtorch, libc10 or libgomp.
#[test]
fn the_planner_binary_links_no_libtorch() {
    let o = match Command::new("ldd").arg(env!("CARGO_BIN_EXE_mosx")).output() {
        Ok(o) => o,
        Err(e) => panic!("ldd (glibc's, on every Linux this builds on): {e}"),
    };
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "ldd failed: {o:?}");
    for lib in ["libtorch", "libc10", "libgomp"] {
        assert!(
            !out.contains(lib),
            "target/release/mosx links {lib}:\n{out}"
        );
    }
}

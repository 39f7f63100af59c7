//! The paper's table and figure specs, rewritten with `matrix:` stages (issue 16), compile to
//! the stages of the written-out specs they replaced, kept as fixtures in
//! `tests/fixtures/specs_written_out/`.
//!
//! Invariants checked, per spec and per sweep point, at the fixture's seeds (0, 1, 2; the
//! rewrites use 5 seeds, METHOD.md §8, so they are compiled with `sweep.seeds=[0,1,2]`):
//! * every stage of the fixture is in the rewrite under the same name with the same key; a
//!   key covers the kind, the normalised params, the code and the upstream keys, so equal
//!   keys also mean equal edges (and the slot names are compared besides);
//! * the rewrite adds only the z* = 1.645 stages (METHOD.md §7: a second measure stage per
//!   dataset, `<d>_measure_z1645`, read only by metrics stages `..._z1645`), and each added
//!   metrics stage reads the same predictions as its z* = 1.0 twin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mosx::plan::Plan;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn compile(spec: &Path, seeds: bool) -> Plan {
    let mut sets = vec![format!("vars.data={}", repo().join("data").display())];
    if seeds {
        sets.push("sweep.seeds=[0,1,2]".into());
    }
    let spec = mosx_spec::load(spec, &sets).unwrap_or_else(|e| panic!("{spec:?}: {e}"));
    mosx::plan::compile(spec, &mosx::stages::registry::builtin()).unwrap_or_else(|e| panic!("{e}"))
}

/// name → (key, slot → upstream name).
type Stages = BTreeMap<String, (String, BTreeMap<String, String>)>;

fn stages(plan: &Plan) -> Stages {
    plan.order
        .iter()
        .map(|&i| {
            let n = plan.node(i);
            let inputs = n
                .inputs
                .iter()
                .map(|(slot, &u)| (slot.clone(), plan.node(u).name.clone()))
                .collect();
            (n.name.clone(), (n.key.clone(), inputs))
        })
        .collect()
}

fn data_present() -> bool {
    repo().join("data/ml-100k/ml-100k.inter").exists()
        && repo()
            .join("data/bookcrossing/BX-Book-Ratings.csv")
            .exists()
}

#[test]
fn matrix_specs_compile_to_the_written_out_stages_plus_the_z1645_metrics() {
    if !data_present() {
        // The keys of load stages hash the data files (`make data`); CI has them.
        assert!(
            std::env::var("MOSX_TEST_SERVICES").as_deref() != Ok("required"),
            "data/ is missing"
        );
        eprintln!("skipped: data/ is missing (make data)");
        return;
    }
    let fixtures = repo().join("tests/fixtures/specs_written_out");
    for name in [
        "table1", "table2", "table4", "table5", "table6", "fig5", "fig6",
    ] {
        let old = stages(&compile(&fixtures.join(format!("{name}.yaml")), false));
        let new = stages(&compile(
            &repo().join(format!("experiments/{name}.yaml")),
            true,
        ));
        for (stage, v) in &old {
            assert_eq!(
                new.get(stage),
                Some(v),
                "{name}: stage `{stage}` differs from the written-out spec"
            );
        }
        for (stage, (_, inputs)) in new.iter().filter(|(s, _)| !old.contains_key(*s)) {
            let base = stage.split('[').next().unwrap_or(stage);
            assert!(
                base.ends_with("_z1645"),
                "{name}: `{stage}` is new and not a z* = 1.645 stage"
            );
            if let Some(pred) = inputs.get("predictions") {
                let twin = stage.replacen("_z1645", "", 1);
                assert_eq!(
                    old.get(&twin).and_then(|(_, i)| i.get("predictions")),
                    Some(pred),
                    "{name}: `{stage}` reads other predictions than `{twin}`"
                );
            }
        }
        let added = new.len() - old.len();
        let expected_z = !name.starts_with("fig");
        assert_eq!(added > 0, expected_z, "{name}: {added} stages added");
    }
}

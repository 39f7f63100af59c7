//! Bounds on what a spec may ask for (`limits`): alias bombs in a file and in a `--set`
//! value, variable bombs, spec file size and stage count, each a located error.
mod common;

use common::{at, err, ok, Dir};

const HEAD: &str = "stages:\n  ml_load:\n    kind: load\n    params:\n      path: data/tiny\n";

/// Nine levels of nine aliases: 9^9 nodes if expanded, as flow YAML on one line per level.
fn laughs(indent: &str) -> String {
    let mut t = format!("{indent}a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = format!("*a{}", i - 1);
        t.push_str(&format!(
            "{indent}a{i}: &a{i} [{}]\n",
            [p.as_str(); 9].join(", ")
        ));
    }
    t
}

#[test]
fn an_alias_bomb_in_a_spec_is_a_located_error() {
    let d = Dir::new();
    let p = d.write("s.yaml", &format!("{HEAD}vars:\n{}", laughs("  ")));
    let e = err(&p, &[]);
    assert!(e.message.contains("alias bomb"), "{e}");
    assert_eq!(at(&e).0, 13, "{e}");
    assert!(e.field.starts_with("vars.a6"), "{e}");
}

#[test]
fn an_alias_bomb_in_a_set_value_is_a_located_error() {
    let d = Dir::new();
    let p = d.write("s.yaml", HEAD);
    let mut v = String::from("{a0: &a0 [x, x, x, x, x, x, x, x, x]");
    for i in 1..10 {
        let r = format!("*a{}", i - 1);
        v.push_str(&format!(", a{i}: &a{i} [{}]", [r.as_str(); 9].join(", ")));
    }
    v.push('}');
    let set = format!("stages.ml_load.params.encoding={v}");
    let e = err(&p, &[&set]);
    assert_eq!(e.file.to_string_lossy(), mosx_spec::SET_FILE, "{e}");
    assert!(e.message.contains("alias bomb"), "{e}");
}

#[test]
fn a_variable_bomb_is_a_located_error() {
    let d = Dir::new();
    let mut t = format!("{HEAD}vars:\n  v0: \"{}\"\n", "x".repeat(1000));
    for i in 1..40 {
        let p = i - 1;
        t.push_str(&format!("  v{i}: \"${{v{p}}}${{v{p}}}\"\n"));
    }
    let p = d.write("s.yaml", &t);
    let e = err(&p, &[]);
    assert!(e.message.contains("variables doubling one another"), "{e}");
    assert!(e.field.starts_with("vars.v"), "{e}");
}

#[test]
fn a_spec_over_the_stage_limit_is_refused_at_its_sweep() {
    let d = Dir::new();
    let seeds: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let mut t = String::from("stages:\n");
    for i in 0..200 {
        t.push_str(&format!(
            "  s{i}: {{kind: load, params: {{path: data/tiny}}}}\n"
        ));
    }
    t.push_str(&format!("sweep:\n  seeds: [{}]\n", seeds.join(", ")));
    let p = d.write("s.yaml", &t);
    let e = err(&p, &[]);
    assert!(
        e.message.contains("200200 stages") && e.message.contains("limit of 200000"),
        "{e}"
    );
    assert_eq!(at(&e), (203, 3, "sweep.vars.seed"), "{e}");
}

#[test]
fn a_spec_file_over_the_size_limit_is_refused_unread() {
    let d = Dir::new();
    let mut t = String::from(HEAD);
    t.push_str("description: \"");
    t.push_str(&"x".repeat(mosx_spec::MAX_SPEC_BYTES as usize));
    t.push_str("\"\n");
    let p = d.write("s.yaml", &t);
    let e = err(&p, &[]);
    assert!(e.message.contains("larger than the limit of 16 MiB"), "{e}");
}

#[test]
fn many_small_aliases_and_variables_are_fine() {
    let d = Dir::new();
    let mut t = String::from("vars:\n  p: &p {path: data/tiny}\n  d: data/tiny\nstages:\n");
    for i in 0..2000 {
        t.push_str(&format!("  s{i}: {{kind: load, params: *p}}\n"));
        t.push_str(&format!(
            "  t{i}: {{kind: load, params: {{path: \"${{d}}\"}}}}\n"
        ));
    }
    let s = ok(&d.write("s.yaml", &t), &[]);
    assert_eq!(s.instances[0].stages.len(), 4000);
}

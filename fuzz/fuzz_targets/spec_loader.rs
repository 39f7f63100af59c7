//! The spec loader on arbitrary bytes: the input is a spec file; lines after a line
//! `#--set` are `--set` arguments. Any input must give a `Spec` or a `SpecError`, never a
//! panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (spec, sets) = match text.split_once("\n#--set\n") {
        Some((s, rest)) => (s.to_string(), rest.lines().map(str::to_string).collect()),
        None => (text.into_owned(), Vec::new()),
    };
    let dir = std::env::temp_dir().join(format!("mosx-fuzz-spec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("spec.yaml");
    std::fs::write(&path, spec.as_bytes()).unwrap();
    if let Ok(s) = mosx_spec::load(&path, &sets) {
        // Locating any field of a loaded spec must not panic either.
        for inst in &s.instances {
            for st in &inst.stages {
                let _ = s.error_at(&format!("stages.{}.params.x", st.name), "m", None);
            }
        }
    }
});

//! Plan-time checks of a spec's `report` entries, so a report that cannot render fails
//! before any stage runs (and under `--dry-run`), located at the spec's `file:line:col`.
//!
//! Invariants:
//! * A template entry names a template that loads and parses, and every top-level name it
//!   reads is one the report context provides ([`CONTEXT_NAMES`]) or a template global; the
//!   error names the undefined one.
//! * Every output is a file path (not empty, not a folder, its parent not a file, not a
//!   symlink, dangling or not) inside the project folder (the working directory), lexically
//!   and through the symlinks of its parents, unless the caller allows outside outputs. The
//!   check through symlinks is `mosx_report::output::confine`, the one writing repeats.

use std::path::{Component, Path, PathBuf};

use mosx_spec::{ReportDecl, Spec, SpecError};

/// Top-level names of the report context (`report::context::build`; keep in step with it).
pub const CONTEXT_NAMES: &[&str] = &[
    "spec",
    "options",
    "stages",
    "by_stage",
    "seeds",
    "cells",
    "groups",
    "comparisons",
    "claims",
    "pairs",
    "agreement",
];

/// Names a template may read without the context providing them (minijinja globals and
/// names bound inside templates).
const BUILTIN_NAMES: &[&str] = &[
    "range",
    "dict",
    "debug",
    "namespace",
    "loop",
    "self",
    "caller",
    "varargs",
    "kwargs",
    "super",
];

/// Checks every report entry of `spec`; see the module invariants.
pub fn check_reports(
    spec: &Spec,
    templates: &std::path::Path,
    allow_outside: bool,
) -> Result<(), SpecError> {
    if spec.report.is_empty() {
        return Ok(());
    }
    let cwd = std::env::current_dir().map_err(|e| {
        spec.error_at(
            "report",
            format!("cannot read the working directory: {e}"),
            None,
        )
    })?;
    let dir = templates;
    for (i, decl) in spec.report.iter().enumerate() {
        if let ReportDecl::Template { template, .. } = decl {
            check_template(spec, i, dir, template)?;
        }
        check_output(spec, i, decl.output(), &cwd, allow_outside)?;
        if let ReportDecl::Figure { output, .. } = decl {
            // A figure is written as `<output>.png` and `<output>.svg`.
            for ext in ["png", "svg"] {
                check_output(spec, i, &format!("{output}.{ext}"), &cwd, allow_outside)?;
            }
        }
    }
    // Comparisons name stages of the spec (`options.compare`, `options.comparisons`).
    crate::report::check_options(spec)
}

fn check_template(spec: &Spec, i: usize, dir: &Path, name: &str) -> Result<(), SpecError> {
    let field = format!("report.{i}.template");
    if !dir.is_dir() {
        return Err(spec.error_at(
            &field,
            format!("no templates folder: {} does not exist", dir.display()),
            None,
        ));
    }
    if !dir.join(name).is_file() {
        let known = template_names(dir);
        return Err(spec.error_at(
            &field,
            format!("template `{name}` not found in {}", dir.display()),
            mosx_spec::suggest(name, known.iter().map(String::as_str)),
        ));
    }
    let env = mosx_report::environment(dir);
    let tmpl = env.get_template(name).map_err(|e| {
        let at = e
            .line()
            .map(|l| format!("{name}:{l}"))
            .unwrap_or(name.to_string());
        spec.error_at(&field, format!("template {at} does not parse: {e}"), None)
    })?;
    let globals: Vec<String> = env.globals().map(|(k, _)| k.to_string()).collect();
    let mut undefined: Vec<String> = tmpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| {
            !CONTEXT_NAMES.contains(&v.as_str())
                && !BUILTIN_NAMES.contains(&v.as_str())
                && !globals.contains(v)
        })
        .collect();
    undefined.sort();
    if let Some(first) = undefined.first() {
        let all = undefined
            .iter()
            .map(|u| format!("`{u}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(spec.error_at(
            &field,
            format!(
                "template `{name}` uses undefined name{} {all}; the report context has `{}`",
                if undefined.len() > 1 { "s" } else { "" },
                CONTEXT_NAMES.join("`, `")
            ),
            mosx_spec::suggest(first, CONTEXT_NAMES.iter().copied()),
        ));
    }
    Ok(())
}

/// Template files under `dir` (relative names), for suggestions.
fn template_names(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// `p` with `.` dropped and `..` applied lexically; None if it climbs above its start.
fn lexical(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    let mut depth = 0usize;
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return None;
                }
                out.pop();
                depth -= 1;
            }
            Component::Normal(s) => {
                out.push(s);
                depth += 1;
            }
            Component::RootDir | Component::Prefix(_) => {
                out.push(c.as_os_str());
            }
        }
    }
    Some(out)
}

fn check_output(
    spec: &Spec,
    i: usize,
    output: &str,
    cwd: &Path,
    allow_outside: bool,
) -> Result<(), SpecError> {
    let field = format!("report.{i}.output");
    if output.trim().is_empty() {
        return Err(spec.error_at(&field, "empty output path", None));
    }
    if output.ends_with('/') || Path::new(output).is_dir() {
        return Err(spec.error_at(
            &field,
            format!(
                "output `{output}` is a folder; give a file path (e.g. `{}report.md`)",
                output.trim_end_matches('/').to_string() + "/"
            ),
            None,
        ));
    }
    let path = Path::new(output);
    let mut parent = path.parent();
    while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
        if p.is_file() {
            return Err(spec.error_at(
                &field,
                format!(
                    "output `{output}`: `{}` is a file, not a folder",
                    p.display()
                ),
                None,
            ));
        }
        parent = p.parent();
    }
    let lexically_inside = allow_outside
        || lexical(&cwd.join(path)).is_some_and(|abs| {
            let root = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
            abs.starts_with(cwd) || abs.starts_with(&root)
        });
    if !lexically_inside {
        return Err(spec.error_at(
            &field,
            format!(
                "output `{output}` is outside the project folder {}; pass --allow-outside-outputs to write there",
                cwd.display()
            ),
            None,
        ));
    }
    // Through symlinks: the same check that writing the file makes (`mosx_report::output`).
    let root = (!allow_outside).then_some(cwd);
    mosx_report::output::confine(path, root)
        .map_err(|e| spec.error_at(&field, e.to_string(), None))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_match_the_report_context() {
        let src = include_str!("../report/context.rs");
        let body = &src[src.rfind("Ok(json!({").expect("the context literal")..];
        for name in CONTEXT_NAMES {
            assert!(
                body.contains(&format!("\"{name}\":")),
                "`{name}` not in the context"
            );
        }
        let top: Vec<&str> = body
            .lines()
            .skip(1)
            .filter_map(|l| l.strip_prefix("        \""))
            .filter_map(|l| l.split('"').next())
            .collect();
        for t in &top {
            assert!(
                CONTEXT_NAMES.contains(t),
                "context name `{t}` missing from CONTEXT_NAMES"
            );
        }
    }

    #[test]
    fn lexical_paths() {
        assert_eq!(lexical(Path::new("a/./b/../c")), Some(PathBuf::from("a/c")));
        assert_eq!(lexical(Path::new("a/../../x")), None);
        assert_eq!(
            lexical(Path::new("/etc/../etc/x")),
            Some(PathBuf::from("/etc/x"))
        );
    }
}

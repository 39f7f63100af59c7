//! Strict validation of the merged (and, per point, substituted) document into typed declarations.
//! Invariants: unknown keys are reported at the key with the closest valid key suggested; type
//! errors at the value; a missing required field at the key of the map that lacks it; inputs must
//! name declared stages and the stage graph must be acyclic; stage order is declaration order.
//! Stage names follow [`is_stage_name`] (what cargo allows in package names, less `.`, which
//! separates path segments); the spec's `name` holds no control or bidi character.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::SpecError;
use crate::node::{join, Entry, Kind, Node};
use crate::sources::Sources;
use crate::spec::{ReportDecl, StageDecl};
use crate::suggest::suggest;

/// Valid top-level keys of a spec file.
pub const TOP_KEYS: &[&str] = &[
    "extends",
    "name",
    "description",
    "vars",
    "stages",
    "sweep",
    "report",
    "claims",
    "resources",
];
/// Valid keys of a stage declaration (`matrix` is consumed by its expansion, `crate::matrix`).
pub const STAGE_KEYS: &[&str] = &["kind", "inputs", "params", "matrix"];
/// Valid keys of a `template` report entry.
pub const TEMPLATE_KEYS: &[&str] = &["template", "output", "options"];
/// Valid keys of a `figure` report entry.
pub const FIGURE_KEYS: &[&str] = &["figure", "stages", "output", "options"];

/// A stage name: ASCII letters, digits, `_` and `-`, not starting with `-` (so it is never
/// read as a command-line flag). It is printed in progress lines, `mosx ls` and reports, and
/// is the `STAGE` of `STAGE.METRIC`.
pub fn is_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn unknown(e: &Entry, field: &str, valid: &[&str], sources: &Sources) -> SpecError {
    sources.error(
        e.key_loc,
        join(field, &e.key),
        "unknown field",
        suggest(&e.key, valid.iter().copied()),
    )
}

fn expected(n: &Node, field: &str, what: &str, sources: &Sources) -> SpecError {
    sources.error(
        n.loc,
        field,
        format!("expected {what}, found {}", n.describe()),
        None,
    )
}

// The helpers below take the field path lazily: it is only rendered for an error.

fn string(n: &Node, field: impl Fn() -> String, sources: &Sources) -> Result<String, SpecError> {
    n.as_str()
        .map(str::to_string)
        .ok_or_else(|| expected(n, &field(), "a string", sources))
}

/// A map as JSON; null means empty.
fn json_map(
    n: &Node,
    field: impl Fn() -> String,
    sources: &Sources,
) -> Result<Map<String, Value>, SpecError> {
    match n.kind {
        Kind::Null => Ok(Map::new()),
        Kind::Map(_) => match n.to_json() {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(expected(n, &field(), "a map", sources)),
            Err(loc) => Err(sources.error(
                loc,
                field(),
                "non-finite floats (.inf, .nan) are not allowed here",
                None,
            )),
        },
        _ => Err(expected(n, &field(), "a map", sources)),
    }
}

/// Checks top-level keys and the types of `name`, `description`, `vars`, `stages`, `report`.
pub(crate) fn check_top(doc: &Node, sources: &Sources) -> Result<(), SpecError> {
    for e in doc.entries().unwrap_or(&[]) {
        let v = &e.value;
        match e.key.as_str() {
            "name" => {
                let name = string(v, || "name".to_string(), sources)?;
                if name.trim().is_empty() || name.chars().any(crate::error::is_unprintable) {
                    let msg = format!(
                        "invalid spec name `{}`: it must be non-empty and printable (no control or bidirectional characters)",
                        crate::error::printable(&name)
                    );
                    return Err(sources.error(v.loc, "name", msg, None));
                }
            }
            "description" if !v.is_null() => {
                string(v, || "description".to_string(), sources)?;
            }
            "vars" | "sweep" if !matches!(v.kind, Kind::Map(_) | Kind::Null) => {
                return Err(expected(v, &e.key, "a map", sources));
            }
            "stages" if !matches!(v.kind, Kind::Map(_)) => {
                return Err(expected(v, "stages", "a map of stages", sources))
            }
            "report" if !matches!(v.kind, Kind::Seq(_) | Kind::Null) => {
                return Err(expected(v, "report", "a list of report entries", sources));
            }
            k if TOP_KEYS.contains(&k) => {}
            _ => return Err(unknown(e, "", TOP_KEYS, sources)),
        }
    }
    if doc.get("stages").is_none() {
        return Err(sources.error(doc.loc, "stages", "missing field `stages`", None));
    }
    Ok(())
}

/// Converts `stages` into declarations, checking keys, types, input references and cycles.
pub(crate) fn stages(doc: &Node, sources: &Sources) -> Result<Vec<StageDecl>, SpecError> {
    let Some(stages) = doc.get("stages") else {
        return Err(sources.error(doc.loc, "stages", "missing field `stages`", None));
    };
    let Kind::Map(entries) = &stages.kind else {
        return Err(expected(stages, "stages", "a map of stages", sources));
    };
    let mut decls = Vec::with_capacity(entries.len());
    for e in entries {
        decls.push(stage(e, sources)?);
    }
    let names: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    // Input references, reported at the input's value in declaration order.
    let mut edges: Vec<Vec<(usize, &Entry)>> = Vec::with_capacity(entries.len());
    for e in entries {
        let mut out = Vec::new();
        for input in e.value.get("inputs").and_then(Node::entries).unwrap_or(&[]) {
            let target = input.value.as_str().unwrap_or("");
            match names.iter().position(|n| *n == target) {
                Some(j) => out.push((j, input)),
                None => {
                    let field = format!("stages.{}.inputs.{}", e.key, input.key);
                    let hint = suggest(target, names.iter().copied());
                    return Err(sources.error(
                        input.value.loc,
                        field,
                        format!("unknown stage `{target}`"),
                        hint,
                    ));
                }
            }
        }
        edges.push(out);
    }
    check_acyclic(&names, &edges, sources)?;
    Ok(decls)
}

fn stage(e: &Entry, sources: &Sources) -> Result<StageDecl, SpecError> {
    let base = || format!("stages.{}", e.key);
    if !is_stage_name(&e.key) {
        let msg = format!(
            "invalid stage name `{}`: use ASCII letters, digits, `_` and `-` (not first)",
            crate::error::printable(&e.key)
        );
        return Err(sources.error(e.key_loc, base(), msg, None));
    }
    let Kind::Map(fields) = &e.value.kind else {
        return Err(expected(
            &e.value,
            &base(),
            "a stage declaration (a map with `kind`)",
            sources,
        ));
    };
    let mut kind = None;
    let mut inputs = BTreeMap::new();
    let mut params = Map::new();
    for f in fields {
        let field = || join(&base(), &f.key);
        match f.key.as_str() {
            "kind" => kind = Some(string(&f.value, field, sources)?),
            "inputs" => match &f.value.kind {
                Kind::Null => {}
                Kind::Map(slots) => {
                    for s in slots {
                        inputs.insert(
                            s.key.clone(),
                            string(&s.value, || join(&field(), &s.key), sources)?,
                        );
                    }
                }
                _ => {
                    return Err(expected(
                        &f.value,
                        &field(),
                        "a map of input slot -> stage name",
                        sources,
                    ))
                }
            },
            "params" => params = json_map(&f.value, field, sources)?,
            _ => return Err(unknown(f, &base(), STAGE_KEYS, sources)),
        }
    }
    let Some(kind) = kind else {
        return Err(sources.error(
            e.key_loc,
            join(&base(), "kind"),
            "missing field `kind`",
            None,
        ));
    };
    Ok(StageDecl {
        name: e.key.clone(),
        kind,
        inputs,
        params,
    })
}

/// Depth-first search in declaration order; the first back edge found is reported at the input
/// (of the stage that closes the cycle) that points back, listing the cycle `a -> b -> a`.
fn check_acyclic(
    names: &[&str],
    edges: &[Vec<(usize, &Entry)>],
    sources: &Sources,
) -> Result<(), SpecError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Closed,
    }
    let mut marks = vec![Mark::New; names.len()];
    for root in 0..names.len() {
        if marks[root] != Mark::New {
            continue;
        }
        // Stack of (stage, next edge to follow).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::Open;
        while let Some(top) = stack.last_mut() {
            let (u, i) = *top;
            top.1 += 1;
            let Some(&(v, input)) = edges[u].get(i) else {
                marks[u] = Mark::Closed;
                stack.pop();
                continue;
            };
            match marks[v] {
                Mark::Closed => {}
                Mark::New => {
                    marks[v] = Mark::Open;
                    stack.push((v, 0));
                }
                Mark::Open => {
                    let start = stack.iter().position(|&(s, _)| s == v).unwrap_or(0);
                    let mut cycle: Vec<&str> =
                        stack[start..].iter().map(|&(s, _)| names[s]).collect();
                    cycle.push(names[v]);
                    let field = format!("stages.{}.inputs.{}", names[u], input.key);
                    let msg = format!("cycle among stages: {}", cycle.join(" -> "));
                    return Err(sources.error(input.value.loc, field, msg, None));
                }
            }
        }
    }
    Ok(())
}

/// Converts `report` entries; figure `stages` must name declared stages.
pub(crate) fn report(
    doc: &Node,
    stage_names: &[&str],
    sources: &Sources,
) -> Result<Vec<ReportDecl>, SpecError> {
    let items = match doc.get("report").map(|n| &n.kind) {
        None | Some(Kind::Null) => return Ok(Vec::new()),
        Some(Kind::Seq(items)) => items,
        Some(_) => {
            let n = doc.get("report").map_or(doc, |n| n);
            return Err(expected(n, "report", "a list of report entries", sources));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, n)| report_entry(n, &format!("report.{i}"), stage_names, sources))
        .collect()
}

fn report_entry(
    n: &Node,
    base: &str,
    stage_names: &[&str],
    sources: &Sources,
) -> Result<ReportDecl, SpecError> {
    let Kind::Map(fields) = &n.kind else {
        return Err(expected(
            n,
            base,
            "a report entry (a map with `template` or `figure`)",
            sources,
        ));
    };
    let template = n.entry("template");
    let figure = n.entry("figure");
    let valid = report_entry_keys(template, figure, base, sources)?;
    for f in fields {
        if !valid.contains(&f.key.as_str()) {
            return Err(unknown(f, base, &valid, sources));
        }
    }
    let req = |key: &str| required_string(n, base, key, sources);
    let options = match n.get("options") {
        Some(v) => json_map(v, || join(base, "options"), sources)?,
        None => Map::new(),
    };
    if template.is_some() {
        return Ok(ReportDecl::Template {
            template: req("template")?,
            output: req("output")?,
            options,
        });
    }
    if figure.is_none() {
        let msg = "a report entry needs `template` (a template under templates/) or `figure` (a named figure)";
        return Err(sources.error(n.loc, base, msg, None));
    }
    let stages = figure_stages(n, base, stage_names, sources)?;
    Ok(ReportDecl::Figure {
        figure: req("figure")?,
        stages,
        output: req("output")?,
        options,
    })
}

/// The keys a report entry may have: those of a template or of a figure entry (both sets
/// when it has neither key); having both keys is an error.
fn report_entry_keys(
    template: Option<&Entry>,
    figure: Option<&Entry>,
    base: &str,
    sources: &Sources,
) -> Result<Vec<&'static str>, SpecError> {
    match (template, figure) {
        (Some(_), Some(f)) => {
            let msg = "a report entry has either `template` or `figure`, not both";
            Err(sources.error(f.key_loc, join(base, "figure"), msg, None))
        }
        (Some(_), None) => Ok(TEMPLATE_KEYS.to_vec()),
        (None, Some(_)) => Ok(FIGURE_KEYS.to_vec()),
        (None, None) => {
            let mut all = TEMPLATE_KEYS.to_vec();
            all.extend(FIGURE_KEYS.iter().filter(|k| !TEMPLATE_KEYS.contains(k)));
            Ok(all)
        }
    }
}

/// The required string field `key` of the entry `n` at `base`.
fn required_string(
    n: &Node,
    base: &str,
    key: &str,
    sources: &Sources,
) -> Result<String, SpecError> {
    match n.get(key) {
        Some(v) => string(v, || join(base, key), sources),
        None => Err(sources.error(
            n.loc,
            join(base, key),
            format!("missing field `{key}`"),
            None,
        )),
    }
}

/// A figure entry's `stages` (absent or null: none); each must name a declared stage.
fn figure_stages(
    n: &Node,
    base: &str,
    stage_names: &[&str],
    sources: &Sources,
) -> Result<Vec<String>, SpecError> {
    let mut stages = Vec::new();
    let sfield = join(base, "stages");
    match n.get("stages") {
        None => {}
        Some(Node {
            kind: Kind::Null, ..
        }) => {}
        Some(Node {
            kind: Kind::Seq(items),
            ..
        }) => {
            for (i, s) in items.iter().enumerate() {
                let f = join(&sfield, &i.to_string());
                let name = string(s, || f.clone(), sources)?;
                if !stage_names.contains(&name.as_str()) {
                    let hint = suggest(&name, stage_names.iter().copied());
                    return Err(sources.error(s.loc, f, format!("unknown stage `{name}`"), hint));
                }
                stages.push(name);
            }
        }
        Some(other) => return Err(expected(other, &sfield, "a list of stage names", sources)),
    }
    Ok(stages)
}

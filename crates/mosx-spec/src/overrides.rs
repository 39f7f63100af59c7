//! `--set a.b.c=VALUE` overrides, applied to the merged document after extends. Invariants: VALUE
//! is parsed as a YAML scalar/flow value; missing intermediate maps are created; a null VALUE
//! deletes the key (like a child `null` in extends) except under `vars`, where it is a value;
//! `vars.NAME` must name a variable the spec defines, and `stages.NAME...` either names a stage
//! of the spec or creates a whole stage (with a `kind`), else the error names the closest
//! variable or stage; every node written is located at
//! `--set:1:<position of the argument, 1-based>`. Paths split on `.` outside `${…}`, so a
//! matrix stage's name (`stages.x_${method.id}.params.lr`) is one segment. `crate::matrix`
//! applies the overrides in two phases (those of matrix stages before their expansion, the
//! rest after it), each a call with its `select`; an argument's position is its place in the
//! whole list either way.

use crate::error::SpecError;
use crate::node::{Kind, Loc, Node, PathError};
use crate::sources::Sources;
use crate::suggest::suggest;
use crate::yaml;

/// Keys of the map at top-level `key` of `doc` (empty if absent or not a map).
fn names(doc: &Node, key: &str) -> Vec<String> {
    doc.get(key)
        .and_then(Node::entries)
        .map(|es| es.iter().map(|e| e.key.clone()).collect())
        .unwrap_or_default()
}

/// Splits a dotted path on the `.`s outside `${…}` (an empty path has no segments).
pub(crate) fn split_path(path: &str) -> Vec<&str> {
    if path.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let (mut start, mut depth) = (0, 0usize);
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' if depth > 0 => depth -= 1,
            b'.' if depth == 0 => {
                out.push(&path[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&path[start..]);
    out
}

/// Applies the arguments whose path segments `select` accepts (a malformed argument is judged
/// by the segments it has; one without `=` is selected when `select(&[])` is true).
pub(crate) fn apply(
    doc: &mut Node,
    sets: &[String],
    sources: &Sources,
    select: &dyn Fn(&[&str]) -> bool,
) -> Result<(), SpecError> {
    let vars = names(doc, "vars");
    let stages = names(doc, "stages");
    // Stages that `--set` names but the spec does not have: (name, where, path).
    let mut new_stages: Vec<(String, Loc, String)> = Vec::new();
    for (i, arg) in sets.iter().enumerate() {
        let loc = Loc {
            src: Loc::SET,
            line: 1,
            col: i as u32 + 1,
        };
        let Some((path, text)) = arg.split_once('=') else {
            if !select(&[]) {
                continue;
            }
            return Err(sources.error(
                loc,
                "",
                format!("`{arg}` is not of the form path=value"),
                None,
            ));
        };
        let path = path.trim();
        let segs = split_path(path);
        if !select(&segs) {
            continue;
        }
        check_path(&segs, path, loc, sources, &vars)?;
        if segs[0] == "stages"
            && segs.len() >= 2
            && !stages.iter().any(|v| v == segs[1])
            && !new_stages.iter().any(|(n, _, _)| n == segs[1])
        {
            new_stages.push((segs[1].to_string(), loc, path.to_string()));
        }
        let value = parse_value(text, path, loc, sources)?;
        let null_deletes = !(segs[0] == "vars" && segs.len() >= 2);
        doc.set_path(&segs, value, loc, true, null_deletes)
            .map_err(|e| sources.error(loc, path, path_error_message(e, &segs), None))?;
    }
    check_new_stages(doc, new_stages, &stages, sources)
}

/// Refuses a path that is not a dotted field path, sets `extends`, or names a variable the
/// spec does not define (`vars` are the spec's variable names).
fn check_path(
    segs: &[&str],
    path: &str,
    loc: Loc,
    sources: &Sources,
    vars: &[String],
) -> Result<(), SpecError> {
    if segs.is_empty() || segs.iter().any(|s| s.is_empty()) {
        return Err(sources.error(
            loc,
            path,
            format!("`{path}` is not a dotted field path"),
            None,
        ));
    }
    if segs[0] == "extends" {
        return Err(sources.error(
            loc,
            path,
            "`extends` cannot be set from the command line",
            None,
        ));
    }
    if segs[0] == "vars" && segs.len() >= 2 && !vars.iter().any(|v| v == segs[1]) {
        let msg = if vars.is_empty() {
            format!(
                "unknown variable `{}` (the spec defines no `vars`)",
                segs[1]
            )
        } else {
            format!("unknown variable `{}`", segs[1])
        };
        return Err(sources.error(
            loc,
            path,
            msg,
            suggest(segs[1], vars.iter().map(String::as_str)),
        ));
    }
    Ok(())
}

/// The argument's VALUE as a YAML node located at `loc` (an empty VALUE is null).
fn parse_value(text: &str, path: &str, loc: Loc, sources: &Sources) -> Result<Node, SpecError> {
    let mut value = match yaml::parse(text, Loc::SET) {
        Ok(Some(v)) => v,
        Ok(None) => Node::new(Kind::Null, loc),
        Err(e) => {
            return Err(sources.error(
                loc,
                path,
                format!("invalid value `{text}`: {}", e.message),
                None,
            ))
        }
    };
    value.relocate(loc);
    Ok(value)
}

/// The message of a path that `Node::set_path` could not follow.
fn path_error_message(e: PathError, segs: &[&str]) -> String {
    let depth = match e {
        PathError::Missing { depth } | PathError::NotContainer { depth, .. } => depth,
    };
    match e {
        PathError::NotContainer { found, .. } => {
            format!(
                "cannot set inside `{}`: it is {found}",
                segs[..depth].join(".")
            )
        }
        PathError::Missing { .. } => format!(
            "no item `{}` in the list `{}`",
            segs[depth],
            segs[..depth].join(".")
        ),
    }
}

/// A stage the spec does not have may be created whole (it needs a `kind`); anything else
/// is a typo of an existing stage's name (`stages` are the spec's stage names).
fn check_new_stages(
    doc: &Node,
    new_stages: Vec<(String, Loc, String)>,
    stages: &[String],
    sources: &Sources,
) -> Result<(), SpecError> {
    for (name, loc, path) in new_stages {
        let has_kind = doc
            .get("stages")
            .and_then(|s| s.get(&name))
            .is_some_and(|st| st.get("kind").is_some());
        if !has_kind {
            return Err(sources.error(
                loc,
                path,
                format!("unknown stage `{name}`"),
                suggest(&name, stages.iter().map(String::as_str)),
            ));
        }
    }
    Ok(())
}

//! Loading a spec file and its `extends` chain, and deep-merging it. Invariants: maps merge
//! recursively with the child winning and keeping the child's locations; sequences and scalars are
//! replaced whole; a child `null` deletes the key, except under `vars` where it is a value; a
//! child stage with a different `kind` replaces the parent's stage; the `extends` key never
//! appears in the result;
//! an extends cycle or unreadable target is reported at the `extends` value that named it.

use std::path::{Component, Path, PathBuf};

use crate::error::SpecError;
use crate::node::{Kind, Loc, Node};
use crate::sources::{file_error, Sources};
use crate::yaml;

/// Reads `top` and its extends chain (registering every file in `sources`, top first) and returns
/// the merged document.
pub(crate) fn load_chain(top: &Path, sources: &mut Sources) -> Result<Node, SpecError> {
    let mut docs: Vec<Node> = Vec::new();
    let mut identities: Vec<PathBuf> = Vec::new();
    let mut current = top.to_path_buf();
    // Where the current file was named (`extends` value), for errors about the file itself.
    let mut named_at: Option<Loc> = None;
    loop {
        let text = match std::fs::read_to_string(&current) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("cannot read `{}`: {e}", current.display());
                return Err(match named_at {
                    Some(loc) => sources.error(loc, "extends", msg, None),
                    None => file_error(&current, msg),
                });
            }
        };
        identities.push(identity(&current));
        let src = sources.add(current.clone());
        let mut doc = parse_file(&text, src, sources)?;
        let ext = take_extends(&mut doc, sources)?;
        docs.push(doc);
        let Some((target, loc)) = ext else { break };
        let next = normalize(&current.parent().unwrap_or(Path::new("")).join(&target));
        let id = identity(&next);
        if let Some(pos) = identities.iter().position(|p| *p == id) {
            let mut chain: Vec<String> = sources.files()[pos..]
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            chain.push(next.display().to_string());
            return Err(sources.error(
                loc,
                "extends",
                format!("extends cycle: {}", chain.join(" -> ")),
                None,
            ));
        }
        current = next;
        named_at = Some(loc);
    }
    let mut merged = docs.pop().unwrap_or_else(|| empty_map(0));
    while let Some(child) = docs.pop() {
        merged = merge(merged, child);
    }
    Ok(merged)
}

fn empty_map(src: u32) -> Node {
    Node::new(
        Kind::Map(Vec::new()),
        Loc {
            src,
            line: 1,
            col: 1,
        },
    )
}

/// Parses one spec file; its top level must be a map (an empty file is an empty map).
fn parse_file(text: &str, src: u32, sources: &Sources) -> Result<Node, SpecError> {
    let doc = yaml::parse(text, src).map_err(|e| {
        let loc = Loc {
            src,
            line: e.line,
            col: e.col,
        };
        sources.error(loc, e.path, format!("invalid YAML: {}", e.message), None)
    })?;
    match doc {
        None => Ok(empty_map(src)),
        Some(n) if matches!(n.kind, Kind::Map(_)) => Ok(n),
        Some(n) => Err(sources.error(
            n.loc,
            "",
            format!("expected a map at the top level, found {}", n.type_name()),
            None,
        )),
    }
}

/// Removes the `extends` entry; returns its target and value location unless absent or null.
fn take_extends(doc: &mut Node, sources: &Sources) -> Result<Option<(PathBuf, Loc)>, SpecError> {
    let Kind::Map(entries) = &mut doc.kind else {
        return Ok(None);
    };
    let Some(pos) = entries.iter().position(|e| e.key == "extends") else {
        return Ok(None);
    };
    let entry = entries.remove(pos);
    match entry.value.kind {
        Kind::Null => Ok(None),
        Kind::Str(s) if !s.is_empty() => Ok(Some((PathBuf::from(s), entry.value.loc))),
        _ => Err(sources.error(
            entry.value.loc,
            "extends",
            format!("expected a file path, found {}", entry.value.describe()),
            None,
        )),
    }
}

/// Lexically drops `.` components (keeps `..`), so `a/./b.yaml` reads as `a/b.yaml`.
fn normalize(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The identity used only for cycle detection (never stored or hashed).
fn identity(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Deep merge: `child` over `base` (see module invariants), with two exceptions at the top
/// level: under `vars` a child `null` is a value, not a deletion; under `stages` a child that
/// gives a stage a different `kind` replaces the stage instead of merging into it.
pub(crate) fn merge(base: Node, child: Node) -> Node {
    merge_at(base, child, Ctx::Top)
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Top,
    Vars,
    Stages,
    Other,
}

fn kind_of(n: &Node) -> Option<&str> {
    n.get("kind").and_then(Node::as_str)
}

fn merge_at(base: Node, child: Node, ctx: Ctx) -> Node {
    match (base.kind, child.kind) {
        (Kind::Map(mut entries), Kind::Map(child_entries)) => {
            for ce in child_entries {
                let pos = entries.iter().position(|e| e.key == ce.key);
                let deletes = ce.value.is_null() && ctx != Ctx::Vars;
                match (pos, deletes) {
                    (Some(p), true) => {
                        entries.remove(p);
                    }
                    (None, true) => {}
                    (Some(p), false) => {
                        let replaces = ctx == Ctx::Stages
                            && kind_of(&ce.value).is_some()
                            && kind_of(&ce.value) != kind_of(&entries[p].value);
                        if replaces {
                            entries[p] = ce;
                            continue;
                        }
                        let sub = match (ctx, ce.key.as_str()) {
                            (Ctx::Top, "vars") => Ctx::Vars,
                            (Ctx::Top, "stages") => Ctx::Stages,
                            _ => Ctx::Other,
                        };
                        let old = std::mem::replace(
                            &mut entries[p].value,
                            Node::new(Kind::Null, ce.key_loc),
                        );
                        entries[p].value = merge_at(old, ce.value, sub);
                        entries[p].key_loc = ce.key_loc;
                    }
                    (None, false) => entries.push(ce),
                }
            }
            Node::new(Kind::Map(entries), child.loc)
        }
        (_, kind) => Node::new(kind, child.loc),
    }
}

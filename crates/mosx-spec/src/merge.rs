//! Loading a spec file and its `extends` graph, and deep-merging it. `extends` names one file or
//! a list of files; a list merges left to right (later parents win over earlier ones; every file is applied once,
//! after all of its own parents, so a diamond's shared base never overrides a sibling's own
//! values), then the file itself over them, so `paper.yaml` can be the union of the table specs. Invariants: maps merge
//! recursively with the child winning and keeping the child's locations; sequences and scalars are
//! replaced whole, except the top-level `report` and `claims` lists, whose entries merge one by
//! one (keyed by `output` and `name`: an entry with the same key replaces the parent's, others
//! are appended); a child `null` deletes the key, except under `vars` where it is a value; a
//! child stage with a different `kind` replaces the parent's stage; the `extends` key never
//! appears in the result; a file reached twice (a diamond) is read once; an extends cycle or
//! unreadable target is reported at the `extends` value (or list item) that named it.

use std::path::{Component, Path, PathBuf};

use crate::error::SpecError;
use crate::limits::MAX_SPEC_BYTES;
use crate::node::{Kind, Loc, Node};
use crate::sources::{file_error, Sources};
use crate::yaml;

/// Reads `top` and its extends graph (registering every file in `sources`, top first, then
/// parents depth first) and returns the merged document with the top file's direct parents
/// (joined onto the top file's directory).
pub(crate) fn load_chain(
    top: &Path,
    sources: &mut Sources,
) -> Result<(Node, Vec<PathBuf>), SpecError> {
    let mut loader = Loader {
        sources,
        stack: Vec::new(),
        seen: Vec::new(),
        order: Vec::new(),
        parents: None,
    };
    loader.load(top, None)?;
    let mut docs = loader.order.into_iter();
    let mut merged = docs.next().unwrap_or_else(|| empty_map(0));
    for doc in docs {
        merged = merge(merged, doc);
    }
    Ok((merged, loader.parents.unwrap_or_default()))
}

/// Depth-first walk of the extends graph that linearises it: every file's own document comes
/// after all of its parents' and each file comes once, so in a diamond (two tables that both
/// extend `base.yaml`) the base is applied first and once, and a table's own values are never
/// overridden by what a later sibling merely inherited. A file reached again while it is still
/// being loaded is a cycle.
struct Loader<'s> {
    sources: &'s mut Sources,
    /// Files being loaded (identity, path as named), outermost first.
    stack: Vec<(PathBuf, PathBuf)>,
    /// Identities of the files already linearised.
    seen: Vec<PathBuf>,
    /// Each file's own document (without `extends`), parents before children.
    order: Vec<Node>,
    /// The top file's direct parents, recorded once.
    parents: Option<Vec<PathBuf>>,
}

impl Loader<'_> {
    fn load(&mut self, path: &Path, named_at: Option<(Loc, String)>) -> Result<(), SpecError> {
        let id = identity(path);
        if self.seen.contains(&id) {
            return Ok(());
        }
        if let Some(pos) = self.stack.iter().position(|(i, _)| *i == id) {
            let mut chain: Vec<String> = self.stack[pos..]
                .iter()
                .map(|(_, p)| p.display().to_string())
                .collect();
            chain.push(path.display().to_string());
            let msg = format!("extends cycle: {}", chain.join(" -> "));
            return Err(match named_at {
                Some((loc, field)) => self.sources.error(loc, field, msg, None),
                None => file_error(path, msg),
            });
        }
        let text = match read_bounded(path) {
            Ok(t) => t,
            Err(msg) => {
                return Err(match named_at {
                    Some((loc, field)) => self.sources.error(loc, field, msg, None),
                    None => file_error(path, msg),
                });
            }
        };
        let src = self.sources.add(path.to_path_buf());
        let mut doc = parse_file(&text, src, self.sources)?;
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let targets: Vec<(PathBuf, Loc, String)> = take_extends(&mut doc, self.sources)?
            .into_iter()
            .map(|(t, loc, field)| (normalize(&dir.join(t)), loc, field))
            .collect();
        if self.parents.is_none() {
            self.parents = Some(targets.iter().map(|(p, _, _)| p.clone()).collect());
        }
        self.stack.push((id.clone(), path.to_path_buf()));
        for (target, loc, field) in targets {
            self.load(&target, Some((loc, field)))?;
        }
        self.stack.pop();
        self.seen.push(id);
        self.order.push(doc);
        Ok(())
    }
}

/// The text of a spec file of at most [`MAX_SPEC_BYTES`] (never reading more than that).
fn read_bounded(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read `{}`: {e}", path.display());
    let f = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    f.take(MAX_SPEC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        return Err(format!(
            "`{}` is larger than the limit of {} MiB for a spec file",
            path.display(),
            MAX_SPEC_BYTES >> 20
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        cannot(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
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

/// Removes the `extends` entry; returns its targets (one file, or a list merged left to right)
/// with the location and field path of each, none if absent or null.
fn take_extends(
    doc: &mut Node,
    sources: &Sources,
) -> Result<Vec<(PathBuf, Loc, String)>, SpecError> {
    let Kind::Map(entries) = &mut doc.kind else {
        return Ok(Vec::new());
    };
    let Some(pos) = entries.iter().position(|e| e.key == "extends") else {
        return Ok(Vec::new());
    };
    let entry = entries.remove(pos);
    let expected = |n: &Node, field: String| {
        sources.error(
            n.loc,
            field,
            format!(
                "expected a file path or a list of file paths, found {}",
                n.describe()
            ),
            None,
        )
    };
    match &entry.value.kind {
        Kind::Null => Ok(Vec::new()),
        Kind::Str(s) if !s.is_empty() => {
            Ok(vec![(PathBuf::from(s), entry.value.loc, "extends".into())])
        }
        Kind::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| match &n.kind {
                Kind::Str(s) if !s.is_empty() => {
                    Ok((PathBuf::from(s), n.loc, format!("extends.{i}")))
                }
                _ => Err(expected(n, format!("extends.{i}"))),
            })
            .collect(),
        _ => Err(expected(&entry.value, "extends".into())),
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
                        if ctx == Ctx::Top {
                            if let Some(field) = keyed_sequence(&ce.key) {
                                if matches!(entries[p].value.kind, Kind::Seq(_))
                                    && matches!(ce.value.kind, Kind::Seq(_))
                                {
                                    let old = std::mem::replace(
                                        &mut entries[p].value,
                                        Node::new(Kind::Null, ce.key_loc),
                                    );
                                    entries[p].value = merge_keyed(old, ce.value, field);
                                    entries[p].key_loc = ce.key_loc;
                                    continue;
                                }
                            }
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

/// The top-level sequences whose entries merge one by one, and the field naming an entry:
/// report entries by their `output`, claims by their `name`.
fn keyed_sequence(key: &str) -> Option<&'static str> {
    match key {
        "report" => Some("output"),
        "claims" => Some("name"),
        _ => None,
    }
}

/// `child`'s entries over `base`'s: an entry whose `field` equals a base entry's replaces it in
/// place, any other is appended; base entries the child does not name stay, in their order.
fn merge_keyed(base: Node, child: Node, field: &str) -> Node {
    let (Kind::Seq(mut items), Kind::Seq(child_items)) = (base.kind, child.kind) else {
        unreachable!("merge_keyed is called on two sequences")
    };
    for ci in child_items {
        let name = ci.get(field).and_then(Node::as_str).map(str::to_string);
        let pos = name.as_deref().and_then(|n| {
            items
                .iter()
                .position(|b| b.get(field).and_then(Node::as_str) == Some(n))
        });
        match pos {
            Some(p) => items[p] = ci,
            None => items.push(ci),
        }
    }
    Node::new(Kind::Seq(items), child.loc)
}

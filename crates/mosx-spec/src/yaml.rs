//! YAML text → located `Node` tree via yaml-rust2's marked event parser. Invariants: locations are
//! 1-based (the parser's 0-based columns are shifted); a file holds at most one document; map keys
//! are scalars and unique; aliases are expanded to copies of their anchored node, at most
//! [`MAX_ALIASES`] of them per text and adding at most [`MAX_ALIAS_NODES`] nodes in all (an
//! alias bomb, "billion laughs", is an error at the alias that would pass the bound, before
//! it is copied).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::node::{Entry, Kind, Loc, Node};
use crate::scalar::resolve_plain;

/// Aliases (`*name`) one YAML text may use.
pub const MAX_ALIASES: usize = 100_000;
/// Nodes that expanding the aliases of one YAML text may add (each alias adds the size of
/// its anchored node: a 10-node params map aliased in 10,000 stages adds 100,000).
pub const MAX_ALIAS_NODES: usize = 2_000_000;

/// A YAML problem at `line:col` (1-based); `path` is the dotted path being parsed when it happened.
#[derive(Debug, Clone)]
pub(crate) struct YamlError {
    pub line: u32,
    pub col: u32,
    pub path: String,
    pub message: String,
}

/// Parses `text`; `src` is stored in every location. `Ok(None)` for an empty document.
pub(crate) fn parse(text: &str, src: u32) -> Result<Option<Node>, YamlError> {
    let mut b = Builder {
        src,
        stack: Vec::new(),
        anchors: HashMap::new(),
        aliases: 0,
        alias_nodes: 0,
        root: None,
        docs: 0,
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    let res = parser.load(&mut b, true);
    if let Some(e) = b.error.take() {
        return Err(e);
    }
    if let Err(e) = res {
        let m = e.marker();
        return Err(YamlError {
            line: m.line() as u32,
            col: m.col() as u32 + 1,
            path: b.path(),
            message: e.info().to_string(),
        });
    }
    Ok(b.root)
}

enum Frame {
    Seq {
        loc: Loc,
        anchor: usize,
        items: Vec<Node>,
        size: usize,
    },
    Map {
        loc: Loc,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<(String, Loc)>,
        size: usize,
    },
}

struct Builder {
    src: u32,
    stack: Vec<Frame>,
    /// Anchored nodes with their sizes (node counts, aliases inside expanded).
    anchors: HashMap<usize, (Node, usize)>,
    aliases: usize,
    alias_nodes: usize,
    root: Option<Node>,
    docs: usize,
    error: Option<YamlError>,
}

impl Builder {
    fn loc(&self, m: Marker) -> Loc {
        Loc {
            src: self.src,
            line: m.line() as u32,
            col: m.col() as u32 + 1,
        }
    }

    fn path(&self) -> String {
        let mut segs: Vec<String> = Vec::new();
        for f in &self.stack {
            match f {
                Frame::Seq { items, .. } => segs.push(items.len().to_string()),
                Frame::Map {
                    key: Some((k, _)), ..
                } => segs.push(k.clone()),
                Frame::Map { key: None, .. } => {}
            }
        }
        segs.join(".")
    }

    fn fail(&mut self, loc: Loc, message: String) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                line: loc.line,
                col: loc.col,
                path: self.path(),
                message,
            });
        }
    }

    /// Adds `node` (of `size` nodes) to the collection being built.
    fn complete(&mut self, node: Node, anchor: usize, size: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, size: s, .. }) => {
                *s += size;
                items.push(node)
            }
            Some(Frame::Map {
                entries,
                key,
                loc,
                size: s,
                ..
            }) => match key.take() {
                Some((k, key_loc)) => {
                    *s += size;
                    if entries.iter().any(|e| e.key == k) {
                        *key = Some((k.clone(), key_loc));
                        self.fail(key_loc, format!("duplicate key `{k}`"));
                    } else {
                        entries.push(Entry {
                            key: k,
                            key_loc,
                            value: node,
                        });
                    }
                }
                None => {
                    let k = match &node.kind {
                        Kind::Str(s) => s.clone(),
                        Kind::Int(i) => i.to_string(),
                        Kind::Float(x) => x.to_string(),
                        Kind::Bool(b) => b.to_string(),
                        Kind::Null => "null".to_string(),
                        Kind::Seq(_) | Kind::Map(_) => {
                            let loc = node.loc;
                            self.fail(loc, "map keys must be scalars".to_string());
                            return;
                        }
                    };
                    // A block mapping's start mark is the `:` after its first key; the map is
                    // located at that key instead (flow maps keep their `{`).
                    if entries.is_empty() && (node.loc.line, node.loc.col) < (loc.line, loc.col) {
                        *loc = node.loc;
                    }
                    *key = Some((k, node.loc));
                }
            },
        }
    }
}

impl Builder {
    /// Expands alias `id` at `loc` unless that passes [`MAX_ALIASES`] or [`MAX_ALIAS_NODES`].
    fn alias(&mut self, id: usize, loc: Loc) {
        let Some((n, size)) = self.anchors.get(&id) else {
            return self.fail(loc, "alias to an unknown anchor".to_string());
        };
        let size = *size;
        self.aliases += 1;
        if self.aliases > MAX_ALIASES {
            return self.fail(
                loc,
                format!("more than {MAX_ALIASES} aliases in one file (an alias bomb?)"),
            );
        }
        if self.alias_nodes + size > MAX_ALIAS_NODES {
            return self.fail(
                loc,
                format!(
                    "this alias would expand the aliases of the file past {MAX_ALIAS_NODES} nodes (it copies {size}; an alias bomb?)"
                ),
            );
        }
        self.alias_nodes += size;
        let mut n = n.clone();
        n.loc = loc;
        self.complete(n, 0, size);
    }
}

fn is_core_tag(handle: &str) -> bool {
    handle == "!!" || handle == "tag:yaml.org,2002:"
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let loc = self.loc(mark);
        match ev {
            Event::DocumentStart => {
                self.docs += 1;
                if self.docs > 1 {
                    self.fail(
                        loc,
                        "a spec file must hold a single YAML document".to_string(),
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let forced_str = tag
                    .as_ref()
                    .is_some_and(|t| is_core_tag(&t.handle) && t.suffix == "str");
                let kind = if style != TScalarStyle::Plain || forced_str {
                    Kind::Str(text)
                } else {
                    resolve_plain(&text)
                };
                self.complete(Node::new(kind, loc), anchor, 1);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                loc,
                anchor,
                items: Vec::new(),
                size: 1,
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                loc,
                anchor,
                entries: Vec::new(),
                key: None,
                size: 1,
            }),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    loc,
                    anchor,
                    items,
                    size,
                }) => self.complete(Node::new(Kind::Seq(items), loc), anchor, size),
                Some(Frame::Map {
                    loc,
                    anchor,
                    entries,
                    size,
                    ..
                }) => self.complete(Node::new(Kind::Map(entries), loc), anchor, size),
                None => self.fail(loc, "unbalanced collection end".to_string()),
            },
            Event::Alias(id) => self.alias(id, loc),
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_one_based() {
        let n = parse("a: 1\nb:\n  c: [x, 'y']\n", 0).unwrap().unwrap();
        let a = n.entry("a").unwrap();
        assert_eq!((a.key_loc.line, a.key_loc.col), (1, 1));
        assert_eq!((a.value.loc.line, a.value.loc.col), (1, 4));
        let c = n.get("b").unwrap().entry("c").unwrap();
        assert_eq!((c.key_loc.line, c.key_loc.col), (3, 3));
        let Kind::Seq(items) = &c.value.kind else {
            panic!()
        };
        assert_eq!((items[1].loc.line, items[1].loc.col), (3, 10));
        assert!(matches!(&items[1].kind, Kind::Str(s) if s == "y"));
        assert_eq!(
            (n.loc.line, n.loc.col),
            (1, 1),
            "block map at its first key"
        );
        let b = n.get("b").unwrap();
        assert_eq!((b.loc.line, b.loc.col), (3, 3));
        let f = parse("# c\nx: {k: 1}\n", 0).unwrap().unwrap();
        assert_eq!(
            (f.get("x").unwrap().loc.line, f.get("x").unwrap().loc.col),
            (2, 4),
            "flow map at its brace"
        );
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let e = parse("a: 1\nb: 2\na: 3\n", 0).unwrap_err();
        assert_eq!((e.line, e.col), (3, 1));
        assert!(e.message.contains("duplicate key `a`"));
    }

    #[test]
    fn aliases_expand() {
        let n = parse("x: &p {k: 1}\ny: *p\n", 0).unwrap().unwrap();
        assert!(matches!(
            n.get("y").unwrap().get("k").unwrap().kind,
            Kind::Int(1)
        ));
    }

    /// Nine levels of nine aliases each: 9^9 (387 million) nodes if expanded.
    fn billion_laughs(indent: &str) -> String {
        let mut t = format!("{indent}a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let p = i - 1;
            t.push_str(&format!(
                "{indent}a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        t
    }

    #[test]
    fn an_alias_bomb_is_refused_at_the_alias_that_passes_the_bound() {
        let text = format!("x:\n{}", billion_laughs("  "));
        let e = parse(&text, 0).unwrap_err();
        assert!(e.message.contains("alias bomb"), "{e:?}");
        assert!(e.message.contains(&MAX_ALIAS_NODES.to_string()), "{e:?}");
        // Each alias of level 6 copies 597,871 nodes; its third passes the bound (line 8).
        assert_eq!(e.line, 8, "{e:?}");
        assert!(e.path.starts_with("x.a6"), "{e:?}");
    }

    #[test]
    fn many_small_aliases_stay_within_the_bound() {
        let mut t = String::from("p: &p {lr: 0.1, epochs: 3}\nstages:\n");
        for i in 0..10_000 {
            t.push_str(&format!("  s{i}: *p\n"));
        }
        let n = parse(&t, 0).unwrap().unwrap();
        assert!(matches!(
            n.get("stages")
                .unwrap()
                .get("s9999")
                .unwrap()
                .get("epochs")
                .unwrap()
                .kind,
            Kind::Int(3)
        ));
        let too_many = "p: &p 1\nl: [".to_string() + &"*p, ".repeat(MAX_ALIASES + 1) + "]\n";
        let e = parse(&too_many, 0).unwrap_err();
        assert!(e.message.contains("more than 100000 aliases"), "{e:?}");
    }

    #[test]
    fn quoted_and_tagged_scalars_are_strings() {
        let n = parse("a: '1'\nb: !!str 2\nc: 3\n", 0).unwrap().unwrap();
        assert!(matches!(n.get("a").unwrap().kind, Kind::Str(_)));
        assert!(matches!(n.get("b").unwrap().kind, Kind::Str(_)));
        assert!(matches!(n.get("c").unwrap().kind, Kind::Int(3)));
    }

    #[test]
    fn scan_errors_carry_position_and_path() {
        let e = parse("stages:\n  a:\n    params: {x: 1\n", 0).unwrap_err();
        assert!(e.line >= 3, "{e:?}");
        assert!(e.path.starts_with("stages.a"), "{e:?}");
    }
}

//! YAML text → located `Node` tree via yaml-rust2's marked event parser. Invariants: locations are
//! 1-based (the parser's 0-based columns are shifted); a file holds at most one document; map keys
//! are scalars and unique; aliases are expanded to copies of their anchored node.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::node::{Entry, Kind, Loc, Node};
use crate::scalar::resolve_plain;

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
    },
    Map {
        loc: Loc,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<(String, Loc)>,
    },
}

struct Builder {
    src: u32,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
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

    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries, key, loc, ..
            }) => match key.take() {
                Some((k, key_loc)) => {
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
                self.complete(Node::new(kind, loc), anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                loc,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                loc,
                anchor,
                entries: Vec::new(),
                key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { loc, anchor, items }) => {
                    self.complete(Node::new(Kind::Seq(items), loc), anchor)
                }
                Some(Frame::Map {
                    loc,
                    anchor,
                    entries,
                    ..
                }) => self.complete(Node::new(Kind::Map(entries), loc), anchor),
                None => self.fail(loc, "unbalanced collection end".to_string()),
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => {
                    let mut n = n.clone();
                    n.loc = loc;
                    self.complete(n, 0);
                }
                None => self.fail(loc, "alias to an unknown anchor".to_string()),
            },
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

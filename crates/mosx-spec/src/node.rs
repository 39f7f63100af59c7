//! Located document tree. Invariants: every node and every map key carries the `Loc` where it was
//! written (the extends-chain file that last defined it, a `--set` argument, or a sweep entry);
//! map entries keep their insertion order and keys are unique within a map.

use serde_json::Value;

/// Source position: `src` indexes `Sources` (or is `Loc::SET`), `line`/`col` are 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Loc {
    pub src: u32,
    pub line: u32,
    pub col: u32,
}

impl Loc {
    /// Source id of command-line `--set` overrides.
    pub const SET: u32 = u32::MAX;
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub key: String,
    pub key_loc: Loc,
    pub value: Node,
}

/// Why a path operation stopped: at segment `depth` the container was missing or not a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathError {
    /// Segment `depth` does not exist in its parent (a map key or a sequence index).
    Missing { depth: usize },
    /// The value reached before segment `depth` is a scalar, so it cannot be descended into.
    NotContainer { depth: usize, found: &'static str },
}

impl Node {
    pub fn new(kind: Kind, loc: Loc) -> Node {
        Node { kind, loc }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }

    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(e) => Some(e),
            _ => None,
        }
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match &mut self.kind {
            Kind::Map(entries) => entries
                .iter_mut()
                .find(|e| e.key == key)
                .map(|e| &mut e.value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Article + type name, for "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a float",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a map",
        }
    }

    /// Type name plus the scalar's text, e.g. "an integer `3`".
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Bool(b) => format!("a boolean `{b}`"),
            Kind::Int(i) => format!("an integer `{i}`"),
            Kind::Float(x) => format!("a float `{x}`"),
            Kind::Str(s) => format!("a string `{s}`"),
            _ => self.type_name().to_string(),
        }
    }

    /// Sets `loc` on this node, every descendant and every key.
    pub fn relocate(&mut self, loc: Loc) {
        self.loc = loc;
        match &mut self.kind {
            Kind::Seq(items) => items.iter_mut().for_each(|n| n.relocate(loc)),
            Kind::Map(entries) => entries.iter_mut().for_each(|e| {
                e.key_loc = loc;
                e.value.relocate(loc)
            }),
            _ => {}
        }
    }

    fn child(&self, seg: &str) -> Option<(&Node, Option<Loc>)> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|e| e.key == seg)
                .map(|e| (&e.value, Some(e.key_loc))),
            Kind::Seq(items) => seg
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .map(|n| (n, None)),
            _ => None,
        }
    }

    fn child_mut(&mut self, seg: &str) -> Option<&mut Node> {
        match &mut self.kind {
            Kind::Map(entries) => entries
                .iter_mut()
                .find(|e| e.key == seg)
                .map(|e| &mut e.value),
            Kind::Seq(items) => seg
                .parse::<usize>()
                .ok()
                .and_then(move |i| items.get_mut(i)),
            _ => None,
        }
    }

    /// Walks `segs` as far as they exist; returns how many matched, the deepest node reached and
    /// the key location of its entry (None for the root or a sequence item).
    pub fn walk<'a>(&'a self, segs: &[&str]) -> (usize, &'a Node, Option<Loc>) {
        let mut cur = self;
        let mut key_loc = None;
        for (i, seg) in segs.iter().enumerate() {
            match cur.child(seg) {
                Some((n, k)) => {
                    cur = n;
                    key_loc = k;
                }
                None => return (i, cur, key_loc),
            }
        }
        (segs.len(), cur, key_loc)
    }

    /// Checks that all segments but the last exist and are containers (the last may be missing).
    pub fn check_parent(&self, segs: &[&str]) -> Result<(), PathError> {
        let mut cur = self;
        for (depth, seg) in segs.iter().enumerate() {
            if !matches!(cur.kind, Kind::Map(_) | Kind::Seq(_)) {
                return Err(PathError::NotContainer {
                    depth,
                    found: cur.type_name(),
                });
            }
            if depth + 1 == segs.len() {
                if let Kind::Seq(items) = &cur.kind {
                    if seg.parse::<usize>().map_or(true, |i| i >= items.len()) {
                        return Err(PathError::Missing { depth });
                    }
                }
                return Ok(());
            }
            match cur.child(seg) {
                Some((n, _)) => cur = n,
                None => return Err(PathError::Missing { depth }),
            }
        }
        Ok(())
    }

    /// Sets `value` at `segs`. Missing intermediate map keys are created (located at `key_loc`)
    /// when `create` is true. A null `value` deletes the key when `null_deletes` is true.
    /// Sequence items are addressed by index and must exist.
    pub fn set_path(
        &mut self,
        segs: &[&str],
        value: Node,
        key_loc: Loc,
        create: bool,
        null_deletes: bool,
    ) -> Result<(), PathError> {
        let Some((last, parents)) = segs.split_last() else {
            *self = value;
            return Ok(());
        };
        let mut cur = self;
        for (depth, seg) in parents.iter().enumerate() {
            let found = cur.type_name();
            let exists = cur.child(seg).is_some();
            if !exists {
                match &mut cur.kind {
                    Kind::Map(entries) if create => entries.push(Entry {
                        key: seg.to_string(),
                        key_loc,
                        value: Node::new(Kind::Map(Vec::new()), key_loc),
                    }),
                    Kind::Map(_) | Kind::Seq(_) => return Err(PathError::Missing { depth }),
                    _ => return Err(PathError::NotContainer { depth, found }),
                }
            }
            cur = cur.child_mut(seg).ok_or(PathError::Missing { depth })?;
        }
        let depth = parents.len();
        let found = cur.type_name();
        match &mut cur.kind {
            Kind::Map(entries) => {
                let pos = entries.iter().position(|e| e.key == *last);
                match (pos, null_deletes && value.is_null()) {
                    (Some(p), true) => {
                        entries.remove(p);
                    }
                    (None, true) => {}
                    (Some(p), false) => {
                        entries[p].key_loc = key_loc;
                        entries[p].value = value;
                    }
                    (None, false) => entries.push(Entry {
                        key: last.to_string(),
                        key_loc,
                        value,
                    }),
                }
                Ok(())
            }
            Kind::Seq(items) => {
                let slot = last
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get_mut(i))
                    .ok_or(PathError::Missing { depth })?;
                *slot = value;
                Ok(())
            }
            _ => Err(PathError::NotContainer { depth, found }),
        }
    }

    /// Converts to JSON; a non-finite float yields `Err(loc)` of that float.
    pub fn to_json(&self) -> Result<Value, Loc> {
        Ok(match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::Float(x) => serde_json::Number::from_f64(*x)
                .map(Value::Number)
                .ok_or(self.loc)?,
            Kind::Str(s) => Value::String(s.clone()),
            Kind::Seq(items) => {
                Value::Array(items.iter().map(Node::to_json).collect::<Result<_, _>>()?)
            }
            Kind::Map(entries) => {
                let mut m = serde_json::Map::with_capacity(entries.len());
                for e in entries {
                    m.insert(e.key.clone(), e.value.to_json()?);
                }
                Value::Object(m)
            }
        })
    }

    /// Canonical JSON text: map keys sorted, no whitespace; non-finite floats as the strings
    /// `".nan"`, `".inf"`, `"-.inf"` (so hashing never fails).
    pub fn write_canonical(&self, out: &mut String) {
        match &self.kind {
            Kind::Null => out.push_str("null"),
            Kind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Kind::Int(i) => out.push_str(&i.to_string()),
            Kind::Float(x) => match serde_json::Number::from_f64(*x) {
                Some(n) => out.push_str(&n.to_string()),
                None if x.is_nan() => out.push_str("\".nan\""),
                None if *x > 0.0 => out.push_str("\".inf\""),
                None => out.push_str("\"-.inf\""),
            },
            Kind::Str(s) => out.push_str(&Value::String(s.clone()).to_string()),
            Kind::Seq(items) => {
                out.push('[');
                for (i, n) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    n.write_canonical(out);
                }
                out.push(']');
            }
            Kind::Map(entries) => {
                let mut sorted: Vec<&Entry> = entries.iter().collect();
                sorted.sort_by(|a, b| a.key.cmp(&b.key));
                out.push('{');
                for (i, e) in sorted.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(e.key.clone()).to_string());
                    out.push(':');
                    e.value.write_canonical(out);
                }
                out.push('}');
            }
        }
    }
}

/// Joins a parent dotted path and a child segment.
pub(crate) fn join(parent: &str, seg: &str) -> String {
    if parent.is_empty() {
        seg.to_string()
    } else {
        format!("{parent}.{seg}")
    }
}

/// Splits a dotted path into segments (an empty path has none).
pub(crate) fn split(path: &str) -> Vec<&str> {
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('.').collect()
    }
}

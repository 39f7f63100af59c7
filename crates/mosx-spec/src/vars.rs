//! `${name}` variables. Invariants: a string that is exactly `${name}` is replaced by the variable's
//! typed value; otherwise variables are interpolated as text (maps/lists cannot be); `$${` is a
//! literal `${`; vars may reference other vars (resolved once, lazily, with cycles and
//! self-references reported at the variable's value); an unknown name is an error at the string
//! that used it, suggesting the closest defined name. The same machinery runs a first, partial
//! pass for `matrix:` stages (`crate::matrix`): a lookup that `defers` a name leaves `${name}` as
//! written and keeps `$${` escaped, for the `vars` pass that follows. What one `Vars` copies
//! in all (nodes plus string bytes of every value it hands out) is bounded by
//! [`MAX_VAR_EXPANSION`]: variables that double one another (a variable bomb) fail at the use
//! that passes the bound, before the copy is made.

use crate::error::SpecError;
use crate::limits::MAX_VAR_EXPANSION;
use crate::node::{join, Kind, Loc, Node};
use crate::sources::Sources;
use crate::suggest::suggest;

pub(crate) enum Piece<'a> {
    Lit(&'a str),
    /// `$${`: a literal `${`.
    Escape,
    Var(&'a str),
}

/// Splits a string into literal text and `${name}` references. `Ok(None)` when it has none.
pub(crate) fn pieces(s: &str) -> Result<Option<Vec<Piece<'_>>>, String> {
    if !s.contains("${") {
        return Ok(None);
    }
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
            out.push(Piece::Lit(&rest[..pos - 1]));
            out.push(Piece::Escape);
            rest = &rest[pos + 2..];
            continue;
        }
        out.push(Piece::Lit(&rest[..pos]));
        let after = &rest[pos + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("unterminated `${{` in `{s}`"));
        };
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(format!("empty variable name `${{}}` in `{s}`"));
        }
        out.push(Piece::Var(name));
        rest = &after[end + 1..];
    }
    out.push(Piece::Lit(rest));
    out.retain(|p| !matches!(p, Piece::Lit("")));
    Ok(Some(out))
}

/// Source of variable values.
pub(crate) trait Lookup {
    /// The value of `name`, used by the string at `loc` (dotted `field`).
    fn value(&mut self, name: &str, loc: Loc, field: &Trail<'_>) -> Result<Node, SpecError>;
    fn sources(&self) -> &Sources;
    /// Whether `${name}` is left as written for a later pass (never looked up here).
    fn defers(&self, _name: &str) -> bool {
        false
    }
    /// Whether this is a first pass: `$${` stays escaped for the pass that follows.
    fn partial(&self) -> bool {
        false
    }
    /// What a name stands for, in messages ("variable", "matrix value").
    fn noun(&self) -> &'static str {
        "variable"
    }
}

/// A dotted field path built on the stack during traversal, rendered only when needed.
pub(crate) enum Trail<'a> {
    Root(&'a str),
    Key(&'a Trail<'a>, &'a str),
    Idx(&'a Trail<'a>, usize),
}

impl Trail<'_> {
    pub fn render(&self) -> String {
        match self {
            Trail::Root(r) => r.to_string(),
            Trail::Key(p, k) => join(&p.render(), k),
            Trail::Idx(p, i) => join(&p.render(), &i.to_string()),
        }
    }
}

/// Substitutes variables in every string under `node` (map keys are left alone).
pub(crate) fn substitute(
    node: &mut Node,
    trail: &Trail<'_>,
    vars: &mut dyn Lookup,
) -> Result<(), SpecError> {
    match &mut node.kind {
        Kind::Str(s) => {
            if !s.contains("${") {
                return Ok(());
            }
            let field = trail;
            let ps =
                pieces(s).map_err(|m| vars.sources().error(node.loc, field.render(), m, None))?;
            let Some(ps) = ps else { return Ok(()) };
            if let [Piece::Var(name)] = ps.as_slice() {
                if vars.defers(name) {
                    return Ok(());
                }
                let mut v = vars.value(name, node.loc, field)?;
                v.loc = node.loc;
                *node = v;
                return Ok(());
            }
            let mut out = String::with_capacity(s.len());
            for p in &ps {
                match p {
                    Piece::Lit(t) => out.push_str(t),
                    Piece::Escape if vars.partial() => out.push_str("$${"),
                    Piece::Escape => out.push_str("${"),
                    Piece::Var(name) if vars.defers(name) => {
                        out.push_str("${");
                        out.push_str(name);
                        out.push('}');
                    }
                    Piece::Var(name) => {
                        let v = vars.value(name, node.loc, field)?;
                        match &v.kind {
                            Kind::Str(t) => out.push_str(t),
                            Kind::Int(i) => out.push_str(&i.to_string()),
                            Kind::Float(x) => out.push_str(&x.to_string()),
                            Kind::Bool(b) => out.push_str(&b.to_string()),
                            Kind::Null => out.push_str("null"),
                            Kind::Seq(_) | Kind::Map(_) => {
                                let msg = format!(
                                    "{} `{name}` holds {} and cannot be interpolated into a string",
                                    vars.noun(),
                                    v.type_name()
                                );
                                return Err(vars.sources().error(
                                    node.loc,
                                    field.render(),
                                    msg,
                                    None,
                                ));
                            }
                        }
                    }
                }
            }
            node.kind = Kind::Str(out);
            Ok(())
        }
        Kind::Seq(items) => {
            for (i, n) in items.iter_mut().enumerate() {
                substitute(n, &Trail::Idx(trail, i), vars)?;
            }
            Ok(())
        }
        Kind::Map(entries) => {
            for e in entries.iter_mut() {
                substitute(&mut e.value, &Trail::Key(trail, &e.key), vars)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

enum State {
    Raw(Node),
    InProgress,
    /// The resolved value and its [`cost`].
    Done(Node, usize),
}

/// What copying `n` costs against [`MAX_VAR_EXPANSION`]: its nodes plus its string bytes.
fn cost(n: &Node) -> usize {
    match &n.kind {
        Kind::Str(s) => 1 + s.len(),
        Kind::Seq(items) => 1 + items.iter().map(cost).sum::<usize>(),
        Kind::Map(entries) => {
            1 + entries
                .iter()
                .map(|e| e.key.len() + cost(&e.value))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// The `vars` map of one document, resolving var-to-var references on first use.
pub(crate) struct Vars<'s> {
    names: Vec<String>,
    states: Vec<State>,
    stack: Vec<usize>,
    sources: &'s Sources,
    /// Cost of the values handed out so far.
    spent: usize,
}

impl<'s> Vars<'s> {
    /// Takes the `vars` map (`None`/null means no variables); a non-map is an error at it.
    pub fn new(vars: Option<&Node>, sources: &'s Sources) -> Result<Vars<'s>, SpecError> {
        let mut names = Vec::new();
        let mut states = Vec::new();
        if let Some(n) = vars {
            match &n.kind {
                Kind::Null => {}
                Kind::Map(entries) => {
                    for e in entries {
                        names.push(e.key.clone());
                        states.push(State::Raw(e.value.clone()));
                    }
                }
                _ => {
                    let msg = format!("expected a map of variables, found {}", n.type_name());
                    return Err(sources.error(n.loc, "vars", msg, None));
                }
            }
        }
        Ok(Vars {
            names,
            states,
            stack: Vec::new(),
            sources,
            spent: 0,
        })
    }

    /// Resolves every variable (so cycles are reported even for unused ones).
    pub fn resolve_all(&mut self) -> Result<(), SpecError> {
        for i in 0..self.names.len() {
            // Never in progress here (the stack is empty), so the use site is not reported.
            self.resolve(
                i,
                Loc {
                    src: 0,
                    line: 1,
                    col: 1,
                },
                &Trail::Root("vars"),
                false,
            )?;
        }
        Ok(())
    }

    /// The value of variable `i`, charged against [`MAX_VAR_EXPANSION`] if `charge` (a use;
    /// `resolve_all` only checks).
    fn resolve(
        &mut self,
        i: usize,
        use_loc: Loc,
        use_field: &Trail<'_>,
        charge: bool,
    ) -> Result<Node, SpecError> {
        if let State::Done(n, c) = &self.states[i] {
            let (n, c) = (n, if charge { *c } else { 0 });
            if self.spent + c > MAX_VAR_EXPANSION {
                return Err(self.too_big(i, use_loc, use_field));
            }
            self.spent += c;
            return Ok(n.clone());
        }
        match std::mem::replace(&mut self.states[i], State::InProgress) {
            State::Done(..) => unreachable!("handled above"),
            State::InProgress => {
                let start = self.stack.iter().position(|&j| j == i).unwrap_or(0);
                let mut chain: Vec<&str> = self.stack[start..]
                    .iter()
                    .map(|&j| self.names[j].as_str())
                    .collect();
                chain.push(&self.names[i]);
                let msg = if chain.len() == 2 {
                    format!("variable `{}` refers to itself", self.names[i])
                } else {
                    format!("variable cycle: {}", chain.join(" -> "))
                };
                Err(self.sources.error(use_loc, use_field.render(), msg, None))
            }
            State::Raw(mut n) => {
                self.stack.push(i);
                let name = self.names[i].clone();
                let r = substitute(&mut n, &Trail::Key(&Trail::Root("vars"), &name), self);
                self.stack.pop();
                if let Err(e) = r {
                    self.states[i] = State::Raw(n);
                    return Err(e);
                }
                let full = cost(&n);
                let c = if charge { full } else { 0 };
                if self.spent + c > MAX_VAR_EXPANSION {
                    self.states[i] = State::Raw(n);
                    return Err(self.too_big(i, use_loc, use_field));
                }
                self.spent += c;
                self.states[i] = State::Done(n.clone(), full);
                Ok(n)
            }
        }
    }

    fn too_big(&self, i: usize, use_loc: Loc, use_field: &Trail<'_>) -> SpecError {
        let msg = format!(
            "using variable `{}` here would make variable substitution copy more than {MAX_VAR_EXPANSION} nodes and bytes (variables doubling one another?)",
            self.names[i]
        );
        self.sources.error(use_loc, use_field.render(), msg, None)
    }
}

impl Lookup for Vars<'_> {
    fn value(&mut self, name: &str, loc: Loc, field: &Trail<'_>) -> Result<Node, SpecError> {
        match self.names.iter().position(|n| n == name) {
            Some(i) => self.resolve(i, loc, field, true),
            None => {
                let hint = suggest(name, self.names.iter().map(String::as_str));
                let msg = if self.names.is_empty() {
                    format!("unknown variable `{name}` (no `vars` are defined)")
                } else {
                    format!("unknown variable `{name}`")
                };
                Err(self.sources.error(loc, field.render(), msg, hint))
            }
        }
    }

    fn sources(&self) -> &Sources {
        self.sources
    }
}

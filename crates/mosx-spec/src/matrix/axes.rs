//! The axes of one `matrix:` (values, `exclude` entries), the name check, the combinations and
//! the first `${...}` pass that puts one combination's values into a stage (see the parent
//! module for the rules).

use crate::error::SpecError;
use crate::node::{Entry, Kind, Loc, Node};
use crate::sources::Sources;
use crate::suggest::suggest;
use crate::vars::{pieces, Lookup, Piece, Trail};

use super::{EXCLUDE, MATRIX, MAX_EXPANDED};

pub(super) struct Axis {
    name: String,
    values: Vec<Node>,
}

pub(super) struct Exclude {
    loc: Loc,
    field: String,
    /// (axis index, value to match)
    conds: Vec<(usize, Node)>,
}

/// Reads `matrix:`: its axes in order, then its `exclude` entries.
pub(super) fn parse_matrix(
    matrix: &Entry,
    base: &str,
    taken: &[String],
    sources: &Sources,
) -> Result<(Vec<Axis>, Vec<Exclude>), SpecError> {
    let field = format!("{base}.{MATRIX}");
    let Kind::Map(entries) = &matrix.value.kind else {
        let msg = format!(
            "expected a map of axis -> list of values, found {}",
            matrix.value.describe()
        );
        return Err(sources.error(matrix.value.loc, field, msg, None));
    };
    let mut axes = Vec::new();
    for a in entries.iter().filter(|a| a.key != EXCLUDE) {
        axes.push(parse_axis(a, &field, taken, sources)?);
    }
    if axes.is_empty() {
        let msg = "a matrix needs at least one axis";
        return Err(sources.error(matrix.key_loc, field, msg, None));
    }
    let excludes = match entries.iter().find(|a| a.key == EXCLUDE) {
        Some(x) => parse_excludes(&x.value, &format!("{field}.{EXCLUDE}"), &axes, sources)?,
        None => Vec::new(),
    };
    Ok((axes, excludes))
}

fn parse_axis(
    a: &Entry,
    field: &str,
    taken: &[String],
    sources: &Sources,
) -> Result<Axis, SpecError> {
    let field = format!("{field}.{}", a.key);
    let valid = !a.key.is_empty()
        && a.key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        let msg = format!(
            "invalid axis name `{}`: use letters, digits, `_` and `-`",
            a.key
        );
        return Err(sources.error(a.key_loc, field, msg, None));
    }
    if taken.contains(&a.key) {
        let msg = format!(
            "the axis `{0}` is also a variable (`vars.{0}`), so `${{{0}}}` would be ambiguous; rename the axis",
            a.key
        );
        return Err(sources.error(a.key_loc, field, msg, None));
    }
    let items = match &a.value.kind {
        Kind::Seq(items) if !items.is_empty() => items,
        _ => {
            let msg = format!(
                "expected a non-empty list of values, found {}",
                a.value.describe()
            );
            return Err(sources.error(a.value.loc, field, msg, None));
        }
    };
    let mut seen: Vec<String> = Vec::with_capacity(items.len());
    for (i, v) in items.iter().enumerate() {
        let vfield = format!("{field}.{i}");
        check_value(v, &vfield, sources)?;
        let mut canon = String::new();
        v.write_canonical(&mut canon);
        if let Some(j) = seen.iter().position(|s| *s == canon) {
            let msg = format!("{} is already value {j} of this axis", v.describe());
            return Err(sources.error(v.loc, vfield, msg, None));
        }
        seen.push(canon);
    }
    Ok(Axis {
        name: a.key.clone(),
        values: items.clone(),
    })
}

/// An axis value is a scalar or a map, with no `${...}` anywhere in it.
fn check_value(v: &Node, field: &str, sources: &Sources) -> Result<(), SpecError> {
    if matches!(v.kind, Kind::Null | Kind::Seq(_)) {
        let msg = format!(
            "a matrix value is a string, number, boolean or map, found {}",
            v.type_name()
        );
        return Err(sources.error(v.loc, field, msg, None));
    }
    literal(v, field, sources)
}

/// No string in `v` references a variable.
fn literal(v: &Node, field: &str, sources: &Sources) -> Result<(), SpecError> {
    match &v.kind {
        Kind::Str(s) => match pieces(s) {
            Ok(Some(ps)) if ps.iter().any(|p| matches!(p, Piece::Var(_))) => {
                let msg = format!(
                    "matrix values are literal: `{s}` uses a variable (write `$${{` for a literal `${{`)"
                );
                Err(sources.error(v.loc, field, msg, None))
            }
            Err(m) => Err(sources.error(v.loc, field, m, None)),
            _ => Ok(()),
        },
        Kind::Map(entries) => entries
            .iter()
            .try_for_each(|e| literal(&e.value, &format!("{field}.{}", e.key), sources)),
        Kind::Seq(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, n)| literal(n, &format!("{field}.{i}"), sources)),
        _ => Ok(()),
    }
}

fn parse_excludes(
    n: &Node,
    field: &str,
    axes: &[Axis],
    sources: &Sources,
) -> Result<Vec<Exclude>, SpecError> {
    let Kind::Seq(items) = &n.kind else {
        let msg = format!(
            "expected a list of maps axis -> value, found {}",
            n.describe()
        );
        return Err(sources.error(n.loc, field, msg, None));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let ifield = format!("{field}.{i}");
        let entries = match &item.kind {
            Kind::Map(e) if !e.is_empty() => e,
            _ => {
                let msg = format!(
                    "expected a non-empty map of axis -> value, found {}",
                    item.describe()
                );
                return Err(sources.error(item.loc, ifield, msg, None));
            }
        };
        let mut conds = Vec::with_capacity(entries.len());
        for c in entries {
            let Some(ax) = axes.iter().position(|a| a.name == c.key) else {
                let msg = format!("`{}` is not an axis of this matrix", c.key);
                let hint = suggest(&c.key, axes.iter().map(|a| a.name.as_str()));
                return Err(sources.error(c.key_loc, format!("{ifield}.{}", c.key), msg, hint));
            };
            conds.push((ax, c.value.clone()));
        }
        out.push(Exclude {
            loc: item.loc,
            field: ifield,
            conds,
        });
    }
    Ok(out)
}

/// The name must use every axis, and nothing but axes (names are not interpolated by `vars`).
pub(super) fn check_name(
    e: &Entry,
    axes: &[Axis],
    base: &str,
    sources: &Sources,
) -> Result<(), SpecError> {
    let used: Vec<&str> = match pieces(&e.key) {
        Err(m) => return Err(sources.error(e.key_loc, base, m, None)),
        Ok(None) => Vec::new(),
        Ok(Some(ps)) => ps
            .iter()
            .filter_map(|p| match p {
                Piece::Var(v) => Some(*v),
                _ => None,
            })
            .collect(),
    };
    let names = || axes.iter().map(|a| a.name.as_str());
    for v in &used {
        let root = v.split('.').next().unwrap_or(v);
        if !axes.iter().any(|a| a.name == root) {
            let list = names().collect::<Vec<_>>().join("`, `");
            let msg = format!(
                "`${{{v}}}` in a stage name: a name can use only the matrix axes (`{list}`), not variables"
            );
            return Err(sources.error(e.key_loc, base, msg, suggest(root, names())));
        }
    }
    for a in axes {
        let uses = used.iter().any(|v| {
            *v == a.name
                || v.strip_prefix(a.name.as_str())
                    .is_some_and(|r| r.starts_with('.'))
        });
        if !uses {
            let msg = format!(
                "the name does not use the axis `{0}`, so its stages would share a name; add `${{{0}}}` to the name",
                a.name
            );
            return Err(sources.error(e.key_loc, base, msg, None));
        }
    }
    Ok(())
}

/// The combinations (value index per axis; last axis fastest) that no `exclude` entry matches;
/// every entry must match one.
pub(super) fn combinations(
    axes: &[Axis],
    excludes: &[Exclude],
    matrix: &Entry,
    base: &str,
    sources: &Sources,
) -> Result<Vec<Vec<usize>>, SpecError> {
    let field = format!("{base}.{MATRIX}");
    let count = axes
        .iter()
        .try_fold(1usize, |acc, a| acc.checked_mul(a.values.len()))
        .filter(|&c| c <= MAX_EXPANDED)
        .ok_or_else(|| {
            let msg = format!("the matrix has more than {MAX_EXPANDED} combinations");
            sources.error(matrix.key_loc, field.as_str(), msg, None)
        })?;
    let mut used = vec![false; excludes.len()];
    let mut out = Vec::with_capacity(count);
    for mut index in 0..count {
        let mut combo = vec![0; axes.len()];
        for (slot, a) in combo.iter_mut().zip(axes).rev() {
            *slot = index % a.values.len();
            index /= a.values.len();
        }
        let mut excluded = false;
        for (x, u) in excludes.iter().zip(used.iter_mut()) {
            if x.conds
                .iter()
                .all(|(ax, v)| matches(v, &axes[*ax].values[combo[*ax]]))
            {
                *u = true;
                excluded = true;
            }
        }
        if !excluded {
            out.push(combo);
        }
    }
    if let Some(i) = used.iter().position(|u| !u) {
        let x = &excludes[i];
        let msg = "this exclude entry matches no combination of the matrix (a typo? if an axis changed, change `exclude` too)";
        return Err(sources.error(x.loc, x.field.as_str(), msg, None));
    }
    if out.is_empty() {
        let msg = "`exclude` removes every combination of the matrix";
        return Err(sources.error(matrix.key_loc, field, msg, None));
    }
    Ok(out)
}

/// Whether an `exclude` value matches an axis value: equal, or (for maps) every field given
/// matches the value's field.
fn matches(cond: &Node, value: &Node) -> bool {
    match (&cond.kind, &value.kind) {
        (Kind::Map(cs), Kind::Map(_)) => cs
            .iter()
            .all(|c| value.get(&c.key).is_some_and(|v| matches(&c.value, v))),
        _ => {
            let (mut a, mut b) = (String::new(), String::new());
            cond.write_canonical(&mut a);
            value.write_canonical(&mut b);
            a == b
        }
    }
}

/// `TEMPLATE (axis=value, ...)`.
pub(super) fn label(template: &str, axes: &[Axis], combo: &[usize]) -> String {
    let parts: Vec<String> = axes
        .iter()
        .zip(combo)
        .map(|(a, &i)| format!("{}={}", a.name, show(&a.values[i])))
        .collect();
    format!("{template} ({})", parts.join(", "))
}

/// A value as flow YAML, for labels: `mos`, `3`, `{id: mos_rec, objective: rec}`.
fn show(n: &Node) -> String {
    match &n.kind {
        Kind::Null => "null".to_string(),
        Kind::Bool(b) => b.to_string(),
        Kind::Int(i) => i.to_string(),
        Kind::Float(x) => x.to_string(),
        Kind::Str(s) => s.clone(),
        Kind::Seq(items) => {
            let v: Vec<String> = items.iter().map(show).collect();
            format!("[{}]", v.join(", "))
        }
        Kind::Map(entries) => {
            let v: Vec<String> = entries
                .iter()
                .map(|e| format!("{}: {}", e.key, show(&e.value)))
                .collect();
            format!("{{{}}}", v.join(", "))
        }
    }
}

/// The values of one combination, as a first `${...}` pass: names that are not axes are left
/// for `vars`.
pub(super) struct AxisValues<'a> {
    pub axes: &'a [Axis],
    pub combo: &'a [usize],
    pub sources: &'a Sources,
}

impl Lookup for AxisValues<'_> {
    fn value(&mut self, name: &str, loc: Loc, field: &Trail<'_>) -> Result<Node, SpecError> {
        let mut parts = name.split('.');
        let root = parts.next().unwrap_or(name);
        let i = self
            .axes
            .iter()
            .position(|a| a.name == root)
            .expect("a deferred name is never looked up");
        let mut cur = &self.axes[i].values[self.combo[i]];
        let mut path = root.to_string();
        for p in parts {
            let Some(next) = cur.get(p) else {
                let (msg, hint) = match cur.entries() {
                    Some(es) => (
                        format!("the matrix value `{path}` has no field `{p}`"),
                        suggest(p, es.iter().map(|e| e.key.as_str())),
                    ),
                    None => (
                        format!(
                            "the matrix value `{path}` is {}, which has no fields",
                            cur.describe()
                        ),
                        None,
                    ),
                };
                return Err(self.sources.error(loc, field.render(), msg, hint));
            };
            cur = next;
            path.push('.');
            path.push_str(p);
        }
        Ok(cur.clone())
    }

    fn sources(&self) -> &Sources {
        self.sources
    }

    fn defers(&self, name: &str) -> bool {
        let root = name.split('.').next().unwrap_or(name);
        !self.axes.iter().any(|a| a.name == root)
    }

    fn partial(&self) -> bool {
        true
    }

    fn noun(&self) -> &'static str {
        "matrix value"
    }
}

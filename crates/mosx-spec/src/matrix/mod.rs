//! `matrix:` stages: a stage written once and expanded into one stage per combination of its
//! axes (DVC's `matrix`, GitHub Actions' `exclude`):
//!
//! ```yaml
//! stages:
//!   ml_eval_${method.id}_${setting}:
//!     matrix:
//!       method: [{id: mos_rec, name: mos, objective: rec}, {id: up5, name: up5}]
//!       setting: [implicit, explicit]
//!       exclude: [{method: {id: up5}, setting: explicit}]
//!     kind: evaluate
//!     inputs: { adapter: "ml_train_${method.id}" }
//!     params: { setting: "${setting}", model: "${model}" }
//! ```
//!
//! Invariants: expansion runs on the merged document, between the `--set`s that name matrix
//! stages and the others, and before the sweep, vars and validation, so every later error is
//! at the template's line (the field names the template and the combination, see [`Labels`]).
//! `${axis}` and `${axis.field...}` are replaced in the name and in every string of the stage
//! body (a whole-string reference keeps the value's type); any other `${name}` is left for the
//! `vars` pass, and `$${` stays escaped. Axis names never equal a variable's name. Axis values
//! are literal scalars or maps (no `${`, no lists, no null), distinct within an axis. The name
//! uses every axis. Expanded stages replace the template in place, in combination order
//! (axes as written, the last varying fastest), minus the combinations an `exclude` entry
//! matches (every axis it names equal; a map value matches a map with those fields), and
//! each `exclude` entry matches at least one. An expanded name is a valid stage name and
//! unique among all stages, except that two templates may expand to one name with equal
//! bodies (the same stage, kept once at the first: tables merged by `extends` share their
//! trainings); a stage without `kind` under an expanded name refines that one expansion
//! (merged over it like an `extends` child).

use std::collections::{HashMap, HashSet};

use crate::error::SpecError;
use crate::merge;
use crate::node::{Entry, Kind, Loc, Node};
use crate::overrides;
use crate::sources::Sources;
use crate::suggest::suggest;
use crate::vars::{self, pieces, Piece, Trail};

mod axes;

use axes::{check_name, combinations, label, parse_matrix, AxisValues};

/// The most stages all matrix stages of a spec may expand to.
pub(crate) const MAX_EXPANDED: usize = 100_000;
const MATRIX: &str = "matrix";
const EXCLUDE: &str = "exclude";

/// Expanded stage name -> `TEMPLATE (axis=value, ...)`, for error fields: `stages.NAME.rest`
/// reads `stages.TEMPLATE (axis=value, ...).rest`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Labels(HashMap<String, String>);

impl Labels {
    pub fn field(&self, field: String) -> String {
        if self.0.is_empty() {
            return field;
        }
        let Some(rest) = field.strip_prefix("stages.") else {
            return field;
        };
        let (name, tail) = rest.split_at(rest.find('.').unwrap_or(rest.len()));
        match self.0.get(name) {
            Some(label) => format!("stages.{label}{tail}"),
            None => field,
        }
    }
}

/// Applies `sets` and expands the matrix stages of `doc`: first the `--set`s under a matrix
/// stage (its name, or a name with `${`, or a `matrix` key), then the expansion, then the
/// other `--set`s, which name expanded stages. Records the labels in `sources`.
pub(crate) fn apply(
    doc: &mut Node,
    sets: &[String],
    sources: &mut Sources,
) -> Result<(), SpecError> {
    let templates: Vec<String> = stage_entries(doc)
        .iter()
        .filter(|e| is_template(e))
        .map(|e| e.key.clone())
        .collect();
    let early = |segs: &[&str]| {
        segs.len() >= 2
            && segs[0] == "stages"
            && (segs[1].contains("${")
                || templates.iter().any(|t| t == segs[1])
                || segs.get(2) == Some(&MATRIX))
    };
    overrides::apply(doc, sets, sources, &early)?;
    let labels = expand(doc, sources)?;
    sources.set_labels(labels);
    overrides::apply(doc, sets, sources, &|segs| !early(segs))
}

fn stage_entries(doc: &Node) -> &[Entry] {
    doc.get("stages").and_then(Node::entries).unwrap_or(&[])
}

fn is_template(e: &Entry) -> bool {
    e.value.entry(MATRIX).is_some()
}

/// A stage without `kind` (a refinement of one expansion, or an error).
fn is_kindless(e: &Entry) -> bool {
    matches!(e.value.kind, Kind::Map(_)) && e.value.get("kind").is_none()
}

/// Names `${...}` may not take as axes: the variables of `vars`, the grid's `vars.NAME` and
/// `seed` when `sweep.seeds` sets it.
fn taken_names(doc: &Node) -> Vec<String> {
    let mut out: Vec<String> = doc
        .get("vars")
        .and_then(Node::entries)
        .unwrap_or(&[])
        .iter()
        .map(|e| e.key.clone())
        .collect();
    let sweep = doc.get("sweep");
    let grid = sweep.and_then(|s| s.get("grid")).and_then(Node::entries);
    for g in grid.unwrap_or(&[]) {
        if let Some(name) = g.key.strip_prefix("vars.") {
            out.push(name.split('.').next().unwrap_or(name).to_string());
        }
    }
    if sweep
        .and_then(|s| s.get("seeds"))
        .is_some_and(|n| !n.is_null())
    {
        out.push("seed".to_string());
    }
    out
}

/// One stage of an expansion.
struct Expanded {
    name: String,
    label: String,
    key_loc: Loc,
    body: Node,
}

fn expand(doc: &mut Node, sources: &Sources) -> Result<Labels, SpecError> {
    let taken = taken_names(doc);
    let Some(Node {
        kind: Kind::Map(entries),
        ..
    }) = doc.get_mut("stages")
    else {
        return Ok(Labels::default());
    };
    if !entries
        .iter()
        .any(|e| is_template(e) || e.key.contains("${"))
    {
        return Ok(Labels::default());
    }
    let old = std::mem::take(entries);
    let mut expansions: Vec<Option<Vec<Expanded>>> = Vec::with_capacity(old.len());
    let mut total = 0usize;
    for e in &old {
        if !is_template(e) {
            plain_name(e, sources)?;
            expansions.push(None);
            continue;
        }
        let x = expand_stage(e, &taken, sources)?;
        total += x.len();
        if total > MAX_EXPANDED {
            let msg = format!("the matrix stages expand to more than {MAX_EXPANDED} stages");
            return Err(sources.error(e.key_loc, format!("stages.{}", e.key), msg, None));
        }
        expansions.push(Some(x));
    }
    let (out, labels) = assemble(old, expansions, sources)?;
    *entries = out;
    Ok(Labels(labels))
}

/// A stage without `matrix` must not use `${...}` in its name.
fn plain_name(e: &Entry, sources: &Sources) -> Result<(), SpecError> {
    let field = || format!("stages.{}", e.key);
    match pieces(&e.key) {
        Err(m) => Err(sources.error(e.key_loc, field(), m, None)),
        Ok(Some(ps)) => match ps.iter().find_map(|p| match p {
            Piece::Var(v) => Some(*v),
            _ => None,
        }) {
            Some(v) => {
                // A misspelt `matrix` key is the likely cause: reported at that key.
                let keys = e.value.entries().unwrap_or(&[]);
                if let Some(k) = keys.iter().find(|k| suggest(&k.key, [MATRIX]).is_some()) {
                    let field = format!("{}.{}", field(), k.key);
                    let hint = Some(MATRIX.to_string());
                    return Err(sources.error(k.key_loc, field, "unknown field", hint));
                }
                let msg = format!("the name uses `${{{v}}}` but the stage has no `matrix:`");
                Err(sources.error(e.key_loc, field(), msg, None))
            }
            None => Ok(()),
        },
        Ok(None) => Ok(()),
    }
}

/// (template, expansion) indices of the expansions that repeat an equal earlier one.
type Repeats = HashSet<(usize, usize)>;

/// Puts each template's expansions in its place, checks that names are unique and merges the
/// kind-less refinements into the expansion they name. Returns the stages and the labels.
fn assemble(
    old: Vec<Entry>,
    expansions: Vec<Option<Vec<Expanded>>>,
    sources: &Sources,
) -> Result<(Vec<Entry>, HashMap<String, String>), SpecError> {
    let (labels, repeats) = expanded_names(&expansions, sources)?;
    let (mut out, refinements) = place_stages(old, expansions, &labels, &repeats, sources)?;
    merge_refinements(&mut out, refinements, sources)?;
    Ok((out, labels))
}

/// Every expanded name with its label, and the repeats: (template, expansion) indices of
/// the expansions to drop. Two templates that expand to one name declare the same stage when
/// the bodies are equal (as identical stages of two `extends` parents do: `paper.yaml`
/// extends tables that share trainings), which is kept once, at the first; different bodies
/// are an error at the later template.
fn expanded_names(
    expansions: &[Option<Vec<Expanded>>],
    sources: &Sources,
) -> Result<(HashMap<String, String>, Repeats), SpecError> {
    let mut labels: HashMap<String, String> = HashMap::new();
    let mut bodies: HashMap<String, serde_json::Value> = HashMap::new();
    let mut repeats = Repeats::new();
    let all = expansions
        .iter()
        .enumerate()
        .filter_map(|(t, x)| Some((t, x.as_ref()?)));
    for (t, j, x) in all.flat_map(|(t, xs)| xs.iter().enumerate().map(move |(j, x)| (t, j, x))) {
        let json = x.body.to_json().ok();
        if let Some(first) = labels.get(&x.name) {
            if json.is_some() && bodies.get(&x.name) == json.as_ref() {
                repeats.insert((t, j));
                continue;
            }
            let msg = format!(
                "expands to `{}`, the name of a different expansion of `{first}` too",
                x.name
            );
            let field = format!("stages.{}", x.label);
            return Err(sources.error(x.key_loc, field, msg, None));
        }
        labels.insert(x.name.clone(), x.label.clone());
        if let Some(j) = json {
            bodies.insert(x.name.clone(), j);
        }
    }
    Ok((labels, repeats))
}

/// The stages in order, each template replaced by its expansions (less the `repeats`), and
/// apart the kind-less stages that refine an expansion; a stage under an expanded name must
/// be such a refinement, and a kind-less stage must name an expansion.
fn place_stages(
    old: Vec<Entry>,
    expansions: Vec<Option<Vec<Expanded>>>,
    labels: &HashMap<String, String>,
    repeats: &Repeats,
    sources: &Sources,
) -> Result<(Vec<Entry>, Vec<Entry>), SpecError> {
    let mut out: Vec<Entry> = Vec::with_capacity(labels.len() + old.len());
    let mut refinements: Vec<Entry> = Vec::new();
    for (t, (e, x)) in old.into_iter().zip(expansions).enumerate() {
        if let Some(x) = x {
            out.extend(
                x.into_iter()
                    .enumerate()
                    .filter(|(j, _)| !repeats.contains(&(t, *j)))
                    .map(|(_, x)| Entry {
                        key: x.name,
                        key_loc: x.key_loc,
                        value: x.body,
                    }),
            );
            continue;
        }
        let field = format!("stages.{}", e.key);
        match (labels.get(&e.key), is_kindless(&e)) {
            (Some(_), true) => refinements.push(e),
            (Some(label), false) => {
                let msg = format!(
                    "stage `{}` is also an expansion of the matrix stage `{label}`; \
                     to change that one expansion, leave out `kind`",
                    e.key
                );
                return Err(sources.error(e.key_loc, field, msg, None));
            }
            (None, true) => {
                let msg = format!(
                    "stage `{}` has no `kind` and names no expansion of a matrix stage",
                    e.key
                );
                let hint = suggest(&e.key, labels.keys().map(String::as_str));
                return Err(sources.error(e.key_loc, field, msg, hint));
            }
            (None, false) => out.push(e),
        }
    }
    Ok((out, refinements))
}

/// Merges each refinement over the expansion of its name in `out` (like an `extends`
/// child); a refinement may not have its own `matrix`.
fn merge_refinements(
    out: &mut [Entry],
    refinements: Vec<Entry>,
    sources: &Sources,
) -> Result<(), SpecError> {
    for r in refinements {
        if let Some(m) = r.value.entry(MATRIX) {
            let field = format!("stages.{}.{MATRIX}", r.key);
            let msg = "a refinement of one expansion cannot have its own `matrix`";
            return Err(sources.error(m.key_loc, field, msg, None));
        }
        if let Some(target) = out.iter_mut().find(|o| o.key == r.key) {
            let base = std::mem::replace(&mut target.value, Node::new(Kind::Null, r.key_loc));
            target.value = merge::merge(base, r.value);
        }
    }
    Ok(())
}

/// Expands one matrix stage into its stages, in combination order.
fn expand_stage(
    e: &Entry,
    taken: &[String],
    sources: &Sources,
) -> Result<Vec<Expanded>, SpecError> {
    let base = format!("stages.{}", e.key);
    let matrix = e.value.entry(MATRIX).expect("a template has a matrix");
    let (axes, excludes) = parse_matrix(matrix, &base, taken, sources)?;
    check_name(e, &axes, &base, sources)?;
    let combos = combinations(&axes, &excludes, matrix, &base, sources)?;
    let mut body = e.value.clone();
    if let Kind::Map(fields) = &mut body.kind {
        fields.retain(|f| f.key != MATRIX);
    }
    let mut out = Vec::with_capacity(combos.len());
    for combo in combos {
        let label = label(&e.key, &axes, &combo);
        let root = format!("stages.{label}");
        let mut lookup = AxisValues {
            axes: &axes,
            combo: &combo,
            sources,
        };
        let mut name = Node::new(Kind::Str(e.key.clone()), e.key_loc);
        vars::substitute(&mut name, &Trail::Root(&root), &mut lookup)?;
        let name = match name.kind {
            Kind::Str(s) => s,
            Kind::Int(i) => i.to_string(),
            Kind::Float(x) => x.to_string(),
            Kind::Bool(b) => b.to_string(),
            _ => {
                let msg = format!(
                    "the name is {}; use one of its fields, e.g. `${{axis.field}}`",
                    name.describe()
                );
                return Err(sources.error(e.key_loc, root, msg, None));
            }
        };
        if name.is_empty() || name.contains('.') {
            let msg = format!(
                "expands to `{name}`, which is not a stage name: it must be non-empty and contain no `.`"
            );
            return Err(sources.error(e.key_loc, root, msg, None));
        }
        let mut b = body.clone();
        vars::substitute(&mut b, &Trail::Root(&root), &mut lookup)?;
        out.push(Expanded {
            name,
            label,
            key_loc: e.key_loc,
            body: b,
        });
    }
    Ok(out)
}

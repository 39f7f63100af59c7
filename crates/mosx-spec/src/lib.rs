//! mosx-spec: experiment specs (YAML) with `extends`, `vars`, `sweep` and `--set`, validated
//! strictly, with every error located at `file:line:col` of where the offending key/value was
//! written. Invariants: YAML is parsed once per file (sweep points reuse the merged tree); file
//! paths are never made absolute; `Spec::hash` covers the merged document after `--set` and the
//! expansion of `matrix:` stages only; a `sweep.search` expands into trials only on request
//! (`Spec::with_trials`), since TPE proposes from results the loader never sees.

mod claims;
mod error;
mod limits;
mod matrix;
mod merge;
mod node;
mod overrides;
mod prune;
mod resources;
mod scalar;
mod search;
mod sources;
mod space;
mod spec;
mod suggest;
mod sweep;
mod trials;
mod validate;
mod vars;
mod yaml;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

pub use claims::{Claim, ClaimOp, Operand, CLAIM_KEYS};
pub use error::{is_unprintable, printable, SpecError};
pub use limits::{MAX_SPEC_BYTES, MAX_STAGES, MAX_VAR_EXPANSION};
pub use prune::{PruneDecl, PRUNE_KEYS};
pub use resources::RESOURCE_KEYS;
pub use search::{Objective, SearchDecl, OBJECTIVE_KEYS, SEARCH_KEYS};
pub use sources::SET_FILE;
pub use spec::{Instance, ReportDecl, Spec, StageDecl, TrialRef};
pub use suggest::suggest;
pub use trials::Trial;
pub use validate::{FIGURE_KEYS, STAGE_KEYS, TEMPLATE_KEYS, TOP_KEYS};
pub use yaml::{MAX_ALIASES, MAX_ALIAS_NODES};

use node::{split, Kind, Loc, Node};
use sources::Sources;

/// Refuses a spec whose sweep points times stages per point pass [`MAX_STAGES`], located at
/// the sweep's first axis (or at `stages` without a sweep), before any point is expanded.
fn check_stage_count(
    doc: &Node,
    axes: &[sweep::Axis],
    points: usize,
    sources: &Sources,
) -> Result<(), SpecError> {
    let per_point = doc
        .get("stages")
        .and_then(Node::entries)
        .map_or(0, <[_]>::len);
    let total = per_point.saturating_mul(points);
    if total <= MAX_STAGES {
        return Ok(());
    }
    let msg = format!(
        "the spec has {total} stages ({per_point} per point x {points} sweep point(s)), more than the limit of {MAX_STAGES}"
    );
    let (loc, field) = match (axes.first(), doc.entry("stages")) {
        (Some(a), _) => (a.key_loc, format!("sweep.{}", a.path)),
        (None, Some(e)) => (e.key_loc, "stages".to_string()),
        (None, None) => (doc.loc, String::new()),
    };
    Err(sources.error(loc, field, msg, None))
}

/// Swept path -> where its value was written in `sweep`, for one point.
type PointLocs = Vec<(String, Loc)>;

/// Each sweep point's instance and the locations of its swept values, and the report
/// (validated on the first point).
type Points = (Vec<Instance>, Vec<PointLocs>, Vec<ReportDecl>);

/// The spec's `name`, else the file stem of `path`.
fn spec_name(doc: &Node, path: &Path) -> String {
    match doc.get("name").and_then(Node::as_str) {
        Some(n) => n.to_string(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// The part of the document that varies per point; `vars: null` becomes an empty map so that
/// `seeds` can set `vars.seed`.
fn point_template(doc: &Node) -> Node {
    let mut template = Node::new(Kind::Map(Vec::new()), doc.loc);
    if let Kind::Map(entries) = &mut template.kind {
        for key in ["vars", "stages", "report"] {
            if let Some(e) = doc.entry(key) {
                let mut e = e.clone();
                if key == "vars" && e.value.is_null() {
                    e.value.kind = Kind::Map(Vec::new());
                }
                entries.push(e);
            }
        }
    }
    template
}

/// Sets sweep point `index`'s values into `d`; returns the point (swept path -> value) and
/// where each value was written.
fn set_point(
    d: &mut Node,
    axes: &[sweep::Axis],
    axis_segs: &[Vec<&str>],
    index: usize,
    sources: &Sources,
) -> Result<(BTreeMap<String, Value>, PointLocs), SpecError> {
    let mut point = BTreeMap::new();
    let mut locs = Vec::with_capacity(axes.len());
    for ((axis, segs), choice) in axes.iter().zip(axis_segs).zip(sweep::choices(axes, index)) {
        let value = axis.values[choice].clone();
        let field = format!("sweep.{}", axis.path);
        let json = value.to_json().map_err(|loc| {
            sources.error(
                loc,
                field.as_str(),
                "non-finite floats (.inf, .nan) cannot be swept",
                None,
            )
        })?;
        point.insert(axis.path.clone(), json);
        locs.push((axis.path.clone(), value.loc));
        let loc = value.loc;
        d.set_path(segs, value, axis.key_loc, true, false)
            .map_err(|_| {
                sources.error(
                    loc,
                    field.as_str(),
                    format!("cannot set `{}` at this point", axis.path),
                    None,
                )
            })?;
    }
    Ok((point, locs))
}

/// Resolves a point's variables, substitutes them into its stages and validates them; with
/// `with_report`, also substitutes into its report and validates it.
fn point_decls(
    d: &mut Node,
    sources: &Sources,
    with_report: bool,
) -> Result<(Vec<StageDecl>, Option<Vec<ReportDecl>>), SpecError> {
    let mut vars = vars::Vars::new(d.get("vars"), sources)?;
    vars.resolve_all()?;
    if let Some(stages) = d.get_mut("stages") {
        vars::substitute(stages, &vars::Trail::Root("stages"), &mut vars)?;
    }
    let stages = validate::stages(d, sources)?;
    if !with_report {
        return Ok((stages, None));
    }
    if let Some(r) = d.get_mut("report") {
        vars::substitute(r, &vars::Trail::Root("report"), &mut vars)?;
    }
    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    let report = validate::report(d, &names, sources)?;
    Ok((stages, Some(report)))
}

/// One instance to expand: its grid point and, for a trial, the trial and its values (one
/// per searched path).
pub(crate) struct Job<'v> {
    pub grid: usize,
    pub trial: Option<(TrialRef, &'v [Value])>,
    /// The trial's `prune` param of the pruned train stage (`sweep.prune`), if any.
    pub prune: Option<&'v Value>,
}

/// Expands `jobs` of `doc` into instances. Searched paths a job does not set take their
/// representative value (`space::representative`) and are not part of its point.
pub(crate) fn expand_points(
    doc: &Node,
    axes: &[sweep::Axis],
    search: Option<&SearchDecl>,
    jobs: &[Job<'_>],
    sources: &Sources,
) -> Result<Points, SpecError> {
    let template = point_template(doc);
    let mut instances = Vec::with_capacity(jobs.len());
    let mut point_locs = Vec::with_capacity(jobs.len());
    let mut report = Vec::new();
    let axis_segs: Vec<Vec<&str>> = axes.iter().map(|a| split(&a.path)).collect();
    let params = search.map_or(&[][..], |s| s.params.as_slice());
    let defaults: Vec<Value> = params
        .iter()
        .map(|p| space::representative(&p.dist))
        .collect();
    for (n, job) in jobs.iter().enumerate() {
        let mut d = template.clone();
        let (mut point, mut locs) = set_point(&mut d, axes, &axis_segs, job.grid, sources)?;
        let values = job.trial.map_or(defaults.as_slice(), |(_, v)| v);
        for (p, v) in params.iter().zip(values) {
            let field = format!("sweep.space.{}", p.path);
            d.set_path(
                &split(&p.path),
                space::node_of(v, p.key_loc),
                p.key_loc,
                true,
                false,
            )
            .map_err(|_| {
                let msg = format!("cannot set `{}` at this point", p.path);
                sources.error(p.key_loc, field, msg, None)
            })?;
            if job.trial.is_some() {
                point.insert(p.path.clone(), v.clone());
                locs.push((p.path.clone(), p.key_loc));
            }
        }
        if let (Some(v), Some(p)) = (job.prune, search.and_then(|s| s.prune.as_ref())) {
            set_prune(&mut d, &p.stage, v, sources)?;
        }
        let (stages, first_report) = point_decls(&mut d, sources, n == 0)?;
        if let Some(r) = first_report {
            report = r;
        }
        instances.push(Instance {
            point,
            stages,
            trial: job.trial.map(|(t, _)| t),
        });
        point_locs.push(locs);
    }
    Ok((instances, point_locs, report))
}

/// Sets the trial's `prune` param at `stages.STAGE.params.prune` (located at `sweep.prune`).
fn set_prune(d: &mut Node, stage: &str, v: &Value, sources: &Sources) -> Result<(), SpecError> {
    let loc = d
        .get("sweep")
        .and_then(Node::entries)
        .and_then(|s| s.iter().find(|e| e.key == "prune"))
        .map_or(d.loc, |e| e.key_loc);
    let segs = ["stages", stage, "params", "prune"];
    d.set_path(&segs, prune::node_of_json(v, loc), loc, true, false)
        .map_err(|_| {
            let msg = format!("cannot set `stages.{stage}.params.prune` of a trial");
            sources.error(loc, "sweep.prune", msg, None)
        })
}

/// Loads the spec at `path` (relative to the working directory, kept as given), its extends
/// chain, applies `sets` (`a.b.c=VALUE`), expands the sweep and validates every instance.
pub fn load(path: &Path, sets: &[String]) -> Result<Spec, SpecError> {
    let mut sources = Sources::default();
    let (mut doc, parents) = merge::load_chain(path, &mut sources)?;
    matrix::apply(&mut doc, sets, &mut sources)?;

    let mut canonical = String::new();
    doc.write_canonical(&mut canonical);
    let hash = blake3::hash(canonical.as_bytes()).to_hex().to_string();

    validate::check_top(&doc, &sources)?;
    let name = spec_name(&doc, path);
    let description = doc
        .get("description")
        .and_then(Node::as_str)
        .map(str::to_string);
    let axes = sweep::parse(&doc, &sources)?;
    let count = sweep::point_count(&axes, &sources)?;
    check_stage_count(&doc, &axes, count, &sources)?;
    let search = search::parse(&doc, &axes, &sources)?;
    let jobs: Vec<Job> = (0..count)
        .map(|grid| Job {
            grid,
            trial: None,
            prune: None,
        })
        .collect();
    let (instances, point_locs, report) =
        expand_points(&doc, &axes, search.as_ref(), &jobs, &sources)?;

    let claims = match instances.first() {
        Some(i) => {
            let names: Vec<&str> = i.stages.iter().map(|s| s.name.as_str()).collect();
            if let Some(decl) = &search {
                search::check_stage(decl, &doc, &names, &sources)?;
            }
            claims::parse(&doc, &names, &sources)?
        }
        None => Vec::new(),
    };
    let resources = resources::parse(&doc, &sources)?;
    Ok(Spec {
        claims,
        parents,
        resources,
        path: path.to_path_buf(),
        name,
        description,
        instances,
        report,
        sweep_paths: axes.iter().map(|a| a.path.clone()).collect(),
        replicate_paths: axes
            .iter()
            .filter(|a| a.replicate)
            .map(|a| a.path.clone())
            .collect(),
        hash,
        search,
        axes,
        doc,
        sources,
        point_locs,
    })
}

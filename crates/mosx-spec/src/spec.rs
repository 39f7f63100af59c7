//! The loaded `Spec` and its public declaration types. Invariants: `instances` are in sweep point
//! order (one, with an empty point, without a sweep); every instance's stages passed strict
//! validation; the private source map is the merged document after `--set` and the expansion of
//! `matrix:` stages (before the sweep), so `error_at` points where a field was last written (an
//! expanded stage's fields at its template) and names an expanded stage by its template and
//! combination.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::SpecError;
use crate::node::{split, Kind, Loc, Node};
use crate::sources::Sources;

/// A loaded, merged, validated experiment spec.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The spec file as the user gave it.
    pub path: PathBuf,
    /// `name:` or the file stem.
    pub name: String,
    pub description: Option<String>,
    /// One per sweep point, in grid order (last axis fastest, `seeds` last).
    pub instances: Vec<Instance>,
    /// Report entries after variable substitution with the first instance's vars.
    pub report: Vec<ReportDecl>,
    /// `claims:` (see [`crate::Claim`]), checked against the first instance's stage names.
    pub claims: Vec<crate::Claim>,
    /// The files the spec file itself extends, in order (joined onto its directory); a list of
    /// several is a union (e.g. `paper.yaml` of the table specs).
    pub parents: Vec<PathBuf>,
    /// `resources:` per stage kind (or `default`) for cluster executors; see
    /// [`crate::RESOURCE_KEYS`].
    pub resources: BTreeMap<String, Map<String, Value>>,
    /// Dotted paths that vary across instances (`vars.seed` for `seeds`), in axis order.
    pub sweep_paths: Vec<String>,
    /// The swept paths that are repetitions, not settings: `vars.seed` of `seeds` and the grid
    /// paths named in `sweep.replicates`, in axis order. Reports pool over them.
    pub replicate_paths: Vec<String>,
    /// `sweep.search` with its space and objective; the instances are then the trials given
    /// to [`Spec::with_trials`] (the loaded spec's instances are the grid points, searched
    /// paths at their representative values, for checking only).
    pub search: Option<crate::SearchDecl>,
    /// blake3 hex of the canonical JSON (sorted keys) of the merged document after `--set`.
    pub hash: String,
    /// The grid axes (kept to expand trials).
    pub(crate) axes: Vec<crate::sweep::Axis>,
    pub(crate) doc: Node,
    pub(crate) sources: Sources,
    /// Per instance: (swept path, location of the value it took in `sweep`).
    pub(crate) point_locs: Vec<Vec<(String, Loc)>>,
}

/// One sweep point: the values set and the resulting stage declarations.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Swept path -> value at this point (raw, as written in `sweep`); empty without a sweep.
    pub point: BTreeMap<String, Value>,
    /// Stage declarations in declaration order, variables substituted.
    pub stages: Vec<StageDecl>,
    /// The search trial this instance runs (its searched values are in `point`).
    pub trial: Option<TrialRef>,
}

/// Trial `index` of the search of grid group `group` (see [`Spec::search_groups`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrialRef {
    pub group: usize,
    pub index: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StageDecl {
    pub name: String,
    pub kind: String,
    /// Input slot -> name of the producing stage (checked to exist, acyclic).
    pub inputs: BTreeMap<String, String>,
    pub params: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ReportDecl {
    Template {
        template: String,
        output: String,
        options: Map<String, Value>,
    },
    Figure {
        figure: String,
        stages: Vec<String>,
        output: String,
        options: Map<String, Value>,
    },
}

impl ReportDecl {
    /// The `output` path of either variant.
    pub fn output(&self) -> &str {
        match self {
            ReportDecl::Template { output, .. } | ReportDecl::Figure { output, .. } => output,
        }
    }
}

impl Spec {
    /// An error located at `field` (dotted path in the merged document, e.g.
    /// `stages.ml_measure.params.z_star`): at the value when it is a scalar, at its key when it is
    /// a map or list; falls back to the nearest existing parent path. The error names `field`.
    pub fn error_at(
        &self,
        field: &str,
        message: impl Into<String>,
        suggestion: Option<String>,
    ) -> SpecError {
        self.sources
            .error(self.locate(field, false), field, message, suggestion)
    }

    /// Like [`Spec::error_at`] but always at the key where `field` was written.
    pub fn error_at_key(
        &self,
        field: &str,
        message: impl Into<String>,
        suggestion: Option<String>,
    ) -> SpecError {
        self.sources
            .error(self.locate(field, true), field, message, suggestion)
    }

    /// Like [`Spec::error_at`] for a field of instance `instance`: when `field` is (under) a path
    /// swept at that point, the location is the sweep entry of the value it took.
    pub fn error_at_instance(
        &self,
        instance: usize,
        field: &str,
        message: impl Into<String>,
        suggestion: Option<String>,
    ) -> SpecError {
        let swept = self.point_locs.get(instance).and_then(|locs| {
            locs.iter()
                .find(|(p, _)| {
                    field == p
                        || field
                            .strip_prefix(p.as_str())
                            .is_some_and(|r| r.starts_with('.'))
                })
                .map(|&(_, loc)| loc)
        });
        match swept {
            Some(loc) => self.sources.error(loc, field, message, suggestion),
            None => self.error_at(field, message, suggestion),
        }
    }

    /// The files this spec read: itself first, then the files it extends, depth first (each once).
    pub fn files(&self) -> &[PathBuf] {
        self.sources.files()
    }

    /// `(file, line, col)` where `field` was written (same rules as [`Spec::error_at`]).
    pub fn location(&self, field: &str) -> (PathBuf, usize, usize) {
        let loc = self.locate(field, false);
        (
            self.sources.file(loc.src),
            loc.line as usize,
            loc.col as usize,
        )
    }

    fn locate(&self, field: &str, key: bool) -> Loc {
        let segs = split(field);
        let (matched, node, key_loc) = self.doc.walk(&segs);
        let scalar = !matches!(node.kind, Kind::Map(_) | Kind::Seq(_));
        if matched == segs.len() && scalar && !key {
            node.loc
        } else {
            key_loc.unwrap_or(node.loc)
        }
    }

    /// The spec file path (same as `self.path`).
    pub fn file(&self) -> &Path {
        &self.path
    }
}

//! Spec → plan: kind and param validation, slot binding and inference, keys, dedup.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::Value;

use mosx_spec::{Spec, SpecError, StageDecl};

use super::fingerprint::{file_hash, Parts};
use super::{Node, Plan};
use crate::stages::{KindRef, Registry, StageError};
use mosx_stage::Project;

/// Compile `spec` run from the working directory (its [`Project`] resolved there).
pub fn compile(spec: Spec, registry: &Registry) -> Result<Plan, SpecError> {
    let project = Project::resolve(&spec.path);
    compile_in(spec, registry, project)
}

/// Compile `spec` for `project` (resolved once by the caller, e.g. to check the reports'
/// templates in the same folder the stages will read).
pub fn compile_in(spec: Spec, registry: &Registry, project: Project) -> Result<Plan, SpecError> {
    let mut b = Builder {
        spec: &spec,
        registry,
        project: &project,
        graph: DiGraph::new(),
        by_key: HashMap::new(),
        by_decl: BTreeMap::new(),
        normalized: HashMap::new(),
    };
    for (ix, inst) in spec.instances.iter().enumerate() {
        b.add_instance(ix, &inst.stages)?;
    }
    let (mut graph, by_decl) = (b.graph, b.by_decl);
    name_nodes(&spec, &mut graph);
    let order = petgraph::algo::toposort(&graph, None).map_err(|c| {
        spec.error_at(
            &format!("stages.{}.inputs", graph[c.node_id()].base),
            "cycle among stages",
            None,
        )
    })?;
    let plan = Plan {
        spec,
        graph,
        order,
        by_decl,
        project,
    };
    super::validate::check(&plan, registry)?;
    Ok(plan)
}

/// The plan under construction: nodes deduplicated by key across the spec's instances.
struct Builder<'s> {
    spec: &'s Spec,
    registry: &'s Registry,
    project: &'s Project,
    graph: DiGraph<Node, String>,
    by_key: HashMap<String, NodeIndex>,
    by_decl: BTreeMap<(usize, String), NodeIndex>,
    /// Normalisation and file hashing depend only on (kind, params): memoised across points.
    normalized: HashMap<(String, String), (Value, BTreeMap<String, String>)>,
}

impl Builder<'_> {
    /// Add the stages of instance `ix` (one sweep point), inputs first.
    fn add_instance(&mut self, ix: usize, stages: &[StageDecl]) -> Result<(), SpecError> {
        let spec = self.spec;
        let decls: BTreeMap<&str, &StageDecl> =
            stages.iter().map(|d| (d.name.as_str(), d)).collect();
        // Kinds first: an unknown kind is reported before any parameter or file.
        for d in stages {
            self.kind_of(d)?;
        }
        let order = decl_order(spec, stages, &decls)?;
        let mut node_of: BTreeMap<&str, NodeIndex> = BTreeMap::new();
        for name in order {
            let d = decls[name];
            let node = self.add_stage(ix, d, &decls, &node_of)?;
            if self.graph[node].points.last() != Some(&ix) {
                self.graph[node].points.push(ix);
            }
            node_of.insert(name, node);
            self.by_decl.insert((ix, d.name.clone()), node);
        }
        Ok(())
    }

    /// The kind a declaration names; an unknown one is an error at its `kind`.
    fn kind_of(&self, d: &StageDecl) -> Result<KindRef, SpecError> {
        self.registry.get(&d.kind).cloned().ok_or_else(|| {
            self.spec.error_at(
                &format!("stages.{}.kind", d.name),
                format!("unknown stage kind `{}`", d.kind),
                mosx_spec::suggest(&d.kind, self.registry.names()),
            )
        })
    }

    /// The node of declaration `d` of instance `ix`: an existing one of the same key, or new.
    fn add_stage(
        &mut self,
        ix: usize,
        d: &StageDecl,
        decls: &BTreeMap<&str, &StageDecl>,
        node_of: &BTreeMap<&str, NodeIndex>,
    ) -> Result<NodeIndex, SpecError> {
        let spec = self.spec;
        let kind = self.kind_of(d)?;
        let (params, files) = self.normalize(ix, d, &kind)?;
        let inputs = bind_slots(spec, d, kind.slots(), decls, node_of, &self.graph)?;
        let code = super::code::CODE
            .code_of(&*kind, &params)
            .map_err(|e| spec.error_at(&format!("stages.{}.kind", d.name), e.to_string(), None))?;
        let parts = Parts {
            kind: kind.name().to_string(),
            code_version: kind.code_version(),
            code,
            params: kind.key_params(&params),
            inputs: inputs
                .iter()
                .map(|(s, n)| (s.clone(), self.graph[*n].key.clone()))
                .collect(),
            files,
        };
        let key = parts.key();
        if let Some(n) = self.by_key.get(&key) {
            return Ok(*n);
        }
        let n = self.graph.add_node(Node {
            name: d.name.clone(),
            base: d.name.clone(),
            kind,
            params,
            inputs: inputs.clone(),
            parts,
            key: key.clone(),
            points: Vec::new(),
        });
        for (slot, up) in &inputs {
            self.graph.add_edge(*up, n, slot.clone());
        }
        self.by_key.insert(key, n);
        Ok(n)
    }

    /// The normalised params of `d` and the content hashes of its key files (memoised).
    fn normalize(
        &mut self,
        ix: usize,
        d: &StageDecl,
        kind: &KindRef,
    ) -> Result<(Value, BTreeMap<String, String>), SpecError> {
        let spec = self.spec;
        let memo_key = (
            d.kind.clone(),
            serde_json::to_string(&d.params).unwrap_or_default(),
        );
        if let Some(x) = self.normalized.get(&memo_key) {
            return Ok(x.clone());
        }
        let params = kind.normalize(&d.params).map_err(|e| {
            let field = if e.field.is_empty() {
                format!("stages.{}.params", d.name)
            } else {
                format!("stages.{}.params.{}", d.name, e.field)
            };
            spec.error_at_instance(ix, &field, e.message, e.suggestion)
        })?;
        let files = hash_files(spec, ix, d, kind.external_files(&params, self.project))?;
        self.normalized
            .insert(memo_key, (params.clone(), files.clone()));
        Ok((params, files))
    }
}

/// Stage names of one instance in an order where inputs come first.
fn decl_order<'a>(
    spec: &Spec,
    stages: &'a [StageDecl],
    decls: &BTreeMap<&'a str, &'a StageDecl>,
) -> Result<Vec<&'a str>, SpecError> {
    let mut g: DiGraph<&str, ()> = DiGraph::new();
    let idx: BTreeMap<&str, NodeIndex> = stages
        .iter()
        .map(|d| (d.name.as_str(), g.add_node(d.name.as_str())))
        .collect();
    for d in stages {
        for (slot, up) in &d.inputs {
            let Some(u) = idx.get(up.as_str()) else {
                return Err(spec.error_at(
                    &format!("stages.{}.inputs.{slot}", d.name),
                    format!("missing input: no stage `{up}`"),
                    mosx_spec::suggest(up, decls.keys().copied()),
                ));
            };
            g.add_edge(*u, idx[d.name.as_str()], ());
        }
    }
    petgraph::algo::toposort(&g, None)
        .map(|o| o.into_iter().map(|i| g[i]).collect())
        .map_err(|c| {
            spec.error_at(
                &format!("stages.{}.inputs", g[c.node_id()]),
                "cycle among stages",
                None,
            )
        })
}

/// The content hashes of a stage's key files; an error about one parameter (a prompt
/// template that does not load) is located at it, any other at the stage's params.
fn hash_files(
    spec: &Spec,
    ix: usize,
    d: &StageDecl,
    files: Result<Vec<crate::stages::ExternalFile>, StageError>,
) -> Result<BTreeMap<String, String>, SpecError> {
    let files = files.map_err(|e| match e {
        StageError::Param { field, message, .. } => spec.error_at_instance(
            ix,
            &format!("stages.{}.params.{field}", d.name),
            message,
            None,
        ),
        other => spec.error_at_instance(
            ix,
            &format!("stages.{}.params", d.name),
            other.to_string(),
            None,
        ),
    })?;
    let mut out = BTreeMap::new();
    for f in files {
        let h = file_hash(&f.path).map_err(|e| {
            spec.error_at(
                &format!("stages.{}.params", d.name),
                format!("{}: {e}", f.path.display()),
                None,
            )
        })?;
        out.insert(f.name, h);
    }
    Ok(out)
}

/// Bind declared inputs to nodes, check producer kinds, infer inferable slots.
fn bind_slots(
    spec: &Spec,
    d: &StageDecl,
    slots: &[crate::stages::Slot],
    decls: &BTreeMap<&str, &StageDecl>,
    node_of: &BTreeMap<&str, NodeIndex>,
    graph: &DiGraph<Node, String>,
) -> Result<BTreeMap<String, NodeIndex>, SpecError> {
    let mut out = BTreeMap::new();
    for (slot, up) in &d.inputs {
        let Some(s) = slots.iter().find(|s| s.name == slot) else {
            return Err(spec.error_at(
                &format!("stages.{}.inputs.{slot}", d.name),
                format!("stage kind `{}` has no input `{slot}`", d.kind),
                mosx_spec::suggest(slot, slots.iter().map(|s| s.name)),
            ));
        };
        let up_kind = &decls[up.as_str()].kind;
        if !s.producers.contains(&up_kind.as_str()) {
            return Err(spec.error_at(
                &format!("stages.{}.inputs.{slot}", d.name),
                format!(
                    "input `{slot}` takes a `{}` stage; `{up}` is a `{up_kind}` stage",
                    s.producers.join("` or `")
                ),
                None,
            ));
        }
        out.insert(slot.clone(), node_of[up.as_str()]);
    }
    for s in slots {
        if out.contains_key(s.name) {
            continue;
        }
        let found = if s.inferable {
            infer(&out, s.producers, graph)
        } else {
            Vec::new()
        };
        match found.as_slice() {
            [one] => {
                out.insert(s.name.to_string(), *one);
            }
            [] if s.optional => {}
            [] => {
                return Err(spec.error_at(
                    &format!("stages.{}.inputs", d.name),
                    format!(
                        "missing input `{}` (a `{}` stage)",
                        s.name,
                        s.producers.join("` or `")
                    ),
                    None,
                ))
            }
            _ => {
                return Err(spec.error_at(
                    &format!("stages.{}.inputs", d.name),
                    format!(
                        "input `{}` is ambiguous: several `{}` ancestors; name one",
                        s.name,
                        s.producers.join("`/`")
                    ),
                    None,
                ))
            }
        }
    }
    Ok(out)
}

/// Ancestors (through already bound inputs) whose kind is one of `producers`.
fn infer(
    bound: &BTreeMap<String, NodeIndex>,
    producers: &[&str],
    graph: &DiGraph<Node, String>,
) -> Vec<NodeIndex> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<NodeIndex> = bound.values().copied().collect();
    let mut found = Vec::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        if producers.contains(&graph[n].kind.name()) {
            found.push(n);
            continue;
        }
        stack.extend(graph[n].inputs.values().copied());
    }
    found.sort();
    found.dedup();
    found
}

/// Give every node a unique name: its spec name plus the sweep values that pin it.
fn name_nodes(spec: &Spec, graph: &mut DiGraph<Node, String>) {
    if spec.sweep_paths.is_empty() {
        return;
    }
    let short: Vec<String> = spec
        .sweep_paths
        .iter()
        .map(|p| {
            let last = p.rsplit('.').next().unwrap_or(p).to_string();
            let clash = spec
                .sweep_paths
                .iter()
                .filter(|q| q.rsplit('.').next() == Some(last.as_str()))
                .count()
                > 1;
            if clash {
                p.clone()
            } else {
                last
            }
        })
        .collect();
    // Each point's value of each swept path, rendered once; and which paths vary at all.
    let values: Vec<Vec<String>> = spec
        .instances
        .iter()
        .map(|inst| {
            spec.sweep_paths
                .iter()
                .map(|p| {
                    let v = inst.point.get(p).map(|v| v.to_string()).unwrap_or_default();
                    mosx_spec::printable(&v).into_owned()
                })
                .collect()
        })
        .collect();
    let varies: Vec<bool> = (0..spec.sweep_paths.len())
        .map(|j| values.iter().any(|v| v[j] != values[0][j]))
        .collect();
    let mut used: HashMap<String, usize> = HashMap::new();
    for i in graph.node_indices().collect::<Vec<_>>() {
        let node = &graph[i];
        let mut label = Vec::new();
        for (j, s) in short.iter().enumerate() {
            if !varies[j] {
                continue;
            }
            let mut pts = node.points.iter().filter_map(|ix| values.get(*ix));
            let Some(first) = pts.next() else { continue };
            if pts.all(|v| v[j] == first[j]) {
                label.push(format!("{s}={}", first[j]));
            }
        }
        let mut name = if label.is_empty() {
            node.base.clone()
        } else {
            format!("{}[{}]", node.base, label.join(","))
        };
        let n = used.entry(name.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            name = format!("{name}#{}", &node.key[..8]);
        }
        graph[i].name = name;
    }
}

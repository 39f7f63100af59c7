//! A plan that extends another one (a search's next trials): the same stages at the same node
//! indices, new stages after them, so a run already under way can take it over.
//!
//! Invariants:
//! * [`Plan::extending`] succeeds only when every stage of the earlier plan (by key) is in
//!   the later one; then node `i < prev.graph.node_count()` has the key node `i` had, and the
//!   same inputs (same slots, same keys); new stages follow in the later plan's index order.
//! * The graph's edges, each node's inputs, the topological order and `by_decl` are
//!   renumbered together; the spec, names and points are the later plan's.

use std::collections::HashMap;

use petgraph::graph::{DiGraph, NodeIndex};

use super::{Node, Plan};

/// Why a plan does not extend another one.
#[derive(Debug, thiserror::Error)]
#[error("stage {name} of the running plan is not in the new one")]
pub struct NotExtending {
    pub name: String,
}

impl Plan {
    /// `self` renumbered so that it extends `prev` (see the module invariants).
    pub fn extending(self, prev: &Plan) -> Result<Plan, NotExtending> {
        let by_key: HashMap<&str, NodeIndex> = self
            .graph
            .node_indices()
            .map(|i| (self.graph[i].key.as_str(), i))
            .collect();
        // new_of[old index in self] = index in the result.
        let mut new_of: Vec<Option<NodeIndex>> = vec![None; self.graph.node_count()];
        for p in prev.graph.node_indices() {
            let q = by_key
                .get(prev.graph[p].key.as_str())
                .ok_or_else(|| NotExtending {
                    name: prev.graph[p].name.clone(),
                })?;
            new_of[q.index()] = Some(p);
        }
        let unplaced = new_of.iter_mut().filter(|s| s.is_none());
        for (next, slot) in (prev.graph.node_count()..).zip(unplaced) {
            *slot = Some(NodeIndex::new(next));
        }
        let new_of: Vec<NodeIndex> = new_of.into_iter().flatten().collect();
        let Plan {
            spec,
            graph,
            order,
            by_decl,
            project,
        } = self;
        Ok(Plan {
            spec,
            graph: renumber(graph, &new_of),
            order: order.into_iter().map(|i| new_of[i.index()]).collect(),
            by_decl: by_decl
                .into_iter()
                .map(|(k, i)| (k, new_of[i.index()]))
                .collect(),
            project,
        })
    }
}

/// `graph` with node `i` moved to `new_of[i]` (a permutation), inputs and edges following.
fn renumber(graph: DiGraph<Node, String>, new_of: &[NodeIndex]) -> DiGraph<Node, String> {
    let (nodes, edges) = graph.into_nodes_edges();
    let mut placed: Vec<Option<Node>> = (0..nodes.len()).map(|_| None).collect();
    for (i, n) in nodes.into_iter().enumerate() {
        let mut node = n.weight;
        for input in node.inputs.values_mut() {
            *input = new_of[input.index()];
        }
        placed[new_of[i].index()] = Some(node);
    }
    let mut out = DiGraph::with_capacity(placed.len(), edges.len());
    for node in placed.into_iter().flatten() {
        out.add_node(node);
    }
    for e in edges {
        out.add_edge(
            new_of[e.source().index()],
            new_of[e.target().index()],
            e.weight,
        );
    }
    out
}

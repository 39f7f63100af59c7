//! `mosx dag`: the plan as text, Graphviz dot or Mermaid.

use std::fmt::Write;

use petgraph::visit::EdgeRef;

use super::Plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Dot,
    Mermaid,
}

pub fn render(plan: &Plan, format: Format) -> String {
    match format {
        Format::Text => text(plan),
        Format::Dot => dot(plan),
        Format::Mermaid => mermaid(plan),
    }
}

/// One line per stage in plan order: key, kind, name and its inputs.
fn text(plan: &Plan) -> String {
    let mut s = String::new();
    let g = &plan.graph;
    for i in &plan.order {
        let n = &g[*i];
        let ins: Vec<String> = n
            .inputs
            .iter()
            .map(|(slot, up)| format!("{slot}={}", g[*up].name))
            .collect();
        let _ = writeln!(
            s,
            "{}  {:<8} {}  {}",
            &n.key[..12],
            n.kind.name(),
            n.name,
            if ins.is_empty() {
                String::new()
            } else {
                format!("← {}", ins.join(", "))
            }
        );
    }
    s
}

/// A Graphviz digraph: a box per stage, an edge per input labelled with its slot.
fn dot(plan: &Plan) -> String {
    let mut s = String::new();
    let g = &plan.graph;
    let _ = writeln!(
        s,
        "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];",
        plan.spec.name
    );
    for i in &plan.order {
        let n = &g[*i];
        let _ = writeln!(
            s,
            "  n{} [label=\"{}\\n{} {}\"];",
            i.index(),
            esc(&n.name),
            n.kind.name(),
            &n.key[..8]
        );
    }
    for e in g.edge_references() {
        let _ = writeln!(
            s,
            "  n{} -> n{} [label=\"{}\"];",
            e.source().index(),
            e.target().index(),
            esc(e.weight())
        );
    }
    s.push_str("}\n");
    s
}

/// A Mermaid flowchart: a node per stage, an edge per input labelled with its slot.
fn mermaid(plan: &Plan) -> String {
    let mut s = String::new();
    let g = &plan.graph;
    s.push_str("flowchart LR\n");
    for i in &plan.order {
        let n = &g[*i];
        let _ = writeln!(
            s,
            "  n{}[\"{}<br/>{}\"]",
            i.index(),
            esc(&n.name),
            n.kind.name()
        );
    }
    for e in g.edge_references() {
        let _ = writeln!(
            s,
            "  n{} -->|{}| n{}",
            e.source().index(),
            esc(e.weight()),
            e.target().index()
        );
    }
    s
}

fn esc(x: &str) -> String {
    x.replace('"', "'")
}

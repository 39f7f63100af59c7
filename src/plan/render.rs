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
    let mut s = String::new();
    let g = &plan.graph;
    match format {
        Format::Text => {
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
        }
        Format::Dot => {
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
        }
        Format::Mermaid => {
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
        }
    }
    s
}

fn esc(x: &str) -> String {
    x.replace('"', "'")
}

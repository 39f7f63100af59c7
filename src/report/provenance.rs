//! The provenance footer of every rendered report file: mosx version and commit, spec
//! path and hash, the template's content hash, the backbone and tokenizer content hashes
//! (from the stages' fingerprints), the devices and commits that computed the stages, the
//! seeds, and the date of the newest stage result.
//!
//! Invariant: the footer depends only on the plan, the store and the template bytes, never
//! on the wall clock, so re-rendering from the cache gives the same bytes (the date is that
//! of the results, not of the rendering).

use std::collections::BTreeSet;
use std::path::Path;

use mosx_store::{StageRecord, Store};
use serde_json::Value;

use super::ReportError;
use crate::plan::{Node, Plan};

/// `YYYY-MM-DD` (UTC) of a Unix time in seconds.
pub fn utc_date(secs: f64) -> String {
    let days = (secs / 86_400.0).floor() as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}

/// The provenance lines (plain text, one fact per line).
pub fn lines(
    plan: &Plan,
    store: &dyn Store,
    template: Option<(&Path, &str)>,
) -> Result<Vec<String>, ReportError> {
    let mut out = vec![
        format!(
            "rendered by mosx {} ({})",
            crate::provenance::VERSION,
            this_commit()
        ),
        format!(
            "spec {} (blake3 {})",
            plan.spec.path.display(),
            plan.spec.hash
        ),
    ];
    if let Some((dir, name)) = template {
        out.push(template_line(dir, name));
    }
    let mut facts = StageFacts::new();
    for i in &plan.order {
        let n = &plan.graph[*i];
        facts.add(n, store.record(&n.key)?.as_ref());
    }
    push_list(
        &mut out,
        "backbone and tokenizer files (blake3, first 16 hex)",
        facts.models,
    );
    push_list(&mut out, "device stages ran on", facts.devices);
    push_list(&mut out, "backbone dtype of device stages", facts.dtypes);
    push_list(&mut out, "stages computed by mosx commit(s)", facts.commits);
    out.push(seeds_line(plan, facts.seeds));
    if facts.latest.is_finite() {
        out.push(format!(
            "results computed up to {} (UTC; newest stage result)",
            utc_date(facts.latest)
        ));
    }
    out.push("trace a number: `mosx ls`, then `mosx show KEY` (params, inputs, provenance) and `mosx export KEY`".into());
    Ok(out)
}

/// `commit <12 hex>[ (dirty tree)]` of this mosx, or `commit unknown`.
fn this_commit() -> String {
    crate::provenance::git_commit()
        .map(|c| {
            format!(
                "commit {}{}",
                &c[..12.min(c.len())],
                if crate::provenance::git_dirty() {
                    " (dirty tree)"
                } else {
                    ""
                }
            )
        })
        .unwrap_or_else(|| "commit unknown".into())
}

/// `template NAME (blake3 HASH)` of the template file `dir/name` (`unreadable` if it is).
fn template_line(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    let hash = std::fs::read(&path)
        .map(|b| blake3::hash(&b).to_hex().to_string())
        .unwrap_or_else(|_| "unreadable".into());
    format!("template {name} (blake3 {hash})")
}

/// `LABEL: a, b, c`, unless `items` is empty.
fn push_list(out: &mut Vec<String>, label: &str, items: BTreeSet<String>) {
    if !items.is_empty() {
        out.push(format!(
            "{label}: {}",
            items.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
}

/// What the plan's stages and their stored rows tell about how the results were made.
struct StageFacts {
    /// `model/…` files of the fingerprints, with their first 16 hex.
    models: BTreeSet<String>,
    /// Devices the device stages ran on.
    devices: BTreeSet<String>,
    /// The backbone dtypes (`f32`, `bf16`) the device stages ask for.
    dtypes: BTreeSet<String>,
    /// mosx commits (`+dirty`) that computed the stages.
    commits: BTreeSet<String>,
    /// `finished_at` of the newest stored stage (NaN when none is stored).
    latest: f64,
    /// The stages' own seeds.
    seeds: BTreeSet<i64>,
}

impl StageFacts {
    fn new() -> StageFacts {
        StageFacts {
            models: BTreeSet::new(),
            devices: BTreeSet::new(),
            dtypes: BTreeSet::new(),
            commits: BTreeSet::new(),
            latest: f64::NAN,
            seeds: BTreeSet::new(),
        }
    }

    /// Adds stage `n` and its stored row, if it has one.
    fn add(&mut self, n: &Node, record: Option<&StageRecord>) {
        for (f, h) in &n.parts.files {
            if f.starts_with("model/") {
                self.models.insert(format!("{f} {}", &h[..16.min(h.len())]));
            }
        }
        if let Some(s) = n.seed() {
            self.seeds.insert(s);
        }
        if n.kind.resource(&n.params) == crate::stages::Resource::Device {
            if let Some(d) = n.params.get("dtype").and_then(|d| d.as_str()) {
                self.dtypes.insert(d.to_string());
            }
        }
        if let Some(r) = record {
            if n.kind.resource(&n.params) == crate::stages::Resource::Device {
                self.devices.insert(r.device.clone());
            }
            if let Some(c) = &r.git_commit {
                self.commits.insert(format!(
                    "{}{}",
                    &c[..12.min(c.len())],
                    if r.git_dirty { "+dirty" } else { "" }
                ));
            }
            if !(self.latest >= r.finished_at) {
                self.latest = r.finished_at;
            }
        }
    }
}

/// `seeds: …`: the sweep's `vars.seed` values if it has any, else the stages' own seeds.
fn seeds_line(plan: &Plan, stage_seeds: BTreeSet<i64>) -> String {
    let sweep_seeds: BTreeSet<String> = plan
        .spec
        .instances
        .iter()
        .filter_map(|i| i.point.get("vars.seed").map(Value::to_string))
        .collect();
    let seeds: Vec<String> = if sweep_seeds.is_empty() {
        stage_seeds.into_iter().map(|s| s.to_string()).collect()
    } else {
        sweep_seeds.into_iter().collect()
    };
    format!(
        "seeds: {}",
        if seeds.is_empty() {
            "-".into()
        } else {
            seeds.join(", ")
        }
    )
}

/// The footer appended to a Markdown report.
pub fn markdown_footer(lines: &[String]) -> String {
    let mut s = String::from("\n---\n\n**Provenance**\n\n");
    for l in lines {
        s.push_str("- ");
        s.push_str(l);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::utc_date;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc_date(0.0), "1970-01-01");
        // date -u -d @1796000000 +%F -> 2026-11-30
        assert_eq!(utc_date(1_796_000_000.0), "2026-11-30");
        assert_eq!(utc_date(951_782_400.0), "2000-02-29");
    }
}

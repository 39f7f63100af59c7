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

use mosx_store::Store;
use serde_json::Value;

use super::ReportError;
use crate::plan::Plan;

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
    let mut out = Vec::new();
    let commit = crate::provenance::git_commit()
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
        .unwrap_or_else(|| "commit unknown".into());
    out.push(format!(
        "rendered by mosx {} ({commit})",
        crate::provenance::VERSION
    ));
    out.push(format!(
        "spec {} (blake3 {})",
        plan.spec.path.display(),
        plan.spec.hash
    ));
    if let Some((dir, name)) = template {
        let path = dir.join(name);
        let hash = std::fs::read(&path)
            .map(|b| blake3::hash(&b).to_hex().to_string())
            .unwrap_or_else(|_| "unreadable".into());
        out.push(format!("template {name} (blake3 {hash})"));
    }
    let mut models = BTreeSet::new();
    let mut devices = BTreeSet::new();
    let mut commits = BTreeSet::new();
    let mut latest = f64::NAN;
    let mut seeds = BTreeSet::new();
    for i in &plan.order {
        let n = &plan.graph[*i];
        for (f, h) in &n.parts.files {
            if f.starts_with("model/") {
                models.insert(format!("{f} {}", &h[..16.min(h.len())]));
            }
        }
        if let Some(s) = n.seed() {
            seeds.insert(s);
        }
        if let Some(r) = store.record(&n.key)? {
            if n.kind.resource(&n.params) == crate::stages::Resource::Device {
                devices.insert(r.device.clone());
            }
            if let Some(c) = &r.git_commit {
                commits.insert(format!(
                    "{}{}",
                    &c[..12.min(c.len())],
                    if r.git_dirty { "+dirty" } else { "" }
                ));
            }
            if !(latest >= r.finished_at) {
                latest = r.finished_at;
            }
        }
    }
    if !models.is_empty() {
        out.push(format!(
            "backbone and tokenizer files (blake3, first 16 hex): {}",
            models.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !devices.is_empty() {
        out.push(format!(
            "device stages ran on: {}",
            devices.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !commits.is_empty() {
        out.push(format!(
            "stages computed by mosx commit(s): {}",
            commits.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let sweep_seeds: BTreeSet<String> = plan
        .spec
        .instances
        .iter()
        .filter_map(|i| i.point.get("vars.seed").map(Value::to_string))
        .collect();
    let seeds: Vec<String> = if sweep_seeds.is_empty() {
        seeds.into_iter().map(|s| s.to_string()).collect()
    } else {
        sweep_seeds.into_iter().collect()
    };
    out.push(format!(
        "seeds: {}",
        if seeds.is_empty() {
            "-".into()
        } else {
            seeds.join(", ")
        }
    ));
    if latest.is_finite() {
        out.push(format!(
            "results computed up to {} (UTC; newest stage result)",
            utc_date(latest)
        ));
    }
    out.push("trace a number: `mosx ls`, then `mosx show KEY` (params, inputs, provenance) and `mosx export KEY`".into());
    Ok(out)
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

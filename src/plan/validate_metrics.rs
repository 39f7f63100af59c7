//! `STAGE.METRIC` references checked at plan time: the spec's `claims:`, each report
//! entry's `options.comparisons` (`a`, `b`) and a search's `sweep.objective` name a stage of the spec and a metric its kind
//! writes ([`crate::stages::StageKind::metrics`]), so a claim on a metric nothing produces
//! is refused (exit 2) instead of rendering "inconclusive".
//!
//! Invariants: a pattern matches a name of as many `.`-separated segments, `{group}`
//! matching a user group of the stage's dataset (any segment when the groups are unknown),
//! `{epoch}` an epoch index below the largest `epochs` of the stage's nodes and `{expert}`
//! an expert `e<k>` (MoS routing tables; any k); the error
//! is at the claim's `test` (or the comparison's `a`/`b`), lists the kind's metrics, and
//! suggests the closest one (`mosx_spec::suggest`).

use mosx_stage::kind::metric_matches as matches;
use petgraph::graph::NodeIndex;
use serde_json::Value;

use mosx_spec::{ReportDecl, SpecError};

use super::validate::Groups;
use super::Plan;

/// Every claim's two sides.
pub fn claims(plan: &Plan, groups: &mut Groups) -> Result<(), SpecError> {
    for (i, c) in plan.spec.claims.iter().enumerate() {
        let field = format!("claims.{i}.test");
        for side in [&c.left, &c.right] {
            check(plan, groups, &side.stage, &side.metric)
                .map_err(|(m, s)| plan.spec.error_at(&field, m, s))?;
        }
    }
    Ok(())
}

/// A search's `sweep.objective` (its stage and metric), the error at `sweep.objective.metric`.
pub fn objective(plan: &Plan, groups: &mut Groups) -> Result<(), SpecError> {
    let Some(decl) = &plan.spec.search else {
        return Ok(());
    };
    let o = &decl.objective;
    check(plan, groups, &o.stage, &o.metric)
        .map_err(|(m, s)| plan.spec.error_at("sweep.objective.metric", m, s))
}

/// Every `options.comparisons[k].a` / `.b` of a report entry that is a string.
pub fn comparisons(plan: &Plan, groups: &mut Groups) -> Result<(), SpecError> {
    for (r, decl) in plan.spec.report.iter().enumerate() {
        let options = match decl {
            ReportDecl::Template { options, .. } | ReportDecl::Figure { options, .. } => options,
        };
        let Some(list) = options.get("comparisons").and_then(Value::as_array) else {
            continue;
        };
        for (k, c) in list.iter().enumerate() {
            for side in ["a", "b"] {
                let Some(text) = c.get(side).and_then(Value::as_str) else {
                    continue;
                };
                let field = format!("report.{r}.options.comparisons.{k}.{side}");
                let Some((stage, metric)) = text.split_once('.') else {
                    let msg = format!("`{}` is not STAGE.METRIC", mosx_spec::printable(text));
                    return Err(plan.spec.error_at(&field, msg, None));
                };
                check(plan, groups, stage, metric)
                    .map_err(|(m, s)| plan.spec.error_at(&field, m, s))?;
            }
        }
    }
    Ok(())
}

/// Whether spec stage `stage` exists and its kind writes `metric`; else the message and a
/// suggestion.
fn check(
    plan: &Plan,
    groups: &mut Groups,
    stage: &str,
    metric: &str,
) -> Result<(), (String, Option<String>)> {
    let nodes = plan.all_of(stage);
    let Some(&first) = nodes.first() else {
        let names: Vec<&str> = plan.by_decl.keys().map(|(_, n)| n.as_str()).collect();
        return Err((
            format!("no stage `{}` in the spec", mosx_spec::printable(stage)),
            mosx_spec::suggest(stage, names),
        ));
    };
    let kind = plan.graph[first].kind.clone();
    let known = groups.of(plan, first).map(|(_, g)| g);
    let epochs = max_epochs(plan, &nodes);
    let patterns = kind.metrics();
    if patterns
        .iter()
        .any(|p| matches(p, metric, known.as_deref(), epochs))
    {
        return Ok(());
    }
    let names: Vec<String> = patterns
        .iter()
        .flat_map(|p| expand(p, known.as_deref(), epochs))
        .collect();
    let shown: Vec<String> = patterns
        .iter()
        .flat_map(|p| expand(p, known.as_deref(), None))
        .collect();
    let epoch_note = match epochs {
        Some(m) if patterns.iter().any(|p| p.contains("{epoch}")) => {
            format!(" (<epoch> below {m})")
        }
        _ => String::new(),
    };
    Err((
        format!(
            "stage `{stage}` (a `{}` stage) writes no metric `{}`; it writes {}{epoch_note}",
            kind.name(),
            mosx_spec::printable(metric),
            shown.join(", ")
        ),
        mosx_spec::suggest(metric, names.iter().map(String::as_str)),
    ))
}

/// The largest `epochs` parameter of `nodes` (None when they have none).
fn max_epochs(plan: &Plan, nodes: &[NodeIndex]) -> Option<usize> {
    nodes
        .iter()
        .filter_map(|i| plan.graph[*i].params.get("epochs").and_then(Value::as_u64))
        .map(|e| e as usize)
        .max()
}

/// The names `pattern` stands for: groups substituted (`<group>` when unknown), epochs
/// `0..epochs` (`<epoch>` when `None`), a ranking cut-off as `<k>`.
fn expand(pattern: &str, groups: Option<&[String]>, epochs: Option<usize>) -> Vec<String> {
    let mut out = vec![String::new()];
    for (k, seg) in pattern.split('.').enumerate() {
        let choices: Vec<String> = match seg {
            "{group}" => groups.map_or(vec!["<group>".into()], |g| g.to_vec()),
            "{epoch}" => epochs.map_or(vec!["<epoch>".into()], |m| {
                (0..m).map(|e| e.to_string()).collect()
            }),
            "{expert}" => vec!["e<k>".into()],
            "{k}" => vec!["<k>".into()],
            lit => vec![lit.to_string()],
        };
        out = out
            .iter()
            .flat_map(|prefix| {
                choices.iter().map(move |c| {
                    if k == 0 {
                        c.clone()
                    } else {
                        format!("{prefix}.{c}")
                    }
                })
            })
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g() -> Vec<String> {
        vec!["male".into(), "female".into()]
    }

    #[test]
    fn patterns_match_groups_and_epochs_of_the_stage() {
        let g = g();
        assert!(matches(
            "F.{group}.{group}",
            "F.male.female",
            Some(&g),
            None
        ));
        assert!(!matches(
            "F.{group}.{group}",
            "F.male.adult",
            Some(&g),
            None
        ));
        assert!(matches("F.{group}.{group}", "F.male.adult", None, None));
        assert!(!matches("F.{group}.{group}", "F.male", Some(&g), None));
        assert!(matches(
            "epoch.{epoch}.valid_auc",
            "epoch.2.valid_auc",
            None,
            Some(3)
        ));
        assert!(!matches(
            "epoch.{epoch}.valid_auc",
            "epoch.3.valid_auc",
            None,
            Some(3)
        ));
        assert!(!matches(
            "epoch.{epoch}.valid_auc",
            "epoch.x.valid_auc",
            None,
            None
        ));
        assert!(matches(
            "routing.valid.{group}.{expert}",
            "routing.valid.male.e2",
            Some(&g),
            None
        ));
        for bad in [
            "routing.valid.male.2",
            "routing.valid.male.ex",
            "routing.valid.male.e",
        ] {
            assert!(
                !matches("routing.valid.{group}.{expert}", bad, Some(&g), None),
                "{bad}"
            );
        }
        assert!(matches("auc", "auc", None, None));
        assert!(!matches("auc", "AUC", None, None));
    }

    #[test]
    fn expansions_list_every_name_a_pattern_stands_for() {
        let g = g();
        assert_eq!(
            expand("F.{group}.{group}", Some(&g), None),
            [
                "F.male.male",
                "F.male.female",
                "F.female.male",
                "F.female.female"
            ]
        );
        assert_eq!(
            expand("epoch.{epoch}.x", None, Some(2)),
            ["epoch.0.x", "epoch.1.x"]
        );
        assert_eq!(expand("users.{group}", None, None), ["users.<group>"]);
    }
}

//! Declared comparisons turned into requests at render time, when a `best_of` side can be
//! resolved against the store.

use super::side::substitute;
use super::{Declared, Entry, Side};
use crate::report::compare::Request;
use crate::report::ReportError;

/// The default label: `<over labels>: <metric> <a> vs <b>` (and the margin when not 0).
pub fn default_label(d: &Declared, a: &str, b: &str) -> String {
    let head = d
        .bound
        .iter()
        .map(|(_, _, l)| l.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let margin = if d.margin != 0.0 {
        format!(" (margin {})", d.margin)
    } else {
        String::new()
    };
    let body = format!("{} {a} vs {b}{margin}", d.metric);
    if head.is_empty() {
        body
    } else {
        format!("{head}: {body}")
    }
}

/// Turns an entry into a request; `pick` resolves a `Best` side to (stage, label, note).
pub fn request(
    e: &Entry,
    mut pick: impl FnMut(&[(String, String)], &str, bool) -> Result<(String, String), ReportError>,
) -> Result<Request, ReportError> {
    match e {
        Entry::Plain {
            label,
            a,
            b,
            margin,
            alternative,
        } => Ok(Request {
            label: label.clone(),
            a: a.clone(),
            b: b.clone(),
            margin: *margin,
            alternative: *alternative,
            level: 0.95,
            note: None,
        }),
        Entry::Declared(d) => {
            let mut notes = Vec::new();
            let mut resolve = |s: &Side| -> Result<(String, String), ReportError> {
                match s {
                    Side::Stage { stage, label } => Ok((stage.clone(), label.clone())),
                    Side::Best {
                        candidates,
                        by,
                        max,
                        label,
                    } => {
                        let (stage, picked) = pick(candidates, by, *max)?;
                        if candidates.len() > 1 {
                            notes.push(format!(
                                "{label}: {picked} has the {} mean {by} over seeds of {} ({}); the pick is not accounted for, so this test is optimistic",
                                if *max { "highest" } else { "lowest" },
                                candidates.len(),
                                candidates.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join(", ")
                            ));
                        }
                        Ok((stage, format!("{label} ({picked})")))
                    }
                }
            };
            let (sa, la) = resolve(&d.a)?;
            let (sb, lb) = resolve(&d.b)?;
            let label = match &d.label {
                Some(l) => {
                    let names = [("a", &la), ("b", &lb), ("metric", &d.metric)]
                        .map(|(n, v)| (n.to_string(), v.clone(), v.clone()));
                    let all: Vec<_> = d.bound.iter().cloned().chain(names).collect();
                    substitute(l, &all, true).unwrap_or_else(|_| l.clone())
                }
                None => default_label(d, &la, &lb),
            };
            Ok(Request {
                label,
                a: format!("{sa}.{}", d.metric),
                b: format!("{sb}.{}", d.metric),
                margin: d.margin,
                alternative: d.alternative,
                level: 0.95,
                note: (!notes.is_empty()).then(|| notes.join("; ")),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::declare::Binding;
    use mosx_stats::Alternative;

    fn bind(pairs: &[(&str, &str, &str)]) -> Vec<Binding> {
        pairs
            .iter()
            .map(|(n, v, l)| (n.to_string(), v.to_string(), l.to_string()))
            .collect()
    }

    #[test]
    fn placeholders_take_values_in_stage_names_and_labels_in_labels() {
        let b = bind(&[
            ("prefix", "ml", "MovieLens-100K"),
            ("setting", "implicit", "implicit"),
        ]);
        assert_eq!(
            substitute("{prefix}_metrics_mos_{setting}", &b, false).unwrap(),
            "ml_metrics_mos_implicit"
        );
        assert_eq!(
            substitute("{prefix}, {setting}", &b, true).unwrap(),
            "MovieLens-100K, implicit"
        );
        let e = substitute("{prefx}_x", &b, false).unwrap_err();
        assert!(
            e.contains("`{prefx}`") && e.contains("bound: prefix, setting"),
            "{e}"
        );
        assert!(substitute("{prefix", &b, false)
            .unwrap_err()
            .contains("unclosed"));
    }

    #[test]
    fn the_default_label_joins_the_bound_labels_and_shows_a_margin() {
        let d = Declared {
            label: None,
            bound: bind(&[("p", "ml", "MovieLens-100K")]),
            a: Side::Stage {
                stage: "x".into(),
                label: "MoS".into(),
            },
            b: Side::Stage {
                stage: "y".into(),
                label: "UP5".into(),
            },
            metric: "auc".into(),
            margin: -2.0,
            alternative: Alternative::Greater,
        };
        assert_eq!(
            default_label(&d, "MoS", "UP5"),
            "MovieLens-100K: auc MoS vs UP5 (margin -2)"
        );
    }
}

//! The sides of a declared comparison: `over` bindings, `{name}` placeholders, and a side
//! (`PATTERN`, `{stage, label}`, `{best_of, by, pick, label}`) expanded under one binding.

use serde_json::Value;

use mosx_spec::SpecError;

use super::{check_keys, known_stage, Binding, Ctx, Side};

/// `{name}` placeholders of `pattern` replaced by `bind` (value, label) — `labels` picks which.
pub(super) fn substitute(pattern: &str, bind: &[Binding], labels: bool) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        let j = tail
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in `{pattern}`"))?;
        let name = &tail[..j];
        let (_, value, label) = bind.iter().find(|(n, _, _)| n == name).ok_or_else(|| {
            let known: Vec<&str> = bind.iter().map(|(n, _, _)| n.as_str()).collect();
            format!(
                "`{{{name}}}` in `{pattern}` is not bound (bound: {})",
                known.join(", ")
            )
        })?;
        out.push_str(if labels { label } else { value });
        rest = &tail[j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The `over` bindings: every combination, first key slowest, as (name, value, label).
pub(super) fn bindings(
    ctx: &Ctx<'_>,
    field: &str,
    over: Option<&Value>,
) -> Result<Vec<Vec<Binding>>, SpecError> {
    let mut combos: Vec<Vec<Binding>> = vec![Vec::new()];
    let Some(over) = over else {
        return Ok(combos);
    };
    let m = over.as_object().ok_or_else(|| {
        ctx.err(
            field,
            format!("expected a map of NAME: [values], found {over}"),
        )
    })?;
    for (name, vals) in m {
        let f = format!("{field}.{name}");
        let vals = vals
            .as_array()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ctx.err(&f, "expected a non-empty list of values".into()))?;
        let mut parsed = Vec::new();
        for (k, v) in vals.iter().enumerate() {
            let scalar = |v: &Value| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            let (value, label) = match v {
                Value::Object(o) => {
                    let value = o.get("value").and_then(scalar).ok_or_else(|| {
                        ctx.err(&format!("{f}.{k}"), "expected {value, label}".into())
                    })?;
                    let label = o
                        .get("label")
                        .and_then(scalar)
                        .unwrap_or_else(|| value.clone());
                    (value, label)
                }
                other => {
                    let s = scalar(other).ok_or_else(|| {
                        ctx.err(
                            &format!("{f}.{k}"),
                            format!("expected a value, found {other}"),
                        )
                    })?;
                    (s.clone(), s)
                }
            };
            parsed.push((name.clone(), value, label));
        }
        combos = combos
            .into_iter()
            .flat_map(|c| {
                parsed.iter().map(move |p| {
                    let mut c = c.clone();
                    c.push(p.clone());
                    c
                })
            })
            .collect();
    }
    Ok(combos)
}

/// A side declaration expanded under one binding.
pub(super) fn side(
    ctx: &Ctx<'_>,
    field: &str,
    v: &Value,
    bind: &[Binding],
) -> Result<Side, SpecError> {
    let from = || {
        bind.iter()
            .map(|(n, v, _)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let stage_of = |f: &str, pattern: &str| -> Result<String, SpecError> {
        let stage = substitute(pattern, bind, false).map_err(|m| ctx.err(f, m))?;
        let origin = format!("`{pattern}` with {}", from());
        known_stage(
            ctx,
            f,
            &stage,
            (!bind.is_empty()).then_some(origin.as_str()),
        )?;
        Ok(stage)
    };
    match v {
        Value::String(p) => {
            let stage = stage_of(field, p)?;
            Ok(Side::Stage {
                label: stage.clone(),
                stage,
            })
        }
        Value::Object(o) if o.contains_key("best_of") => best_of(ctx, field, o, bind),
        Value::Object(o) => {
            check_keys(ctx, field, o, &["stage", "label"])?;
            let f = format!("{field}.stage");
            let p = o
                .get("stage")
                .and_then(Value::as_str)
                .ok_or_else(|| ctx.err(&f, "missing `stage`".into()))?;
            let stage = stage_of(&f, p)?;
            let label = match o.get("label").and_then(Value::as_str) {
                Some(l) => {
                    substitute(l, bind, true).map_err(|m| ctx.err(&format!("{field}.label"), m))?
                }
                None => stage.clone(),
            };
            Ok(Side::Stage { stage, label })
        }
        other => Err(ctx.err(
            field,
            format!("expected a stage pattern, {{stage, label}} or {{best_of, by}}, found {other}"),
        )),
    }
}

/// A `{best_of: [sides], by, pick, label}` side.
fn best_of(
    ctx: &Ctx<'_>,
    field: &str,
    o: &serde_json::Map<String, Value>,
    bind: &[Binding],
) -> Result<Side, SpecError> {
    check_keys(ctx, field, o, &["best_of", "by", "pick", "label"])?;
    let f = format!("{field}.best_of");
    let list = o
        .get("best_of")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| ctx.err(&f, "expected a non-empty list of sides".into()))?;
    let mut candidates = Vec::new();
    for (k, c) in list.iter().enumerate() {
        match side(ctx, &format!("{f}.{k}"), c, bind)? {
            Side::Stage { stage, label } => candidates.push((stage, label)),
            Side::Best { .. } => {
                return Err(ctx.err(&format!("{f}.{k}"), "a `best_of` inside a `best_of`".into()))
            }
        }
    }
    let by = o
        .get("by")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ctx.err(
                &format!("{field}.by"),
                "missing `by`: the metric that picks the best".into(),
            )
        })?
        .to_string();
    let max = match o.get("pick").and_then(Value::as_str) {
        None | Some("max") => true,
        Some("min") => false,
        Some(p) => {
            return Err(ctx.err(
                &format!("{field}.pick"),
                format!("`{p}`: expected max or min"),
            ))
        }
    };
    let label = match o.get("label").and_then(Value::as_str) {
        Some(l) => substitute(l, bind, true).map_err(|m| ctx.err(&format!("{field}.label"), m))?,
        None => format!("best by {by}"),
    };
    Ok(Side::Best {
        candidates,
        by,
        max,
        label,
    })
}

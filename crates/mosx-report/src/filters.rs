//! Template filters. Every numeric filter shows an undefined value (JSON `null`, NaN) as `-`
//! and refuses a non-number (or an undefined variable) with an error.
//!
//! * `x | metric(digits=2)`: `x` with `digits` decimals (same rule as `mosx_fairness::fmt_metric`).
//! * `x | pct(digits=1)`: a **fraction** shown as a percentage, `0.746 | pct` → `74.6%`.
//! * `a | ratio(b, ...)` or `[a, b, ...] | ratio`: a group ratio such as `7:3`; see [`format_ratio`].
//! * `x | thousands(digits=0)`: comma thousands separators, `19688 | thousands` → `19,688`.
//! * `cell | pm(digits=2)`: a seed aggregate `{mean, sd, n[, expected]}` as `mean ± sd`
//!   (`mean` alone when `n` is 1, `-` when `n` is 0 or the mean is undefined), followed by
//!   ` (n=k)` when only `k` of the `expected` replicates are defined (a seed whose value is
//!   undefined never vanishes silently).
//! * `cell | internals`: the method internals of a `metrics` stage's cell (its train stage's
//!   routing shares, router gradient norm, IFairLRS weights, UP5 discriminator accuracy,
//!   under `train.`), as one line; empty when the cell has none (see `internals`).
//! * `p | pvalue`: a p-value with 3 significant digits, `< 0.001` below 0.001, `-` if undefined.

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use mosx_fairness::fmt_metric;

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("metric", metric);
    env.add_filter("pct", pct);
    env.add_filter("ratio", ratio);
    env.add_filter("thousands", thousands);
    env.add_filter("pm", pm);
    env.add_filter("pvalue", pvalue);
    env.add_filter("internals", crate::internals::filter);
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// `Ok(None)` for none / NaN, `Ok(Some(x))` for a number, an error otherwise.
fn number(v: &Value, filter: &str) -> Result<Option<f64>, Error> {
    if v.is_undefined() {
        return Err(invalid(format!("filter `{filter}` got an undefined value")));
    }
    if v.is_none() {
        return Ok(None);
    }
    if v.kind() != ValueKind::Number {
        return Err(invalid(format!(
            "filter `{filter}` expects a number, got {} `{v}`",
            v.kind()
        )));
    }
    let x = f64::try_from(v.clone())?;
    Ok(if x.is_nan() { None } else { Some(x) })
}

/// The `digits` argument, given positionally or as `digits=`.
fn digits_arg(pos: Option<usize>, kwargs: &Kwargs, default: usize) -> Result<usize, Error> {
    let kw: Option<usize> = kwargs.get("digits")?;
    kwargs.assert_all_used()?;
    match (pos, kw) {
        (Some(_), Some(_)) => Err(invalid("`digits` given twice".into())),
        (p, k) => Ok(p.or(k).unwrap_or(default)),
    }
}

fn metric(x: &Value, digits: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    let d = digits_arg(digits, &kwargs, 2)?;
    Ok(number(x, "metric")?.map_or_else(|| "-".to_string(), |x| fmt_metric(x, d)))
}

fn pct(x: &Value, digits: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    let d = digits_arg(digits, &kwargs, 1)?;
    Ok(number(x, "pct")?.map_or_else(
        || "-".to_string(),
        |x| format!("{}%", fmt_metric(100.0 * x, d)),
    ))
}

fn thousands(x: &Value, digits: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    let d = digits_arg(digits, &kwargs, 0)?;
    Ok(number(x, "thousands")?.map_or_else(|| "-".to_string(), |x| format_thousands(x, d)))
}

fn pm(cell: &Value, digits: Option<usize>, kwargs: Kwargs) -> Result<String, Error> {
    let d = digits_arg(digits, &kwargs, 2)?;
    if cell.is_undefined() {
        return Err(invalid("filter `pm` got an undefined value".into()));
    }
    if cell.is_none() {
        return Ok("-".into());
    }
    if cell.kind() != ValueKind::Map {
        return Err(invalid(format!(
            "filter `pm` expects a seed aggregate {{mean, sd, n}}, got {} `{cell}`",
            cell.kind()
        )));
    }
    let field = |k: &str| -> Result<Option<f64>, Error> {
        let v = cell.get_attr(k)?;
        if v.is_undefined() {
            return Err(invalid(format!("filter `pm`: the aggregate has no `{k}`")));
        }
        number(&v, "pm")
    };
    let (Some(mean), n) = (field("mean")?, field("n")?.unwrap_or(0.0)) else {
        return Ok("-".into());
    };
    if n < 1.0 {
        return Ok("-".into());
    }
    let body = match field("sd")? {
        Some(sd) if n >= 2.0 => format!("{} ± {}", fmt_metric(mean, d), fmt_metric(sd, d)),
        _ => fmt_metric(mean, d),
    };
    let expected = cell.get_attr("expected")?;
    let expected = if expected.is_undefined() {
        None
    } else {
        number(&expected, "pm")?
    };
    Ok(match expected {
        Some(e) if n < e => format!("{body} (n={n})"),
        _ => body,
    })
}

/// A p-value: `< 0.001`, else 3 significant digits (`0.0421`, `0.512`, `1`).
pub fn format_pvalue(p: f64) -> String {
    if !p.is_finite() {
        return "-".into();
    }
    if p < 0.001 {
        return "< 0.001".into();
    }
    let digits = (2 - p.log10().floor() as i32).max(0) as usize;
    let s = format!("{p:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn pvalue(p: &Value) -> Result<String, Error> {
    Ok(number(p, "pvalue")?.map_or_else(|| "-".to_string(), format_pvalue))
}

fn ratio(first: &Value, rest: Rest<Value>) -> Result<String, Error> {
    let items: Vec<Value> = if first.kind() == ValueKind::Seq && rest.is_empty() {
        first.try_iter()?.collect()
    } else {
        std::iter::once(first.clone())
            .chain(rest.iter().cloned())
            .collect()
    };
    let mut parts = Vec::with_capacity(items.len());
    for v in &items {
        match number(v, "ratio")? {
            Some(x) => parts.push(x),
            None => return Ok("-".to_string()),
        }
    }
    format_ratio(&parts).ok_or_else(|| {
        invalid(format!("filter `ratio` needs at least two finite parts >= 0 with a positive sum, got {parts:?}"))
    })
}

/// `x` rounded to `digits` decimals with `,` between thousands: `19688.0` → `"19,688"`,
/// `-1234567.891` with 2 digits → `"-1,234,567.89"`. NaN → `"-"`.
pub fn format_thousands(x: f64, digits: usize) -> String {
    let s = fmt_metric(x, digits);
    if !x.is_finite() {
        return s;
    }
    let (sign, body) = match s.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", s.as_str()),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// A group ratio as small integers joined by `:`.
///
/// Rule: the parts are scaled to sum to 10 and rounded by the largest-remainder method (so the
/// integers always sum to the scale; ties go to the earlier part): 0.746 / 0.254 → `7:3`,
/// 7460 / 2540 → `7:3`, 0.6 / 0.4 → `6:4` (not reduced to `3:2`, as in the paper's Table III).
/// If a positive part would round to 0 the scale grows to 100, 1000, ... (up to 10^6), so a
/// minority group never vanishes: 0.98 / 0.02 → `98:2`. `None` if fewer than two parts, a part
/// is negative or not finite, or the sum is 0.
pub fn format_ratio(parts: &[f64]) -> Option<String> {
    if parts.len() < 2 || parts.iter().any(|p| !p.is_finite() || *p < 0.0) {
        return None;
    }
    let sum: f64 = parts.iter().sum();
    if sum <= 0.0 {
        return None;
    }
    let mut rounded = Vec::new();
    for exp in 1..=6 {
        let scale = 10u64.pow(exp);
        rounded = largest_remainder(parts, sum, scale);
        if parts.iter().zip(&rounded).all(|(&p, &r)| p == 0.0 || r > 0) {
            break;
        }
    }
    Some(
        rounded
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// Integers proportional to `parts` that sum to `scale` (largest-remainder / Hamilton method).
fn largest_remainder(parts: &[f64], sum: f64, scale: u64) -> Vec<u64> {
    let exact: Vec<f64> = parts.iter().map(|p| p / sum * scale as f64).collect();
    let mut out: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let given: u64 = out.iter().sum();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    // Larger fractional remainder first; stable sort keeps earlier parts first on ties.
    order.sort_by(|&i, &j| (exact[j] - exact[j].floor()).total_cmp(&(exact[i] - exact[i].floor())));
    for &i in order.iter().take(scale.saturating_sub(given) as usize) {
        out[i] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_rule() {
        assert_eq!(format_ratio(&[0.746, 0.254]).unwrap(), "7:3");
        assert_eq!(format_ratio(&[7460.0, 2540.0]).unwrap(), "7:3");
        assert_eq!(format_ratio(&[0.6, 0.4]).unwrap(), "6:4");
        assert_eq!(format_ratio(&[0.5, 0.5]).unwrap(), "5:5");
        assert_eq!(format_ratio(&[0.98, 0.02]).unwrap(), "98:2");
        assert_eq!(format_ratio(&[1.0, 0.0]).unwrap(), "10:0");
        assert_eq!(format_ratio(&[1.0, 1.0, 1.0]).unwrap(), "4:3:3");
        assert!(format_ratio(&[1.0]).is_none());
        assert!(format_ratio(&[0.0, 0.0]).is_none());
        assert!(format_ratio(&[-1.0, 2.0]).is_none());
    }

    #[test]
    fn pvalue_rule() {
        assert_eq!(format_pvalue(0.0004), "< 0.001");
        assert_eq!(format_pvalue(0.04213), "0.0421");
        assert_eq!(format_pvalue(0.5123), "0.512");
        assert_eq!(format_pvalue(1.0), "1");
        assert_eq!(format_pvalue(f64::NAN), "-");
    }

    #[test]
    fn pm_renders_mean_and_sd() {
        let env = crate::templates::environment(std::path::Path::new("."));
        let r =
            |ctx: serde_json::Value| env.render_str("{{ c | pm }}|{{ c | pm(1) }}", ctx).unwrap();
        assert_eq!(
            r(serde_json::json!({"c": {"mean": 55.491, "sd": 1.234, "n": 3}})),
            "55.49 ± 1.23|55.5 ± 1.2"
        );
        assert_eq!(
            r(serde_json::json!({"c": {"mean": 55.491, "sd": null, "n": 1}})),
            "55.49|55.5"
        );
        assert_eq!(
            r(serde_json::json!({"c": {"mean": null, "sd": null, "n": 0}})),
            "-|-"
        );
        assert_eq!(r(serde_json::json!({"c": null})), "-|-");
        // Fewer defined replicates than expected: the count is printed.
        assert_eq!(
            r(serde_json::json!({"c": {"mean": 37.4, "sd": 2.1, "n": 2, "expected": 3}})),
            "37.40 ± 2.10 (n=2)|37.4 ± 2.1 (n=2)"
        );
        assert_eq!(
            r(serde_json::json!({"c": {"mean": 37.4, "sd": null, "n": 1, "expected": 3}})),
            "37.40 (n=1)|37.4 (n=1)"
        );
        assert_eq!(
            r(serde_json::json!({"c": {"mean": 37.4, "sd": 2.1, "n": 3, "expected": 3}})),
            "37.40 ± 2.10|37.4 ± 2.1"
        );
    }

    #[test]
    fn thousands_rule() {
        assert_eq!(format_thousands(19688.0, 0), "19,688");
        assert_eq!(format_thousands(943.0, 0), "943");
        assert_eq!(format_thousands(1000.0, 0), "1,000");
        assert_eq!(format_thousands(-1234567.891, 2), "-1,234,567.89");
        assert_eq!(format_thousands(f64::NAN, 0), "-");
    }
}

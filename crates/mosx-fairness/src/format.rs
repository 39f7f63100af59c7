//! Text formatting of metric values: undefined (NaN) shows as "-", never as "0".

/// `x` with `digits` decimals; NaN → `"-"`, infinities → `"inf"` / `"-inf"`. A value that
/// rounds to zero prints without a minus sign (`-0.001` → `"0.00"`).
pub fn fmt_metric(x: f64, digits: usize) -> String {
    if x.is_nan() {
        return "-".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{x:.digits$}");
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => s,
    }
}

//! YAML 1.2 core-schema resolution of plain (unquoted) scalars. Invariant: only exact core-schema
//! spellings become null/bool/int/float; everything else (e.g. `inf`, `1_000`, `yes`) stays a string.

use crate::node::Kind;

/// Resolves the text of a plain scalar to its typed value.
pub(crate) fn resolve_plain(s: &str) -> Kind {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Kind::Null,
        "true" | "True" | "TRUE" => return Kind::Bool(true),
        "false" | "False" | "FALSE" => return Kind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Kind::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Kind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Kind::Float(f64::NAN),
        _ => {}
    }
    if let Some(k) = resolve_int(s) {
        return k;
    }
    if is_float(s) {
        if let Ok(x) = s.parse::<f64>() {
            return Kind::Float(x);
        }
    }
    Kind::Str(s.to_string())
}

fn all_digits(s: &str, radix: u32) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_digit(radix))
}

fn resolve_int(s: &str) -> Option<Kind> {
    if let Some(h) = s.strip_prefix("0x") {
        return all_digits(h, 16)
            .then(|| i64::from_str_radix(h, 16).ok().map(Kind::Int))
            .flatten();
    }
    if let Some(o) = s.strip_prefix("0o") {
        return all_digits(o, 8)
            .then(|| i64::from_str_radix(o, 8).ok().map(Kind::Int))
            .flatten();
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !all_digits(digits, 10) {
        return None;
    }
    Some(match s.parse::<i64>() {
        Ok(i) => Kind::Int(i),
        // Out of i64 range: keep the magnitude as a float rather than failing.
        Err(_) => Kind::Float(s.parse::<f64>().ok()?),
    })
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_float(s: &str) -> bool {
    let b = s.strip_prefix(['-', '+']).unwrap_or(s).as_bytes();
    let mut i = 0;
    let int_digits = count_digits(&b[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&b[i..]);
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp = count_digits(&b[i..]);
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

fn count_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(s: &str) -> String {
        format!("{:?}", resolve_plain(s))
    }

    #[test]
    fn core_schema() {
        assert_eq!(show("~"), "Null");
        assert_eq!(show("True"), "Bool(true)");
        assert_eq!(show("10000"), "Int(10000)");
        assert_eq!(show("-3"), "Int(-3)");
        assert_eq!(show("0x1f"), "Int(31)");
        assert_eq!(show("0o17"), "Int(15)");
        assert_eq!(show("1.645"), "Float(1.645)");
        assert_eq!(show("1e3"), "Float(1000.0)");
        assert_eq!(show(".5"), "Float(0.5)");
        assert_eq!(show("2."), "Float(2.0)");
        assert_eq!(show("-.inf"), "Float(-inf)");
    }

    #[test]
    fn non_core_spellings_stay_strings() {
        for s in [
            "inf", "nan", "yes", "1_000", "1.2.3", "e5", ".", "0x", "abc", "1e",
        ] {
            assert!(matches!(resolve_plain(s), Kind::Str(_)), "{s}");
        }
    }
}

//! `claims:`: the hypotheses a spec tests, stated next to its runs and evaluated by
//! `mosx report` (issue 8). Each claim compares a metric of one stage with a metric of
//! another (or the same) stage, over the seeds and users of those stages:
//!
//! ```yaml
//! claims:
//!   - name: "(c) MoS is fairer than UP5 (MovieLens, implicit)"
//!     test: "ml_metrics_mos_implicit.F < ml_metrics_up5_implicit.F"
//!   - name: "(c) MoS keeps AUC within 2 points of full fine-tuning"
//!     test: "ml_metrics_mos_implicit.auc >= ml_metrics_full_implicit.auc - 2"
//!     alpha: 0.05                     # optional, default 0.05
//! ```
//!
//! Invariants: `test` is `STAGE.METRIC OP STAGE.METRIC [(+|-) NUMBER]` with `OP` one of
//! `>`, `<`, `>=`, `<=`; the stage is the text before the first `.` and must be a stage of
//! the spec; the metric is the rest (e.g. `F.male.male`); errors are located at the claim.

use crate::error::SpecError;
use crate::node::{join, Kind, Node};
use crate::sources::Sources;
use crate::suggest::suggest;

/// Valid keys of a claim.
pub const CLAIM_KEYS: &[&str] = &["name", "test", "alpha"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimOp {
    Gt,
    Lt,
    Ge,
    Le,
}

impl ClaimOp {
    pub fn symbol(self) -> &'static str {
        match self {
            ClaimOp::Gt => ">",
            ClaimOp::Lt => "<",
            ClaimOp::Ge => ">=",
            ClaimOp::Le => "<=",
        }
    }
    /// Whether the claim says the left side is larger.
    pub fn greater(self) -> bool {
        matches!(self, ClaimOp::Gt | ClaimOp::Ge)
    }
}

/// One side of a claim: a metric of a spec stage (over all its sweep points).
#[derive(Clone, Debug, PartialEq)]
pub struct Operand {
    pub stage: String,
    pub metric: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    pub name: String,
    /// The `test` expression as written.
    pub test: String,
    pub left: Operand,
    pub op: ClaimOp,
    pub right: Operand,
    /// Added to the right side: `a >= b - 2` has margin -2.
    pub margin: f64,
    /// Significance level of the verdict (after Holm correction over the spec's claims).
    pub alpha: f64,
}

/// Parses `claims:` of the merged document; `stages` are the spec's stage names.
pub(crate) fn parse(
    doc: &Node,
    stages: &[&str],
    sources: &Sources,
) -> Result<Vec<Claim>, SpecError> {
    let items = match doc.get("claims").map(|n| &n.kind) {
        None | Some(Kind::Null) => return Ok(Vec::new()),
        Some(Kind::Seq(items)) => items,
        Some(_) => {
            let n = doc.get("claims").unwrap_or(doc);
            return Err(sources.error(
                n.loc,
                "claims",
                format!("expected a list of claims, found {}", n.describe()),
                None,
            ));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, n)| parse_claim(n, &format!("claims.{i}"), stages, sources))
        .collect()
}

/// Parses the claim `n` at field path `base`.
fn parse_claim(
    n: &Node,
    base: &str,
    stages: &[&str],
    sources: &Sources,
) -> Result<Claim, SpecError> {
    let Kind::Map(fields) = &n.kind else {
        return Err(sources.error(
            n.loc,
            base,
            format!(
                "expected a claim (a map with `name` and `test`), found {}",
                n.describe()
            ),
            None,
        ));
    };
    for f in fields {
        if !CLAIM_KEYS.contains(&f.key.as_str()) {
            return Err(sources.error(
                f.key_loc,
                join(base, &f.key),
                format!("unknown key `{}`", f.key),
                suggest(&f.key, CLAIM_KEYS.iter().copied()),
            ));
        }
    }
    let (name, _) = claim_text(n, base, "name", sources)?;
    let (test, tnode) = claim_text(n, base, "test", sources)?;
    let field = join(base, "test");
    let err = |msg: String, sugg: Option<String>| sources.error(tnode.loc, &field, msg, sugg);
    let alpha = claim_alpha(n, base, sources)?;
    let (left, op, right, margin) = parse_test(&test).map_err(|m| err(m, None))?;
    for side in [&left, &right] {
        if !stages.contains(&side.stage.as_str()) {
            return Err(err(
                format!("no stage `{}` in the spec", side.stage),
                suggest(&side.stage, stages.iter().copied()),
            ));
        }
    }
    Ok(Claim {
        name,
        test,
        left,
        op,
        right,
        margin,
        alpha,
    })
}

/// The string field `key` of the claim `n` (required), and its node.
fn claim_text<'n>(
    n: &'n Node,
    base: &str,
    key: &str,
    sources: &Sources,
) -> Result<(String, &'n Node), SpecError> {
    let Some(v) = n.get(key) else {
        return Err(sources.error(
            n.loc,
            join(base, key),
            format!("missing field `{key}`"),
            None,
        ));
    };
    match v.as_str() {
        Some(s) => Ok((s.to_string(), v)),
        None => Err(sources.error(
            v.loc,
            join(base, key),
            format!("expected a string, found {}", v.describe()),
            None,
        )),
    }
}

/// The claim's `alpha`: a number in (0, 1), default 0.05.
fn claim_alpha(n: &Node, base: &str, sources: &Sources) -> Result<f64, SpecError> {
    match n.get("alpha").map(|a| &a.kind) {
        None => Ok(0.05),
        Some(Kind::Float(x)) if *x > 0.0 && *x < 1.0 => Ok(*x),
        Some(_) => {
            let a = n.get("alpha").unwrap_or(n);
            Err(sources.error(
                a.loc,
                join(base, "alpha"),
                format!("expected a number in (0, 1), found {}", a.describe()),
                None,
            ))
        }
    }
}

fn operand(s: &str) -> Result<Operand, String> {
    match s.split_once('.') {
        Some((stage, metric)) if !stage.is_empty() && !metric.is_empty() => Ok(Operand {
            stage: stage.to_string(),
            metric: metric.to_string(),
        }),
        _ => Err(format!("`{s}` is not STAGE.METRIC")),
    }
}

/// `STAGE.METRIC OP STAGE.METRIC [(+|-) NUMBER]`.
fn parse_test(s: &str) -> Result<(Operand, ClaimOp, Operand, f64), String> {
    let usage =
        "expected `STAGE.METRIC OP STAGE.METRIC [(+|-) NUMBER]` with OP one of >, <, >=, <=";
    let t: Vec<&str> = s.split_whitespace().collect();
    let op = |o: &str| match o {
        ">" => Ok(ClaimOp::Gt),
        "<" => Ok(ClaimOp::Lt),
        ">=" => Ok(ClaimOp::Ge),
        "<=" => Ok(ClaimOp::Le),
        _ => Err(format!("unknown comparison `{o}`: {usage}")),
    };
    match t.as_slice() {
        [l, o, r] => Ok((operand(l)?, op(o)?, operand(r)?, 0.0)),
        [l, o, r, sign @ ("+" | "-"), num] => {
            let x: f64 = num
                .parse()
                .map_err(|_| format!("`{num}` is not a number: {usage}"))?;
            let m = if *sign == "-" { -x } else { x };
            Ok((operand(l)?, op(o)?, operand(r)?, m))
        }
        _ => Err(usage.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tests_with_and_without_margin() {
        let (l, o, r, m) = parse_test("a.F.male.male > a.F.male.female").unwrap();
        assert_eq!((l.stage.as_str(), l.metric.as_str()), ("a", "F.male.male"));
        assert_eq!(o, ClaimOp::Gt);
        assert_eq!(r.metric, "F.male.female");
        assert_eq!(m, 0.0);
        let (_, o, _, m) = parse_test("x.auc >= y.auc - 2").unwrap();
        assert_eq!((o, m), (ClaimOp::Ge, -2.0));
        assert!(parse_test("x.auc => y.auc").is_err());
        assert!(parse_test("x > y.auc").is_err());
        assert!(parse_test("x.auc > y.auc * 2").is_err());
    }
}

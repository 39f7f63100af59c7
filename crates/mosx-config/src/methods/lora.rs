//! `lora`'s config: rank 8, alpha 16 and dropout 0.05 by default; a rank of at least 1,
//! a dropout in [0, 1) (and, as every config, `alpha > 0`: `check_weights`). The method
//! (low-rank adapters on the chosen projections, frozen base) is mosx-methods'
//! `methods::lora`.
//!
//! `targets` chooses the projections: any of `q, k, v, o` (attention) and `gate, up, down`
//! (feed-forward), default `[q, v]`. peft's module names are accepted for the same
//! projections (`q_proj` … `down_proj` of the Llama family and Gemma-3; T5's `q, k, v, o`,
//! `wi_0` = gate, `wi_1` = up, `wi` = up (the one input projection of a non-gated T5),
//! `wo` = down), and peft's `all-linear` names every projection the architecture has.
//!
//! Invariants: the canonical form lists the targets by their short names in the order
//! above, each once (`[all-linear]` for `all-linear`), so two spellings of one set share a
//! key; it is left out of the canonical config when it is the default `[q, v]`, so the keys
//! of specs written before `targets` existed are unchanged.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{parse_config, Entry};
use crate::method_error::MethodError;

/// A projection a LoRA adapter can sit on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Target {
    /// Every target, in canonical order.
    pub const ALL: [Target; 7] = [
        Target::Q,
        Target::K,
        Target::V,
        Target::O,
        Target::Gate,
        Target::Up,
        Target::Down,
    ];

    /// The short name (`q`, …, `down`).
    pub fn name(self) -> &'static str {
        ["q", "k", "v", "o", "gate", "up", "down"][self.index()]
    }

    /// The position in [`Target::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the projection is in the attention block (else the feed-forward).
    pub fn is_attention(self) -> bool {
        self.index() < 4
    }

    /// The target a name written in a spec denotes (see the module note).
    pub fn parse(name: &str) -> Option<Target> {
        let t = match name {
            "q" | "q_proj" => Target::Q,
            "k" | "k_proj" => Target::K,
            "v" | "v_proj" => Target::V,
            "o" | "o_proj" => Target::O,
            "gate" | "gate_proj" | "wi_0" => Target::Gate,
            "up" | "up_proj" | "wi_1" | "wi" => Target::Up,
            "down" | "down_proj" | "wo" => Target::Down,
            _ => return None,
        };
        Some(t)
    }
}

/// peft's name for every projection of the architecture.
pub const ALL_LINEAR: &str = "all-linear";

/// A set of [`Target`]s; `all_linear` means every projection the architecture has (a
/// target it lacks is skipped, where a named one is an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    bits: u8,
    all_linear: bool,
}

impl Default for Targets {
    fn default() -> Targets {
        Targets::QV
    }
}

impl Targets {
    /// The default: attention q and v (as the LoRA paper and peft's defaults for most models).
    pub const QV: Targets = Targets {
        bits: 1 << Target::Q as u8 | 1 << Target::V as u8,
        all_linear: false,
    };

    /// The set of `targets`.
    pub fn of(targets: &[Target]) -> Targets {
        let bits = targets.iter().fold(0u8, |b, t| b | 1 << t.index());
        Targets {
            bits,
            all_linear: false,
        }
    }

    /// peft's `all-linear`.
    pub fn all_linear() -> Targets {
        Targets {
            all_linear: true,
            ..Targets::of(&Target::ALL)
        }
    }

    /// The members for which `keep` holds (`all-linear` stays `all-linear`).
    pub fn only(self, keep: impl Fn(Target) -> bool) -> Targets {
        let kept: Vec<Target> = self.iter().filter(|t| keep(*t)).collect();
        Targets {
            all_linear: self.all_linear,
            ..Targets::of(&kept)
        }
    }

    /// Whether the set was given as `all-linear`.
    pub fn is_all_linear(self) -> bool {
        self.all_linear
    }

    /// Whether `t` is in the set.
    pub fn contains(self, t: Target) -> bool {
        self.bits & (1 << t.index()) != 0
    }

    /// The targets in canonical order.
    pub fn iter(self) -> impl Iterator<Item = Target> {
        Target::ALL.into_iter().filter(move |t| self.contains(*t))
    }

    /// The canonical names (see the module note).
    pub fn names(self) -> Vec<&'static str> {
        if self.all_linear {
            return vec![ALL_LINEAR];
        }
        self.iter().map(Target::name).collect()
    }

    /// Parses a name or a list of names; the message names the accepted spellings.
    pub fn parse_value(v: &Value) -> Result<Targets, String> {
        let names: Vec<&str> = match v {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().ok_or_else(|| format!("{x} is not a name")))
                .collect::<Result<_, _>>()?,
            other => return Err(format!("{other} is neither a name nor a list of names")),
        };
        if names.is_empty() {
            return Err("needs at least one target".into());
        }
        if names.contains(&ALL_LINEAR) {
            return match names.len() {
                1 => Ok(Targets::all_linear()),
                _ => Err(format!("`{ALL_LINEAR}` stands alone")),
            };
        }
        let mut out = Vec::new();
        for n in names {
            out.push(Target::parse(n).ok_or_else(|| {
                format!(
                    "unknown target `{n}` (q, k, v, o, gate, up, down; peft's q_proj … down_proj, \
                     wi, wi_0, wi_1, wo; or {ALL_LINEAR})"
                )
            })?);
        }
        Ok(Targets::of(&out))
    }
}

impl Serialize for Targets {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Targets {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Targets, D::Error> {
        let v = Value::deserialize(d)?;
        Targets::parse_value(&v).map_err(serde::de::Error::custom)
    }
}

fn is_default_targets(t: &Targets) -> bool {
    *t == Targets::default()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_rank")]
    pub rank: i64,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    #[serde(default = "default_dropout")]
    pub dropout: f64,
    /// The adapted projections (see the module note).
    #[serde(default, skip_serializing_if = "is_default_targets")]
    pub targets: Targets,
}
fn default_rank() -> i64 {
    8
}
fn default_alpha() -> f64 {
    16.0
}
fn default_dropout() -> f64 {
    0.05
}
const FIELDS: &[&str] = &["rank", "alpha", "dropout", "targets"];

pub const ENTRY: Entry = Entry {
    name: "lora",
    about: "low-rank adapters on chosen projections (default attention q and v); frozen backbone",
    fields: FIELDS,
    normalize,
    default_lr: 5e-4,
    default_objective: crate::objective::Objective::Rec,
    modifies_backbone: true,
};

fn normalize(m: &Map<String, Value>) -> Result<Value, MethodError> {
    if let Some(t) = m.get("targets") {
        Targets::parse_value(t).map_err(|e| MethodError::config("lora", "targets", e))?;
    }
    let (c, v) = parse_config::<Config>("lora", FIELDS, m)?;
    if c.rank < 1 {
        return Err(MethodError::config("lora", "rank", "must be at least 1"));
    }
    if !(0.0..1.0).contains(&c.dropout) {
        return Err(MethodError::config("lora", "dropout", "must be in [0, 1)"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn norm(v: Value) -> Result<Value, MethodError> {
        normalize(v.as_object().unwrap())
    }

    #[test]
    fn default_targets_stay_out_of_the_canonical_config() {
        let v = norm(json!({})).unwrap();
        assert_eq!(v, json!({"rank": 8, "alpha": 16.0, "dropout": 0.05}));
        let v = norm(json!({"targets": ["v_proj", "q"]})).unwrap();
        assert!(v.get("targets").is_none(), "{v}");
    }

    #[test]
    fn peft_names_and_short_names_share_one_canonical_list() {
        let a = norm(json!({"targets": ["down_proj", "q_proj", "k_proj", "gate_proj"]})).unwrap();
        let b = norm(json!({"targets": ["q", "k", "gate", "down", "q"]})).unwrap();
        assert_eq!(a, b);
        assert_eq!(a["targets"], json!(["q", "k", "gate", "down"]));
        let t5 = norm(json!({"targets": ["wi_0", "wi_1", "wo", "o"]})).unwrap();
        assert_eq!(t5["targets"], json!(["o", "gate", "up", "down"]));
        let all = norm(json!({"targets": "all-linear"})).unwrap();
        assert_eq!(all["targets"], json!(["all-linear"]));
        let back: Config = serde_json::from_value(all).unwrap();
        assert!(back.targets.is_all_linear() && back.targets.iter().count() == 7);
    }

    #[test]
    fn unknown_and_empty_targets_are_refused_at_targets() {
        for bad in [
            json!(["q", "qq"]),
            json!([]),
            json!(["all-linear", "q"]),
            json!(3),
        ] {
            let e = norm(json!({ "targets": bad })).unwrap_err().to_string();
            assert!(e.contains("targets"), "{e}");
        }
        let e = norm(json!({"targets": ["query"]})).unwrap_err().to_string();
        assert!(
            e.contains("unknown target `query`") && e.contains("q_proj"),
            "{e}"
        );
    }
}

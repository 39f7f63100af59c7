//! What a job asks of the cluster: partition, time limit, memory, CPUs per task, generic
//! resources (GPUs).
//!
//! Invariants:
//! * A value of these types is valid Slurm syntax: every constructor (`FromStr`,
//!   `Deserialize`) validates, so `sbatch` never sees a malformed `--time`, `--mem`,
//!   `--gres` or `--partition`. Whether the cluster can satisfy it (a partition that
//!   exists, memory a node has) is only known to `sbatch`, which rejects the job.
//! * A [`ResourceError`] names the field (`time`, `mem`, `gres`, `partition`) and the
//!   rejected value, so a spec error reads `stages.x.resources.mem: invalid mem `4X`: …`
//!   under a serde path.
//! * Values serialize back to a string Slurm accepts and that parses to the same value
//!   (`"90"` minutes round-trips as `"0-01:30:00"`, `"4G"` as `"4096M"`).
//! * [`Resources`] is strict (`deny_unknown_fields`); every field is optional and an
//!   absent field leaves Slurm's default (the partition's `DefaultTime`, `DefMemPerCPU`, …).

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A resource value that is not valid Slurm syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field} `{value}`: {reason}")]
pub struct ResourceError {
    /// The [`Resources`] field: `partition`, `time`, `mem` or `gres`.
    pub field: &'static str,
    /// The value as given.
    pub value: String,
    /// What is wrong with it, and what is expected.
    pub reason: &'static str,
}

impl ResourceError {
    fn new(field: &'static str, value: &str, reason: &'static str) -> Self {
        ResourceError {
            field,
            value: value.to_string(),
            reason,
        }
    }
}

/// A job's time limit (`sbatch --time`).
///
/// Parsed from Slurm's formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`, or
/// `UNLIMITED`/`INFINITE`; a plain integer (also as a YAML number) is minutes. Components
/// after the first are range-checked (minutes and seconds below 60, hours below 24 after
/// days). A limit of zero is Slurm's "no limit" and parses as [`TimeLimit::Unlimited`].
/// Slurm counts in whole minutes and rounds seconds up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeLimit {
    /// No time limit beyond the partition's `MaxTime`.
    Unlimited,
    /// This many seconds, at least one.
    Seconds(u64),
}

const TIME_FORMATS: &str =
    "expected minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED";

impl FromStr for TimeLimit {
    type Err = ResourceError;

    fn from_str(s: &str) -> Result<Self, ResourceError> {
        let err = |reason| ResourceError::new("time", s, reason);
        let t = s.trim();
        if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("infinite") {
            return Ok(TimeLimit::Unlimited);
        }
        let number = |part: &str| -> Result<u64, ResourceError> {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(TIME_FORMATS));
            }
            part.parse::<u64>().map_err(|_| err("number too large"))
        };
        let below = |value: u64, limit: u64, reason| {
            if value < limit {
                Ok(value)
            } else {
                Err(err(reason))
            }
        };
        // (days, hours, minutes, seconds); only the leading component is unbounded.
        let (days, rest) = match t.split_once('-') {
            Some((d, rest)) => (Some(number(d)?), rest),
            None => (None, t),
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (d, h, m, sec) = match (days, parts.as_slice()) {
            (None, [m]) => (0, 0, number(m)?, 0),
            (None, [m, s]) => (
                0,
                0,
                number(m)?,
                below(number(s)?, 60, "seconds must be below 60")?,
            ),
            (None, [h, m, s]) => (
                0,
                number(h)?,
                below(number(m)?, 60, "minutes must be below 60")?,
                below(number(s)?, 60, "seconds must be below 60")?,
            ),
            (Some(d), [h]) => (
                d,
                below(number(h)?, 24, "hours after days must be below 24")?,
                0,
                0,
            ),
            (Some(d), [h, m]) => (
                d,
                below(number(h)?, 24, "hours after days must be below 24")?,
                below(number(m)?, 60, "minutes must be below 60")?,
                0,
            ),
            (Some(d), [h, m, s]) => (
                d,
                below(number(h)?, 24, "hours after days must be below 24")?,
                below(number(m)?, 60, "minutes must be below 60")?,
                below(number(s)?, 60, "seconds must be below 60")?,
            ),
            _ => return Err(err(TIME_FORMATS)),
        };
        let total = d
            .checked_mul(86_400)
            .and_then(|x| x.checked_add(h.checked_mul(3_600)?))
            .and_then(|x| x.checked_add(m.checked_mul(60)?))
            .and_then(|x| x.checked_add(sec))
            .ok_or_else(|| err("time limit too large"))?;
        // Slurm stores limits as 32-bit minutes.
        if total / 60 >= u64::from(u32::MAX) {
            return Err(err("time limit too large"));
        }
        Ok(if total == 0 {
            TimeLimit::Unlimited
        } else {
            TimeLimit::Seconds(total)
        })
    }
}

impl fmt::Display for TimeLimit {
    /// `UNLIMITED` or `D-HH:MM:SS`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TimeLimit::Unlimited => f.write_str("UNLIMITED"),
            TimeLimit::Seconds(s) => write!(
                f,
                "{}-{:02}:{:02}:{:02}",
                s / 86_400,
                s % 86_400 / 3_600,
                s % 3_600 / 60,
                s % 60
            ),
        }
    }
}

/// Memory per node (`sbatch --mem`), in mebibytes.
///
/// Parsed from Slurm's `SIZE[K|M|G|T]` (case-insensitive; no unit means M, as in Slurm);
/// a YAML number is mebibytes. Kibibytes round up to whole mebibytes. `0` keeps Slurm's
/// meaning: all the memory of the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Memory {
    mebibytes: u64,
}

impl Memory {
    /// This many mebibytes.
    pub fn from_mebibytes(mebibytes: u64) -> Memory {
        Memory { mebibytes }
    }

    /// The size in mebibytes (what `sbatch --mem` receives).
    pub fn mebibytes(self) -> u64 {
        self.mebibytes
    }
}

impl FromStr for Memory {
    type Err = ResourceError;

    fn from_str(s: &str) -> Result<Self, ResourceError> {
        let err = |reason| ResourceError::new("mem", s, reason);
        let t = s.trim();
        let digits_end = t
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(t.len());
        let (digits, unit) = t.split_at(digits_end);
        if digits.is_empty() {
            return Err(err(
                "expected a whole number with an optional unit K, M, G or T, e.g. 512M or 4G",
            ));
        }
        let n: u64 = digits.parse().map_err(|_| err("number too large"))?;
        let mebibytes = match unit.to_ascii_uppercase().as_str() {
            "K" => Some(n.div_ceil(1024)),
            "" | "M" => Some(n),
            "G" => n.checked_mul(1 << 10),
            "T" => n.checked_mul(1 << 20),
            _ => {
                return Err(err(
                    "unknown unit; expected K, M, G or T (powers of 1024), e.g. 512M or 4G",
                ))
            }
        }
        .ok_or_else(|| err("size too large"))?;
        Ok(Memory { mebibytes })
    }
}

impl fmt::Display for Memory {
    /// `<mebibytes>M`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}M", self.mebibytes)
    }
}

/// Generic resources per node (`sbatch --gres`), e.g. `gpu:1`, `gpu:a100:2`,
/// `gpu:1,shard:2`.
///
/// Each comma-separated item is `NAME[:TYPE][:COUNT]`: NAME a letter then letters,
/// digits or `_`; TYPE letters, digits, `_`, `-` or `.`; COUNT a positive integer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gres(String);

impl Gres {
    /// The specification as `sbatch --gres` receives it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Gres {
    type Err = ResourceError;

    fn from_str(s: &str) -> Result<Self, ResourceError> {
        let err = |reason| ResourceError::new("gres", s, reason);
        let t = s.trim();
        if t.is_empty() {
            return Err(err("empty; expected NAME[:TYPE][:COUNT], e.g. gpu:1"));
        }
        for item in t.split(',') {
            let parts: Vec<&str> = item.split(':').collect();
            let name = parts[0];
            let name_ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name_ok {
                return Err(err(
                    "each item must start with a name (a letter, then letters, digits or _)",
                ));
            }
            let is_count = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            let is_type = |p: &str| {
                !p.is_empty()
                    && !is_count(p)
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            };
            let ok = match parts[1..] {
                [] => true,
                [x] => is_count(x) || is_type(x),
                [ty, count] => is_type(ty) && is_count(count),
                _ => false,
            };
            if !ok {
                return Err(err(
                    "each item must be NAME[:TYPE][:COUNT], e.g. gpu:1 or gpu:a100:2",
                ));
            }
            if let Some(count) = parts.last().filter(|p| parts.len() > 1 && is_count(p)) {
                if count.bytes().all(|b| b == b'0') {
                    return Err(err("a count must be at least 1"));
                }
            }
        }
        Ok(Gres(t.to_string()))
    }
}

impl fmt::Display for Gres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A partition name, or a comma-separated list of them (`sbatch --partition`; Slurm
/// starts the job in whichever can run it first). Names are letters, digits, `_`, `-`, `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Partition(String);

impl Partition {
    /// The name (or list) as `sbatch --partition` receives it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Partition {
    type Err = ResourceError;

    fn from_str(s: &str) -> Result<Self, ResourceError> {
        let t = s.trim();
        let ok = !t.is_empty()
            && t.split(',').all(|name| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            });
        if !ok {
            return Err(ResourceError::new(
                "partition",
                s,
                "expected a name of letters, digits, _, - and ., or a comma-separated list",
            ));
        }
        Ok(Partition(t.to_string()))
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a job asks of the cluster. Every field is optional; `None` leaves Slurm's
/// default. Deserializes strictly from a spec (`resources: { time: "2:00:00", mem: 4G }`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// `--partition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Partition>,
    /// `--time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeLimit>,
    /// `--mem` (per node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<Memory>,
    /// `--cpus-per-task` (the job is one task). Also read as `cpus`, the key of a
    /// mosx spec's `resources:` entries.
    #[serde(default, alias = "cpus", skip_serializing_if = "Option::is_none")]
    pub cpus_per_task: Option<NonZeroU32>,
    /// `--gres`, e.g. `gpu:1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gres: Option<Gres>,
}

impl Resources {
    /// These resources, with each field that is `None` taken from `defaults` (e.g. a
    /// stage's own resources over its kind's).
    pub fn or(self, defaults: &Resources) -> Resources {
        Resources {
            partition: self.partition.or_else(|| defaults.partition.clone()),
            time: self.time.or(defaults.time),
            mem: self.mem.or(defaults.mem),
            cpus_per_task: self.cpus_per_task.or(defaults.cpus_per_task),
            gres: self.gres.or_else(|| defaults.gres.clone()),
        }
    }

    /// The `sbatch` options these resources give, in a fixed order.
    pub(crate) fn sbatch_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(p) = &self.partition {
            args.push(format!("--partition={p}"));
        }
        if let Some(t) = &self.time {
            args.push(format!("--time={t}"));
        }
        if let Some(m) = &self.mem {
            args.push(format!("--mem={m}"));
        }
        if let Some(c) = &self.cpus_per_task {
            args.push(format!("--cpus-per-task={c}"));
        }
        if let Some(g) = &self.gres {
            args.push(format!("--gres={g}"));
        }
        args
    }
}

// ---- serde: strings (and, for time and memory, plain numbers) ---------------------------

macro_rules! serde_via_str {
    ($ty:ty, $expecting:literal, $number:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> de::Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        v.parse().map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$ty, E> {
                        let number: Option<fn(u64) -> Result<$ty, ResourceError>> = $number;
                        match number {
                            Some(from) => from(v).map_err(E::custom),
                            None => Err(E::invalid_type(de::Unexpected::Unsigned(v), &self)),
                        }
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$ty, E> {
                        match u64::try_from(v) {
                            Ok(v) => self.visit_u64(v),
                            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                        }
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

serde_via_str!(
    TimeLimit,
    "a Slurm time limit: minutes, \"HH:MM:SS\", \"D-HH:MM:SS\" or \"UNLIMITED\"",
    Some(|minutes: u64| minutes.to_string().parse())
);
serde_via_str!(
    Memory,
    "a memory size: mebibytes or a string like \"512M\" or \"4G\"",
    Some(|mebibytes: u64| Ok(Memory::from_mebibytes(mebibytes)))
);
serde_via_str!(Gres, "a gres specification like \"gpu:1\"", None);
serde_via_str!(Partition, "a partition name", None);

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> u64 {
        match s.parse::<TimeLimit>().unwrap() {
            TimeLimit::Seconds(s) => s,
            TimeLimit::Unlimited => panic!("{s} parsed as unlimited"),
        }
    }

    #[test]
    fn time_formats_of_slurm() {
        assert_eq!(secs("30"), 1_800);
        assert_eq!(secs("90"), 5_400);
        assert_eq!(secs("5:30"), 330);
        assert_eq!(secs("2:00:00"), 7_200);
        assert_eq!(secs("36:00:00"), 129_600);
        assert_eq!(secs("1-0"), 86_400);
        assert_eq!(secs("1-2:30"), 95_400);
        assert_eq!(secs("2-03:04:05"), 2 * 86_400 + 3 * 3_600 + 4 * 60 + 5);
        assert_eq!(" 7 ".parse::<TimeLimit>().unwrap(), TimeLimit::Seconds(420));
        for unlimited in ["UNLIMITED", "infinite", "0", "0:00"] {
            assert_eq!(
                unlimited.parse::<TimeLimit>().unwrap(),
                TimeLimit::Unlimited,
                "{unlimited}"
            );
        }
    }

    #[test]
    fn bad_times_name_field_and_value() {
        for bad in [
            "",
            "abc",
            "1h",
            "1:2:3:4",
            "1-",
            "-5",
            "1-2-3",
            "5:60",
            "1:60:00",
            "1-24",
            "1-2:3:4:5",
            "1.5",
        ] {
            let e = bad.parse::<TimeLimit>().unwrap_err();
            assert_eq!(e.field, "time", "{bad}");
            assert_eq!(e.value, bad);
            assert!(
                e.to_string()
                    .starts_with(&format!("invalid time `{bad}`: ")),
                "{e}"
            );
        }
        assert!("99999999999999999999".parse::<TimeLimit>().is_err());
        assert!(
            "9999999999".parse::<TimeLimit>().is_err(),
            "more minutes than Slurm's 32 bits"
        );
    }

    #[test]
    fn time_displays_as_slurm_reads_it_and_round_trips() {
        for (input, shown) in [
            ("90", "0-01:30:00"),
            ("2-03:04:05", "2-03:04:05"),
            ("0:30", "0-00:00:30"),
            ("UNLIMITED", "UNLIMITED"),
        ] {
            let t: TimeLimit = input.parse().unwrap();
            assert_eq!(t.to_string(), shown);
            assert_eq!(shown.parse::<TimeLimit>().unwrap(), t);
        }
    }

    #[test]
    fn memory_units() {
        let mib = |s: &str| s.parse::<Memory>().unwrap().mebibytes();
        assert_eq!(mib("512"), 512);
        assert_eq!(mib("512M"), 512);
        assert_eq!(mib("4G"), 4_096);
        assert_eq!(mib("4g"), 4_096);
        assert_eq!(mib("1T"), 1 << 20);
        assert_eq!(mib("1K"), 1);
        assert_eq!(mib("2049K"), 3);
        assert_eq!(mib("0"), 0);
        assert_eq!("4G".parse::<Memory>().unwrap().to_string(), "4096M");
        for bad in [
            "",
            "G",
            "4X",
            "4GB",
            "1.5G",
            "-1",
            "4 G",
            "99999999999999999999",
            "99999999999999T",
        ] {
            let e = bad.parse::<Memory>().unwrap_err();
            assert_eq!((e.field, e.value.as_str()), ("mem", bad));
        }
    }

    #[test]
    fn gres_and_partition_syntax() {
        for good in [
            "gpu",
            "gpu:1",
            "gpu:a100:2",
            "gpu:tesla-v100.32g:1",
            "gpu:1,shard:2",
            "mps:100",
        ] {
            assert_eq!(good.parse::<Gres>().unwrap().as_str(), good);
        }
        for bad in [
            "",
            "gpu:",
            ":1",
            "gpu:0",
            "gpu:a:b",
            "gpu:a:1:2",
            "gpu 1",
            "1gpu",
            "gpu:1,",
            "gpu;1",
        ] {
            let e = bad.parse::<Gres>().unwrap_err();
            assert_eq!((e.field, e.value.as_str()), ("gres", bad));
        }
        for good in ["main", "gpu-a100", "short,long", "p.1_x"] {
            assert_eq!(good.parse::<Partition>().unwrap().as_str(), good);
        }
        for bad in ["", "a b", "a,", ",", "a;b", "$(x)"] {
            assert_eq!(bad.parse::<Partition>().unwrap_err().field, "partition");
        }
    }

    #[test]
    fn sbatch_options_in_fixed_order() {
        let r = Resources {
            partition: Some("main".parse().unwrap()),
            time: Some("1:00:00".parse().unwrap()),
            mem: Some("2G".parse().unwrap()),
            cpus_per_task: NonZeroU32::new(4),
            gres: Some("gpu:1".parse().unwrap()),
        };
        assert_eq!(
            r.sbatch_args(),
            [
                "--partition=main",
                "--time=0-01:00:00",
                "--mem=2048M",
                "--cpus-per-task=4",
                "--gres=gpu:1"
            ]
        );
        assert!(Resources::default().sbatch_args().is_empty());
    }

    #[test]
    fn or_fills_only_missing_fields() {
        let kind = Resources {
            partition: Some("gpu".parse().unwrap()),
            time: Some("60".parse().unwrap()),
            gres: Some("gpu:1".parse().unwrap()),
            ..Resources::default()
        };
        let stage = Resources {
            time: Some("10".parse().unwrap()),
            ..Resources::default()
        };
        let merged = stage.or(&kind);
        assert_eq!(merged.time, Some(TimeLimit::Seconds(600)));
        assert_eq!(merged.partition, kind.partition);
        assert_eq!(merged.gres, kind.gres);
        assert_eq!(merged.mem, None);
    }
}

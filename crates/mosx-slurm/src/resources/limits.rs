//! The numeric resources: a job's [`TimeLimit`] (`--time`) and its [`Memory`] (`--mem`),
//! parsed from Slurm's formats and displayed in a form Slurm reads back to the same value.
//!
//! Invariants:
//! * A time limit is whole seconds, at least one, or unlimited (zero parses as unlimited);
//!   components after the first are range-checked, and a limit beyond Slurm's 32-bit
//!   minutes is rejected.
//! * Memory is whole mebibytes (kibibytes round up); units are powers of 1024; an overflow
//!   is an error, never a wrap.

use std::fmt;
use std::str::FromStr;

use super::ResourceError;

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
}

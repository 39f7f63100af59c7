//! The named resources: generic resources [`Gres`] (`--gres`) and the [`Partition`]
//! (`--partition`), validated strings kept as given (trimmed).
//!
//! Invariants:
//! * A value holds only the characters its grammar allows, so it can be passed to
//!   `sbatch` as one argument without quoting.
//! * A gres count is at least 1; a partition list has no empty name.

use std::fmt;
use std::str::FromStr;

use super::ResourceError;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}

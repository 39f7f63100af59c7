//! serde for the resource values: each serializes as its display string and deserializes
//! from a string through `FromStr` (so deserializing validates); a time limit also from a
//! plain number of minutes, a memory size from a number of mebibytes.
//!
//! Invariants:
//! * A value serializes to a string that deserializes to the same value.
//! * A negative number is an invalid value, not wrapped; a number where only a string is
//!   meant (gres, partition) is an invalid type.

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use super::{Gres, Memory, Partition, ResourceError, TimeLimit};

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

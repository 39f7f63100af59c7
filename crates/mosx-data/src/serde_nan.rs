//! Serde helpers that write NaN floats as `null` and read `null` back as NaN, so that
//! stereotype tables survive a JSON round trip (JSON has no NaN). Invariant: finite values
//! and infinities other than NaN are written unchanged.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) mod vec {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let o: Vec<Option<f64>> = v.iter().map(|x| (!x.is_nan()).then_some(*x)).collect();
        o.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let o: Vec<Option<f64>> = Vec::deserialize(d)?;
        Ok(o.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
    }
}

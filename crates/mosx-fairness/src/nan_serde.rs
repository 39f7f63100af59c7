//! serde helpers: NaN is written as `null` and `null` is read back as NaN, so undefined
//! metrics survive a JSON round trip (serde_json otherwise refuses `null` for an f64).

pub(crate) mod scalar {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        (if x.is_nan() { None } else { Some(*x) }).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

pub(crate) mod matrix {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(m: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
        let opt: Vec<Vec<Option<f64>>> = m
            .iter()
            .map(|row| {
                row.iter()
                    .map(|&x| if x.is_nan() { None } else { Some(x) })
                    .collect()
            })
            .collect();
        opt.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
        let opt = Vec::<Vec<Option<f64>>>::deserialize(d)?;
        Ok(opt
            .into_iter()
            .map(|row| row.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
            .collect())
    }
}

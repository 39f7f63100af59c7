//! Stage outputs and the typed view of a stage's inputs.
//!
//! Artifacts travel between stages as bytes through the store (bincode for Rust
//! values, tagged `bincode:<type>`), so a result read back from the cache is the
//! same value a fresh run would hand downstream. Decoded inputs are memoised per
//! process by (key, artifact) through `ArtifactSource`.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use mosx_store::Artifact;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::declared::{ArtifactRef, Format, SlotRef};
use crate::kind::StageError;

/// Decoded value shared between the stages that read it.
pub type Shared = Arc<dyn Any + Send + Sync>;
/// Turns artifact bytes into a decoded value.
pub type Decoder<'d> = &'d dyn Fn(&[u8]) -> Result<Shared, String>;

/// Where inputs come from: the executor's store plus its in-process memo.
pub trait ArtifactSource: Send + Sync {
    fn load(&self, key: &str, artifact: &str, decode: Decoder<'_>) -> Result<Shared, String>;
}

/// The upstream stages of a running stage, by slot name.
pub struct Inputs<'a> {
    pub slots: &'a BTreeMap<String, String>,
    pub source: &'a dyn ArtifactSource,
}

impl Inputs<'_> {
    /// The upstream key bound to `slot`.
    pub fn key(&self, slot: &str) -> Result<&str, StageError> {
        self.slots
            .get(slot)
            .map(String::as_str)
            .ok_or_else(|| StageError::Input {
                slot: slot.to_string(),
                message: "not connected".into(),
            })
    }

    /// Artifact `a` (bincode or JSON) of the stage bound to `slot`, decoded as its type.
    pub fn read<T>(&self, slot: SlotRef, a: &ArtifactRef<T>) -> Result<Arc<T>, StageError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        debug_assert!(slot.carries(a), "slot `{}` does not carry {a:?}", slot.name);
        match a.format {
            Format::Bincode(_) => self.get(slot.name, a.name),
            Format::Json => self.json(slot.name, a.name).map(Arc::new),
            Format::Csv | Format::Raw(_) => Err(StageError::Input {
                slot: slot.name.into(),
                message: format!("artifact `{}` is bytes, not a value", a.name),
            }),
        }
    }

    /// The bytes of artifact `a` (CSV, safetensors) of the stage bound to `slot`.
    pub fn read_bytes(
        &self,
        slot: SlotRef,
        a: &ArtifactRef<Vec<u8>>,
    ) -> Result<Arc<Vec<u8>>, StageError> {
        debug_assert!(slot.carries(a), "slot `{}` does not carry {a:?}", slot.name);
        self.bytes(slot.name, a.name)
    }

    /// Whether `slot` is bound (an optional slot the spec left out is not).
    pub fn has(&self, slot: SlotRef) -> bool {
        self.slots.contains_key(slot.name)
    }

    /// The bincode artifact `artifact` of the stage bound to `slot`, decoded as `T`.
    fn get<T>(&self, slot: &str, artifact: &str) -> Result<Arc<T>, StageError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let key = self.key(slot)?;
        let decode = |bytes: &[u8]| -> Result<Shared, String> {
            let v: T = bincode::deserialize(bytes).map_err(|e| format!("cannot decode: {e}"))?;
            Ok(Arc::new(v) as Shared)
        };
        let any = self
            .source
            .load(key, artifact, &decode)
            .map_err(|message| StageError::Input {
                slot: slot.into(),
                message: format!("artifact `{artifact}`: {message}"),
            })?;
        any.downcast::<T>().map_err(|_| StageError::Input {
            slot: slot.into(),
            message: format!("artifact `{artifact}` has another type than expected"),
        })
    }
}

impl Inputs<'_> {
    /// The raw bytes of artifact `artifact` of the stage bound to `slot` (safetensors, JSON).
    fn bytes(&self, slot: &str, artifact: &str) -> Result<Arc<Vec<u8>>, StageError> {
        let key = self.key(slot)?;
        let decode =
            |bytes: &[u8]| -> Result<Shared, String> { Ok(Arc::new(bytes.to_vec()) as Shared) };
        let any = self
            .source
            .load(key, artifact, &decode)
            .map_err(|message| StageError::Input {
                slot: slot.into(),
                message: format!("artifact `{artifact}`: {message}"),
            })?;
        any.downcast::<Vec<u8>>().map_err(|_| StageError::Input {
            slot: slot.into(),
            message: format!("artifact `{artifact}` was decoded as another type"),
        })
    }

    /// A JSON artifact of the stage bound to `slot`, parsed as `T`.
    fn json<T: DeserializeOwned>(&self, slot: &str, artifact: &str) -> Result<T, StageError> {
        let bytes = self.bytes(slot, artifact)?;
        serde_json::from_slice(&bytes).map_err(|e| StageError::Input {
            slot: slot.into(),
            message: format!("artifact `{artifact}`: invalid JSON: {e}"),
        })
    }
}

/// What a stage produced: artifacts and scalar metrics.
#[derive(Default)]
pub struct Output {
    pub artifacts: Vec<Artifact>,
    pub metrics: Vec<(String, f64)>,
}

impl Output {
    /// Add artifact `a` (bincode or JSON) holding `value`.
    pub fn write<T: Serialize>(&mut self, a: &ArtifactRef<T>, value: &T) -> Result<(), StageError> {
        match a.format {
            Format::Bincode(tag) => self.put(a.name, tag, value),
            Format::Json => self.put_json(a.name, value),
            Format::Csv | Format::Raw(_) => Err(StageError::Encode {
                artifact: a.name.into(),
                message: "declared as bytes, written as a value".into(),
            }),
        }
    }

    /// Add artifact `a` as the bytes given (in the format it declares).
    pub fn write_bytes(&mut self, a: &ArtifactRef<Vec<u8>>, bytes: Vec<u8>) {
        self.artifacts.push(Artifact {
            name: a.name.into(),
            format: a.format.recorded(),
            bytes,
        });
    }

    /// Add a table as the CSV artifact `a`.
    pub fn write_table(&mut self, a: &ArtifactRef<Vec<u8>>, table: &dyn mosx_data::Tabular) {
        debug_assert_eq!(a.format, Format::Csv, "{a:?} is not a table");
        self.write_bytes(a, crate::table_io::to_csv(table));
    }

    /// Add a Rust value as a bincode artifact tagged `bincode:<type_tag>`.
    fn put<T: Serialize>(
        &mut self,
        name: &str,
        type_tag: &str,
        value: &T,
    ) -> Result<(), StageError> {
        let bytes = bincode::serialize(value).map_err(|e| StageError::Encode {
            artifact: name.to_string(),
            message: e.to_string(),
        })?;
        self.artifacts.push(Artifact {
            name: name.into(),
            format: format!("bincode:{type_tag}"),
            bytes,
        });
        Ok(())
    }

    /// Add a JSON artifact.
    fn put_json<T: Serialize>(&mut self, name: &str, value: &T) -> Result<(), StageError> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| StageError::Encode {
            artifact: name.to_string(),
            message: e.to_string(),
        })?;
        self.artifacts.push(Artifact {
            name: name.into(),
            format: "json".into(),
            bytes,
        });
        Ok(())
    }

    pub fn metric(&mut self, name: impl Into<String>, value: f64) {
        self.metrics.push((name.into(), value));
    }
}

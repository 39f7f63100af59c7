//! Artifacts and slots as their producing stage kinds declare them: an [`ArtifactRef`] names
//! the kinds that write it, the artifact's name, its format and its Rust type; a
//! [`SlotRef`] names an input slot of a consuming kind and the artifacts read through it.
//! Stages write and read artifacts only through these references
//! ([`Output::write`](crate::Output::write), [`Inputs::read`](crate::Inputs::read)), so an
//! artifact's name, format and type are written once (in `mosx-kinds`' catalogue), and a
//! slot's producers are those of the artifacts it reads.
//!
//! Invariants:
//! * A reference's `producers` are kind names, each of which writes the artifact (that the
//!   names are registered kinds is checked by `mosx-kinds`' catalogue test).
//! * The type parameter is the decoded type: `Bincode` and `Json` artifacts decode to `T`;
//!   `Raw` and `Csv` artifacts are bytes (`T = Vec<u8>`).

use std::marker::PhantomData;

/// How an artifact's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// bincode of a Rust value, tagged `bincode:<tag>` in the store.
    Bincode(&'static str),
    /// Pretty-printed JSON.
    Json,
    /// A table as CSV (`mosx export`'s default).
    Csv,
    /// Bytes in a format the producer names (e.g. `safetensors`).
    Raw(&'static str),
}

impl Format {
    /// The format string recorded in the store.
    pub fn recorded(self) -> String {
        match self {
            Format::Bincode(tag) => format!("bincode:{tag}"),
            Format::Json => "json".into(),
            Format::Csv => "csv".into(),
            Format::Raw(f) => f.into(),
        }
    }
}

/// An artifact of the stages of kinds `producers`, decoded as `T`.
pub struct ArtifactRef<T: ?Sized> {
    pub producers: &'static [&'static str],
    pub name: &'static str,
    pub format: Format,
    marker: PhantomData<fn() -> T>,
}

impl<T: ?Sized> ArtifactRef<T> {
    /// A bincode artifact named `name`, with type tag `tag`.
    pub const fn bincode(
        producers: &'static [&'static str],
        name: &'static str,
        tag: &'static str,
    ) -> Self {
        Self::new(producers, name, Format::Bincode(tag))
    }

    /// A JSON artifact named `name`.
    pub const fn json(producers: &'static [&'static str], name: &'static str) -> Self {
        Self::new(producers, name, Format::Json)
    }

    const fn new(producers: &'static [&'static str], name: &'static str, format: Format) -> Self {
        ArtifactRef {
            producers,
            name,
            format,
            marker: PhantomData,
        }
    }
}

impl ArtifactRef<Vec<u8>> {
    /// A CSV table named `name`.
    pub const fn csv(producers: &'static [&'static str], name: &'static str) -> Self {
        Self::new(producers, name, Format::Csv)
    }

    /// Bytes named `name` in format `format` (e.g. `safetensors`).
    pub const fn raw(
        producers: &'static [&'static str],
        name: &'static str,
        format: &'static str,
    ) -> Self {
        Self::new(producers, name, Format::Raw(format))
    }
}

impl<T: serde::de::DeserializeOwned> ArtifactRef<T> {
    /// The value in `bytes` (as read from the store), for readers outside a stage (reports,
    /// `mosx export`); the message names the artifact.
    pub fn decode(&self, bytes: &[u8]) -> Result<T, String> {
        let decoded = match self.format {
            Format::Bincode(_) => bincode::deserialize(bytes).map_err(|e| e.to_string()),
            Format::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
            Format::Csv | Format::Raw(_) => Err("it is bytes, not a value".into()),
        };
        decoded.map_err(|e| format!("cannot decode `{}`: {e}", self.name))
    }
}

// Copy and Clone by hand: the derives would ask `T: Copy`.
impl<T: ?Sized> Clone for ArtifactRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ?Sized> Copy for ArtifactRef<T> {}

impl<T: ?Sized> std::fmt::Debug for ArtifactRef<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {}", self.name, self.producers.join("|"))
    }
}

/// An input slot: its name, and the kinds whose stages can be bound to it (the producers of
/// the artifacts read through it).
#[derive(Debug, Clone, Copy)]
pub struct SlotRef {
    pub name: &'static str,
    pub producers: &'static [&'static str],
}

impl SlotRef {
    /// The slot `name` that reads artifact `reads` (and any other artifact of the same
    /// producers).
    pub const fn reading<T: ?Sized>(name: &'static str, reads: &ArtifactRef<T>) -> Self {
        SlotRef {
            name,
            producers: reads.producers,
        }
    }

    /// Whether `artifact` comes from every kind this slot can be bound to.
    pub fn carries<T: ?Sized>(&self, artifact: &ArtifactRef<T>) -> bool {
        self.producers
            .iter()
            .all(|p| artifact.producers.contains(p))
    }
}

//! mosx-data: dataset readers (MovieLens-100K in the RecBole or GroupLens layout,
//! BookCrossing), window sampling, train/valid/test splits and stereotype measurement
//! (METHOD.md §1-§2). Pure Rust: no tch, no store.
//!
//! Pipeline: [`load`] → [`sample`] → [`split()`] → [`measure`]; every step is deterministic
//! given its seed, whatever the number of threads. [`source_files`] lists the raw files for
//! content hashing; [`raw_counts`] gives the raw files' row counts before filtering.
//!
//! BookCrossing note: `load` drops ratings whose ISBN is missing from `BX-Books.csv` (a
//! prompt needs the title) and users outside `[min_age, max_age]` or with a NULL age.

mod assemble;
mod bookcrossing;
mod delimited;
mod error;
mod idtable;
mod layout;
mod load;
mod measure;
mod movielens;
mod quoted;
mod sample;
mod serde_nan;
mod split;
mod table;
mod text;
mod types;

pub use bookcrossing::ADULT_AGE;
pub use error::DataError;
pub use layout::{dataset_kind, source_files};
pub use load::{load, raw_counts};
pub use measure::{
    degree, degree_with_totals, measure, Degree, ItemStereotype, MeasureOptions, Stereotypes,
};
pub use sample::{sample, DataPoint, GroupRatio, SampleOptions, SampleStats, Sequences};
pub use split::{split, Split, SplitBy, SplitOptions};
pub use table::{item_table, sequence_table, ItemTable, SequenceTable, Table, Tabular};
pub use types::{Dataset, DatasetKind, Implicit, Interaction, Item, LoadOptions, RawCounts, User};

//! mosx-data: dataset readers (RecBole atomic files of any dataset, GroupLens
//! MovieLens-100K and MovieLens-1M, BookCrossing) with user groups chosen by `group_by`
//! (any number of groups), window sampling, train/valid/test splits and stereotype measurement
//! (METHOD.md §1-§2). Pure Rust: no tch, no store.
//!
//! Pipeline: [`load`] → [`sample`] → [`split()`] → [`measure`]; every step is deterministic
//! given its seed, whatever the number of threads. [`source_files`] lists the raw files for
//! content hashing; [`raw_counts`] gives the raw files' row counts before filtering;
//! [`group_names`] gives the groups a load would make, reading at most the user file.
//!
//! BookCrossing note: `load` drops ratings whose ISBN is missing from `BX-Books.csv` (a
//! prompt needs the title) and users outside `[min_age, max_age]` or with a NULL age.

mod assemble;
mod bookcrossing;
mod candidates;
mod delimited;
mod error;
mod grouping;
mod idtable;
mod layout;
mod load;
mod measure;
mod ml1m;
mod movielens;
mod quoted;
mod recbole;
mod sample;
mod serde_nan;
mod split;
mod table;
mod text;
mod types;

pub use bookcrossing::ADULT_AGE;
pub use candidates::{sample_candidates, CandidateList, Candidates};
pub use error::DataError;
pub use grouping::{Bins, GroupBy};
pub use layout::{dataset_kind, source_files};
pub use load::{group_names, load, load_with_counts, raw_counts, raw_counts_with};
pub use measure::{
    degree, degree_with_totals, measure, Degree, ItemStereotype, MeasureOptions, Stereotypes,
};
pub use sample::{sample, DataPoint, GroupRatio, SampleOptions, SampleStats, Sequences};
pub use split::{split, Split, SplitBy, SplitOptions};
pub use table::{item_table, sequence_table, ItemTable, SequenceTable, Table, Tabular};
pub use types::{Dataset, DatasetKind, Implicit, Interaction, Item, LoadOptions, RawCounts, User};

//! mosx: declarative, cached experiment orchestration for studies of
//! stereotype-aware unfairness in LLM-based recommenders.
//!
//! Pipeline of modules (dependencies point one way):
//! `cli` → {`plan`, `exec`, `report`} → `stages` → {`predictions`, `backbones`, `prompt`,
//! mosx-data, mosx-fairness, mosx-methods → mosx-models} → tch. No stage imports another. The store (`mosx-store`) is reached only through its trait.

pub mod backbones;
pub mod cli;
pub mod device;
pub mod exec;
pub mod plan;
pub mod predictions;
pub mod prompt;
pub mod provenance;
pub mod report;
pub mod stages;
pub mod table_io;
pub mod trained;

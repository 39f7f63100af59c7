//! Stage `load`: read a dataset folder (MovieLens-100K in the GroupLens or RecBole
//! layout, or BookCrossing) into a `mosx_data::Dataset`.
//!
//! The folder path is a location, not a parameter of the result: the key holds the
//! content hashes of the files the reader uses, so moving the folder keeps the cache.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_data::{Implicit, LoadOptions};

use crate::artifacts::{self, ARTIFACTS_UNIT};
use mosx_stage::{params, ExternalFile, Output, ParamError, Slot, StageCtx, StageError, StageKind};

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Folder holding the raw files.
    path: String,
    /// BookCrossing: users kept when min_age <= age <= max_age (METHOD.md §1).
    #[serde(default = "default_min_age")]
    min_age: u32,
    #[serde(default = "default_max_age")]
    max_age: u32,
    /// BookCrossing: keep the implicit 0-ratings as negatives, or drop them.
    #[serde(default = "default_implicit")]
    implicit: Implicit,
}
fn default_min_age() -> u32 {
    LoadOptions::default().min_age
}
fn default_max_age() -> u32 {
    LoadOptions::default().max_age
}
fn default_implicit() -> Implicit {
    LoadOptions::default().implicit
}

/// The kind's name in specs (`kind: load`).
pub const NAME: &str = "load";

pub struct Load;

impl StageKind for Load {
    fn name(&self) -> &'static str {
        NAME
    }
    fn code_version(&self) -> u32 {
        1
    }
    fn code(&self) -> &'static [&'static str] {
        &["mosx-data", "crates/mosx-kinds/src/load.rs", ARTIFACTS_UNIT]
    }
    fn about(&self) -> &'static str {
        "read MovieLens-100K or BookCrossing from a folder"
    }
    fn slots(&self) -> &'static [Slot] {
        &[]
    }
    fn normalize(&self, p: &serde_json::Map<String, Value>) -> Result<Value, ParamError> {
        let (typed, v) = params::parse::<Params>(p)?;
        if typed.min_age > typed.max_age {
            return Err(ParamError {
                field: "min_age".into(),
                message: format!(
                    "must be <= max_age (got {} > {}): no user would be kept",
                    typed.min_age, typed.max_age
                ),
                suggestion: None,
            });
        }
        Ok(v)
    }
    fn metrics(&self) -> &'static [&'static str] {
        &["users", "items", "interactions", "users.{group}"]
    }
    fn groups(&self, p: &Value) -> Option<Vec<String>> {
        let path = p.get("path").and_then(Value::as_str)?;
        let kind = mosx_data::dataset_kind(std::path::Path::new(path)).ok()?;
        Some(kind.group_names())
    }
    fn key_params(&self, p: &Value) -> Value {
        let mut p = p.clone();
        if let Some(o) = p.as_object_mut() {
            o.remove("path");
        }
        p
    }
    fn external_files(
        &self,
        p: &Value,
        _project: &mosx_stage::Project,
    ) -> Result<Vec<ExternalFile>, StageError> {
        let p: Params = params::typed(p)?;
        let files = mosx_data::source_files(std::path::Path::new(&p.path)).map_err(|e| {
            StageError::Param {
                field: "path".into(),
                at: None,
                message: e.to_string(),
            }
        })?;
        Ok(files
            .into_iter()
            .map(|path| {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                ExternalFile { name, path }
            })
            .collect())
    }
    fn run(&self, ctx: &StageCtx<'_>) -> Result<Output, StageError> {
        let p: Params = params::typed(ctx.params)?;
        let opts = LoadOptions {
            min_age: p.min_age,
            max_age: p.max_age,
            implicit: p.implicit,
        };
        let ds = mosx_data::load(std::path::Path::new(&p.path), &opts)
            .map_err(|e| ctx.data_error(e, |_| None))?;
        let mut out = Output::default();
        out.metric("users", ds.users.len() as f64);
        out.metric("items", ds.items.len() as f64);
        out.metric("interactions", ds.interactions.len() as f64);
        let mut per_group = vec![0usize; ds.groups.len()];
        for u in &ds.users {
            if let Some(c) = per_group.get_mut(u.group as usize) {
                *c += 1;
            }
        }
        for (g, n) in ds.groups.iter().zip(per_group) {
            out.metric(format!("users.{g}"), n as f64);
        }
        out.write(&artifacts::DATASET, &ds)?;
        Ok(out)
    }
}

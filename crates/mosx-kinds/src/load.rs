//! Stage `load`: read a dataset folder (RecBole atomic files of any dataset, GroupLens
//! MovieLens-100K or -1M, or BookCrossing) into a `mosx_data::Dataset`, its user groups
//! chosen by `group_by`.
//!
//! The folder path is a location, not a parameter of the result: the key holds the
//! content hashes of the files the reader uses, so moving the folder keeps the cache.
//! `group_by` and `title` are left out of the normalised params when not given, so the
//! params (and keys) of specs that do not use them are those they had before.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use mosx_data::{DataError, GroupBy, Implicit, LoadOptions};

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
    /// User groups: a user-file field (one group per distinct value, sorted) or
    /// `{field, bins, labels}` (left-closed numeric bins); absent: the dataset's own
    /// (MovieLens gender male/female, BookCrossing adult/teen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group_by: Option<GroupBy>,
    /// RecBole atomic files: the item field holding the title; absent: the first field
    /// whose name contains `title`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
}

impl Params {
    fn options(&self) -> LoadOptions {
        LoadOptions {
            min_age: self.min_age,
            max_age: self.max_age,
            implicit: self.implicit,
            group_by: self.group_by.clone(),
            title: self.title.clone(),
        }
    }
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
        "read RecBole atomic files, MovieLens-100K/-1M or BookCrossing from a folder"
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
        if let Some(by) = &typed.group_by {
            by.check().map_err(|e| match e {
                DataError::InvalidOption { option, message } => ParamError {
                    field: option,
                    message,
                    suggestion: None,
                },
                other => ParamError {
                    field: "group_by".into(),
                    message: other.to_string(),
                    suggestion: None,
                },
            })?;
        }
        Ok(v)
    }
    fn metrics(&self) -> &'static [&'static str] {
        &[
            "users",
            "items",
            "interactions",
            "users.{group}",
            "untitled_items",
            "ungrouped_users",
        ]
    }
    fn groups(&self, p: &Value) -> Option<Vec<String>> {
        let p: Params = serde_json::from_value(p.clone()).ok()?;
        mosx_data::group_names(std::path::Path::new(&p.path), &p.options()).ok()
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
        let (ds, raw) = mosx_data::load_with_counts(std::path::Path::new(&p.path), &p.options())
            .map_err(|e| ctx.data_error(e, |_| None))?;
        let mut out = Output::default();
        out.metric("untitled_items", raw.untitled_items as f64);
        out.metric("ungrouped_users", raw.ungrouped_users as f64);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn normalize(json: &str) -> Result<Value, ParamError> {
        let Value::Object(m) = serde_json::from_str(json).unwrap() else {
            unreachable!()
        };
        Load.normalize(&m)
    }

    #[test]
    fn params_without_group_by_or_title_normalise_as_before_them() {
        let v = normalize(r#"{"path": "data/ml-100k"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"path":"data/ml-100k","min_age":5,"max_age":100,"implicit":"keep"}"#
        );
    }

    #[test]
    fn group_by_is_parsed_strictly_and_checked_at_plan_time() {
        let v =
            normalize(r#"{"path": "d", "group_by": {"field": "age", "bins": [18, 25]}}"#).unwrap();
        assert_eq!(v["group_by"]["bins"], serde_json::json!([18.0, 25.0]));
        let e = normalize(r#"{"path": "d", "group_by": {"field": "age", "bins": [25, 18]}}"#)
            .unwrap_err();
        assert_eq!(e.field, "group_by.bins", "{e}");
        let e =
            normalize(r#"{"path": "d", "group_by": {"field": "age", "edges": [18]}}"#).unwrap_err();
        assert!(e.to_string().contains("edges"), "{e}");
        let e = normalize(r#"{"path": "d", "group_by": 3}"#).unwrap_err();
        assert!(e.field.contains("group_by"), "{e}");
    }
}

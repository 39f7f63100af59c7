//! `full`'s config (it has no fields): every backbone weight trains. The method is
//! mosx-methods' `methods::full`, whose module note describes it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{parse_config, Entry};
use crate::method_error::MethodError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}
const FIELDS: &[&str] = &[];

pub const ENTRY: Entry = Entry {
    name: "full",
    about: "every backbone weight trains",
    fields: FIELDS,
    normalize,
    default_lr: 1e-5,
    default_objective: crate::objective::Objective::Rec,
    modifies_backbone: true,
};

fn normalize(m: &Map<String, Value>) -> Result<Value, MethodError> {
    parse_config::<Config>("full", FIELDS, m).map(|(_, v)| v)
}

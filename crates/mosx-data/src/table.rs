//! Tabular views for export (CSV/Parquet writers live elsewhere). Invariants: every row has
//! exactly `columns().len()` values; per-group columns are named `<what>_<group>` in group
//! order; lists (history, ratings, member groups) are joined by `|`; NaN becomes null.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::measure::Stereotypes;
use crate::sample::Sequences;
use crate::split::Split;
use crate::types::Dataset;

/// A table: column names and rows of JSON values.
pub trait Tabular {
    fn columns(&self) -> Vec<String>;
    fn rows(&self) -> Box<dyn Iterator<Item = Vec<Value>> + '_>;
}

fn join<T: ToString>(xs: impl IntoIterator<Item = T>) -> String {
    xs.into_iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join("|")
}

fn per_group<'a>(what: &str, groups: &'a [String]) -> impl Iterator<Item = String> + 'a {
    let what = what.to_string();
    groups.iter().map(move |g| format!("{what}_{g}"))
}

fn member_names(groups: &[String], member: &[bool]) -> String {
    join(
        groups
            .iter()
            .zip(member)
            .filter(|(_, &m)| m)
            .map(|(g, _)| g),
    )
}

/// Index-level view of the points: index, user, history (item indices), history_ratings,
/// target, target_rating, label. [`sequence_table`] adds ids, groups and titles.
impl Tabular for Sequences {
    fn columns(&self) -> Vec<String> {
        [
            "index",
            "user",
            "history",
            "history_ratings",
            "target",
            "target_rating",
            "label",
        ]
        .map(String::from)
        .to_vec()
    }

    fn rows(&self) -> Box<dyn Iterator<Item = Vec<Value>> + '_> {
        Box::new(self.points.iter().enumerate().map(|(k, p)| {
            vec![
                Value::from(k),
                Value::from(p.user),
                Value::from(join(&p.history)),
                Value::from(join(&p.history_ratings)),
                Value::from(p.target),
                Value::from(p.target_rating as f64),
                Value::from(p.label),
            ]
        }))
    }
}

/// Columns index, split (train/valid/test), rows in point order.
impl Tabular for Split {
    fn columns(&self) -> Vec<String> {
        vec!["index".into(), "split".into()]
    }

    fn rows(&self) -> Box<dyn Iterator<Item = Vec<Value>> + '_> {
        let mut all: Vec<(u32, &'static str)> = self
            .parts()
            .iter()
            .flat_map(|(name, idx)| idx.iter().map(move |&k| (k, *name)))
            .collect();
        all.sort_unstable();
        Box::new(
            all.into_iter()
                .map(|(k, name)| vec![Value::from(k), Value::from(name)]),
        )
    }
}

/// Columns item, count_<g>, degree_<g>, z_<g>, group (member group names joined by `|`).
impl Tabular for Stereotypes {
    fn columns(&self) -> Vec<String> {
        let mut c = vec!["item".to_string()];
        for what in ["count", "degree", "z"] {
            c.extend(per_group(what, &self.groups));
        }
        c.push("group".into());
        c
    }

    fn rows(&self) -> Box<dyn Iterator<Item = Vec<Value>> + '_> {
        Box::new(self.items.iter().map(|s| {
            let mut r = vec![Value::from(s.item)];
            r.extend(s.counts.iter().map(|&c| Value::from(c)));
            r.extend(s.degree.iter().map(|&d| Value::from(d)));
            r.extend(s.z.iter().map(|&z| Value::from(z)));
            r.push(Value::from(member_names(&self.groups, &s.member)));
            r
        }))
    }
}

/// An owned table (column names and rows).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Tabular for Table {
    fn columns(&self) -> Vec<String> {
        self.columns.clone()
    }

    fn rows(&self) -> Box<dyn Iterator<Item = Vec<Value>> + '_> {
        Box::new(self.rows.iter().cloned())
    }
}

/// Per-item stereotype table with ids and titles.
pub type ItemTable = Table;
/// Per-point table with user ids, groups, item ids and the target title.
pub type SequenceTable = Table;

/// Columns item, item_id, title, count_<g>, degree_<g>, z_<g>, group (member group names
/// joined by `|`, empty for neutral items).
pub fn item_table(ds: &Dataset, st: &Stereotypes) -> ItemTable {
    let mut columns = vec!["item".to_string(), "item_id".into(), "title".into()];
    for what in ["count", "degree", "z"] {
        columns.extend(per_group(what, &st.groups));
    }
    columns.push("group".into());
    let rows = st
        .items
        .iter()
        .map(|s| {
            let item = ds.items.get(s.item as usize);
            let mut r = vec![
                Value::from(s.item),
                Value::from(item.map_or("", |x| x.id.as_str())),
                Value::from(item.map_or("", |x| x.title.as_str())),
            ];
            r.extend(s.counts.iter().map(|&c| Value::from(c)));
            r.extend(s.degree.iter().map(|&d| Value::from(d)));
            r.extend(s.z.iter().map(|&z| Value::from(z)));
            r.push(Value::from(member_names(&st.groups, &s.member)));
            r
        })
        .collect();
    Table { columns, rows }
}

/// Columns index, user, user_id, group, history (item ids joined by `|`), history_ratings,
/// target, target_id, target_title, target_rating, label.
pub fn sequence_table(ds: &Dataset, seq: &Sequences) -> SequenceTable {
    let columns = [
        "index",
        "user",
        "user_id",
        "group",
        "history",
        "history_ratings",
        "target",
        "target_id",
        "target_title",
        "target_rating",
        "label",
    ]
    .map(String::from)
    .to_vec();
    let item_id = |i: u32| ds.items.get(i as usize).map_or("", |x| x.id.as_str());
    let rows = seq
        .points
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let user = ds.users.get(p.user as usize);
            let group = user
                .and_then(|u| seq.groups.get(u.group as usize))
                .map_or("", |g| g.as_str());
            vec![
                Value::from(k),
                Value::from(p.user),
                Value::from(user.map_or("", |u| u.id.as_str())),
                Value::from(group),
                Value::from(join(p.history.iter().map(|&i| item_id(i)))),
                Value::from(join(&p.history_ratings)),
                Value::from(p.target),
                Value::from(item_id(p.target)),
                Value::from(
                    ds.items
                        .get(p.target as usize)
                        .map_or("", |x| x.title.as_str()),
                ),
                Value::from(p.target_rating as f64),
                Value::from(p.label),
            ]
        })
        .collect();
    Table { columns, rows }
}

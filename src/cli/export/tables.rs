//! The tables `mosx export` builds from bincode artifacts: a dataset's interactions, and
//! predictions joined with their points.

use mosx_data::{Dataset, Sequences, Stereotypes, Tabular};
use serde_json::Value;

use crate::predictions::Predictions;

/// Interactions of a dataset, as a table.
pub(super) struct Interactions<'a>(pub(super) &'a Dataset);

impl Tabular for Interactions<'_> {
    fn columns(&self) -> Vec<String> {
        ["user", "item", "rating", "timestamp", "user_group", "title"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
    fn rows(&self) -> Box<dyn Iterator<Item = Vec<Value>> + '_> {
        let ds = self.0;
        Box::new(ds.interactions.iter().map(move |x| {
            let u = &ds.users[x.user as usize];
            let it = &ds.items[x.item as usize];
            vec![
                Value::from(u.id.clone()),
                Value::from(it.id.clone()),
                Value::from(x.rating as f64),
                x.timestamp.map(Value::from).unwrap_or(Value::Null),
                Value::from(ds.groups.get(u.group as usize).cloned().unwrap_or_default()),
                Value::from(it.title.clone()),
            ]
        }))
    }
}

/// Predictions joined with their points: one row per scored point.
pub(super) struct PredictionTable<'a> {
    pub(super) preds: &'a Predictions,
    pub(super) seq: &'a Sequences,
    pub(super) ds: &'a Dataset,
    pub(super) st: Option<&'a Stereotypes>,
}

impl Tabular for PredictionTable<'_> {
    fn columns(&self) -> Vec<String> {
        let mut c: Vec<String> = [
            "index",
            "user",
            "user_group",
            "target",
            "title",
            "target_group",
            "label",
            "p_yes",
            "setting",
        ]
        .map(String::from)
        .to_vec();
        c.extend(self.ds.groups.iter().map(|g| format!("history_share_{g}")));
        c
    }
    fn rows(&self) -> Box<dyn Iterator<Item = Vec<Value>> + '_> {
        let setting = serde_json::to_value(self.preds.setting).unwrap_or(Value::Null);
        Box::new(self.preds.points.iter().map(move |pr| {
            let d = &self.seq.points[pr.index as usize];
            let u = &self.ds.users[d.user as usize];
            let it = &self.ds.items[d.target as usize];
            let (group, shares) = match self.st {
                Some(st) => {
                    let m = st.item_groups(d.target);
                    let names: Vec<&str> = m
                        .iter()
                        .zip(&st.groups)
                        .filter(|(b, _)| **b)
                        .map(|(_, g)| g.as_str())
                        .collect();
                    let group = if names.is_empty() {
                        "neutral".to_string()
                    } else {
                        names.join("|")
                    };
                    (
                        Value::from(group),
                        st.history_share(&d.history)
                            .into_iter()
                            .map(Value::from)
                            .collect::<Vec<_>>(),
                    )
                }
                None => (Value::Null, vec![Value::Null; self.ds.groups.len()]),
            };
            let mut row = vec![
                Value::from(pr.index),
                Value::from(u.id.clone()),
                Value::from(
                    self.ds
                        .groups
                        .get(u.group as usize)
                        .cloned()
                        .unwrap_or_default(),
                ),
                Value::from(it.id.clone()),
                Value::from(it.title.clone()),
                group,
                Value::from(d.label),
                Value::from(pr.p_yes),
                setting.clone(),
            ];
            row.extend(shares);
            row
        }))
    }
}

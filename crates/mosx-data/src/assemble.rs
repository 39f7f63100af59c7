//! Turns parsed rows into a `Dataset`. Invariants: only users and items with at least one
//! kept rating are kept, in the order of their profile/item file; kept ratings stay in the
//! rating file's row order; indices are dense `u32`.

use std::path::Path;

use crate::error::DataError;
use crate::types::{Dataset, DatasetKind, Interaction, Item, User};

/// A kept rating with row indices into the user and item files.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kept {
    pub user_row: u32,
    pub item_row: u32,
    pub rating: f32,
    pub timestamp: Option<i64>,
}

pub(crate) struct Meta {
    pub name: String,
    pub kind: DatasetKind,
    pub groups: Vec<String>,
    pub label_threshold: f32,
}

pub(crate) fn assemble(
    meta: Meta,
    user_rows: usize,
    item_rows: usize,
    kept: &[Kept],
    mut make_user: impl FnMut(usize) -> User,
    mut make_item: impl FnMut(usize) -> Item,
) -> Dataset {
    const NONE: u32 = u32::MAX;
    let mut user_index = vec![NONE; user_rows];
    let mut item_index = vec![NONE; item_rows];
    for k in kept {
        user_index[k.user_row as usize] = 0;
        item_index[k.item_row as usize] = 0;
    }
    let mut users = Vec::new();
    for (row, slot) in user_index.iter_mut().enumerate() {
        if *slot != NONE {
            *slot = users.len() as u32;
            users.push(make_user(row));
        }
    }
    let mut items = Vec::new();
    for (row, slot) in item_index.iter_mut().enumerate() {
        if *slot != NONE {
            *slot = items.len() as u32;
            items.push(make_item(row));
        }
    }
    let interactions = kept
        .iter()
        .map(|k| Interaction {
            user: user_index[k.user_row as usize],
            item: item_index[k.item_row as usize],
            rating: k.rating,
            timestamp: k.timestamp,
        })
        .collect();
    Dataset {
        name: meta.name,
        kind: meta.kind,
        groups: meta.groups,
        users,
        items,
        interactions,
        label_threshold: meta.label_threshold,
    }
}

/// Builds a `Malformed` error.
pub(crate) fn malformed(
    file: &Path,
    line: usize,
    column: usize,
    field: &str,
    message: impl Into<String>,
) -> DataError {
    DataError::Malformed {
        file: file.to_path_buf(),
        line,
        column,
        field: field.to_string(),
        message: message.into(),
    }
}

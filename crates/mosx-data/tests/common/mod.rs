//! Hand-built datasets shared by the tests.
#![allow(dead_code)]

use mosx_data::{Dataset, DatasetKind, Interaction, Item, User};

/// `rows`: (user, item, rating, timestamp); `groups`: group per user.
pub fn dataset(
    kind: DatasetKind,
    groups: &[&str],
    user_groups: &[u8],
    n_items: usize,
    rows: &[(u32, u32, f32, Option<i64>)],
) -> Dataset {
    Dataset {
        name: "toy".into(),
        kind,
        groups: groups.iter().map(|s| s.to_string()).collect(),
        users: user_groups
            .iter()
            .enumerate()
            .map(|(i, &g)| User {
                id: format!("u{i}"),
                group: g,
            })
            .collect(),
        items: (0..n_items)
            .map(|i| Item {
                id: format!("i{i}"),
                title: format!("Title {i}"),
            })
            .collect(),
        interactions: rows
            .iter()
            .map(|&(user, item, rating, timestamp)| Interaction {
                user,
                item,
                rating,
                timestamp,
            })
            .collect(),
        label_threshold: 3.0,
    }
}

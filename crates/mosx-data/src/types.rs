//! Loaded-dataset types. Invariants: `Interaction.user`/`.item` index `Dataset.users`/`.items`;
//! `User.group` indexes `Dataset.groups`; interactions keep the raw rating file's row order;
//! users and items are exactly those with at least one kept interaction, in the order of
//! their profile/item file.

use serde::{Deserialize, Serialize};

/// Which benchmark a dataset is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    MovieLens,
    BookCrossing,
}

impl DatasetKind {
    /// The user groups of a dataset of this kind, in the order `User.group` indexes them.
    pub fn groups(self) -> &'static [&'static str] {
        match self {
            DatasetKind::MovieLens => &["male", "female"],
            DatasetKind::BookCrossing => &["adult", "teen"],
        }
    }

    /// [`DatasetKind::groups`] as owned strings (`Dataset.groups`).
    pub fn group_names(self) -> Vec<String> {
        self.groups().iter().map(|g| g.to_string()).collect()
    }
}

/// What to do with BookCrossing's implicit (0) ratings.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Implicit {
    /// Keep them as negatives, as TALLRec does (default).
    #[default]
    Keep,
    /// Keep the explicit ratings 1-10 only.
    Drop,
}

/// Loader options. Ages and `implicit` apply to BookCrossing only.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct LoadOptions {
    /// Smallest kept user age (inclusive), default 5.
    pub min_age: u32,
    /// Largest kept user age (inclusive), default 100.
    pub max_age: u32,
    pub implicit: Implicit,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            min_age: 5,
            max_age: 100,
            implicit: Implicit::Keep,
        }
    }
}

/// A user: raw id and stereotype group (index into `Dataset.groups`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub group: u8,
}

/// An item: raw id and display title (`Title (Year)` for MovieLens).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub id: String,
    pub title: String,
}

/// One rating; `user`/`item` index `Dataset.users`/`Dataset.items`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Interaction {
    pub user: u32,
    pub item: u32,
    pub rating: f32,
    pub timestamp: Option<i64>,
}

/// A loaded dataset.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Dataset {
    /// "ml-100k" or "bookcrossing".
    pub name: String,
    pub kind: DatasetKind,
    /// ["male", "female"] or ["adult", "teen"].
    pub groups: Vec<String>,
    pub users: Vec<User>,
    pub items: Vec<Item>,
    pub interactions: Vec<Interaction>,
    /// Label threshold: a target is liked iff its rating is above it (3 or 5).
    pub label_threshold: f32,
}

/// Row counts of the raw files, before any filtering (see [`crate::raw_counts`]).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct RawCounts {
    /// Data rows of the rating file.
    pub ratings: usize,
    /// Data rows of the item file.
    pub items: usize,
    /// Data rows of the user file.
    pub users: usize,
    /// Ratings whose item id is not in the item file (dropped by `load`: no title).
    pub dangling_item_ratings: usize,
    /// Ratings whose user id is not in the user file (dropped by `load`: no group).
    pub dangling_user_ratings: usize,
}

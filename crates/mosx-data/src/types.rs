//! Loaded-dataset types. Invariants: `Interaction.user`/`.item` index `Dataset.users`/`.items`;
//! `User.group` indexes `Dataset.groups`; interactions keep the raw rating file's row order;
//! users and items are exactly those with at least one kept interaction, in the order of
//! their profile/item file.

use serde::{Deserialize, Serialize};

use crate::grouping::GroupBy;

/// Which benchmark a dataset is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    MovieLens,
    BookCrossing,
}

impl DatasetKind {
    /// The default user groups of a dataset of this kind (no `group_by`), in the order
    /// `User.group` indexes them.
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

/// Loader options. Ages and `implicit` apply to BookCrossing only, `title` to RecBole
/// atomic files only. `group_by` and `title` are left out of the serialised form when
/// unset, so options that do not use them serialise as before they existed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct LoadOptions {
    /// Smallest kept user age (inclusive), default 5.
    pub min_age: u32,
    /// Largest kept user age (inclusive), default 100.
    pub max_age: u32,
    pub implicit: Implicit,
    /// The user groups; `None`: the dataset's own (MovieLens gender male/female,
    /// BookCrossing adult/teen at [`crate::ADULT_AGE`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_by: Option<GroupBy>,
    /// RecBole atomic files: the item-file field holding the title; `None`: the first
    /// field whose name contains `title`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            min_age: 5,
            max_age: 100,
            implicit: Implicit::Keep,
            group_by: None,
            title: None,
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
    /// "ml-100k", "ml-1m", a RecBole stem, or "bookcrossing".
    pub name: String,
    pub kind: DatasetKind,
    /// ["male", "female"], ["adult", "teen"], or those `LoadOptions.group_by` makes.
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
    /// Item rows with an empty title (RecBole atomic files; dropped with their ratings).
    #[serde(default)]
    pub untitled_items: usize,
    /// User rows with no value in the `group_by` field (dropped with their ratings).
    #[serde(default)]
    pub ungrouped_users: usize,
}

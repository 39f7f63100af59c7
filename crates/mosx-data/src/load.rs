//! Entry points of the readers. Invariant: the layout is detected from the files in the
//! folder (RecBole, GroupLens or BookCrossing), never from the folder's name.

use std::path::Path;

use crate::bookcrossing::load_bx;
use crate::error::DataError;
use crate::layout::{detect, Layout};
use crate::movielens::{load_grouplens, load_recbole};
use crate::types::{Dataset, LoadOptions, RawCounts};

fn load_both(dir: &Path, opts: &LoadOptions) -> Result<(Dataset, RawCounts), DataError> {
    let layout = detect(dir)?;
    let ratings = match &layout {
        Layout::RecBole { inter, .. } => inter.clone(),
        Layout::GroupLens { data, .. } => data.clone(),
        Layout::BookCrossing { ratings, .. } => ratings.clone(),
    };
    let (ds, raw) = read(layout, opts)?;
    if ds.interactions.is_empty() {
        return Err(DataError::Empty {
            what: format!("dataset {}", dir.display()),
            detail: format!(
                "{} has {} rating rows and none of them was kept",
                ratings.display(),
                raw.ratings
            ),
        });
    }
    Ok((ds, raw))
}

fn read(layout: Layout, opts: &LoadOptions) -> Result<(Dataset, RawCounts), DataError> {
    match layout {
        Layout::RecBole {
            stem,
            inter,
            item,
            user,
        } => load_recbole(&stem, &inter, &item, &user),
        Layout::GroupLens { data, item, user } => load_grouplens(&data, &item, &user),
        Layout::BookCrossing {
            ratings,
            books,
            users,
        } => load_bx(&ratings, &books, &users, opts),
    }
}

/// Loads the dataset in `dir`. `opts` (ages, implicit ratings) applies to BookCrossing.
/// The dataset keeps the users and items that have at least one kept rating; a dataset with
/// no kept rating (e.g. a ratings file with only its header line) is an error.
pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Dataset, DataError> {
    Ok(load_both(dir, opts)?.0)
}

/// Row counts of the raw files in `dir` before any filtering (ratings, items and users
/// rows, and the ratings that name an unknown item or user). For BookCrossing:
/// 1,149,780 ratings, 271,379 books, 278,858 users.
pub fn raw_counts(dir: &Path) -> Result<RawCounts, DataError> {
    Ok(load_both(dir, &LoadOptions::default())?.1)
}

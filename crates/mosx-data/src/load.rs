//! Entry points of the readers. Invariant: the layout is detected from the files in the
//! folder (RecBole, GroupLens or BookCrossing), never from the folder's name.

use std::path::Path;

use crate::bookcrossing::load_bx;
use crate::error::DataError;
use crate::layout::{detect, Layout};
use crate::movielens::{load_grouplens, load_recbole};
use crate::types::{Dataset, LoadOptions, RawCounts};

fn load_both(dir: &Path, opts: &LoadOptions) -> Result<(Dataset, RawCounts), DataError> {
    match detect(dir)? {
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
/// The dataset keeps the users and items that have at least one kept rating.
pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Dataset, DataError> {
    Ok(load_both(dir, opts)?.0)
}

/// Row counts of the raw files in `dir` before any filtering (ratings, items and users
/// rows, and the ratings that name an unknown item or user). For BookCrossing:
/// 1,149,780 ratings, 271,379 books, 278,858 users.
pub fn raw_counts(dir: &Path) -> Result<RawCounts, DataError> {
    Ok(load_both(dir, &LoadOptions::default())?.1)
}

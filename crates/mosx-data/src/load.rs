//! Entry points of the readers. Invariants: the layout is detected from the files in the
//! folder (RecBole, GroupLens ML-100K or ML-1M, BookCrossing), never from the folder's
//! name; options that do not apply to the detected layout are errors, not ignored.

use std::path::Path;

use crate::bookcrossing::{bx_group_names, load_bx};
use crate::error::DataError;
use crate::layout::{detect, read as read_file, Layout};
use crate::ml1m::{load_ml1m, ml1m_users};
use crate::movielens::{grouplens_users, load_grouplens};
use crate::recbole::{load_recbole, recbole_users};
use crate::types::{Dataset, DatasetKind, LoadOptions, RawCounts};

fn ratings_file(layout: &Layout) -> &Path {
    match layout {
        Layout::RecBole { inter, .. } => inter,
        Layout::GroupLens { data, .. } => data,
        Layout::MovieLens1M { ratings, .. } | Layout::BookCrossing { ratings, .. } => ratings,
    }
}

fn load_both(dir: &Path, opts: &LoadOptions) -> Result<(Dataset, RawCounts), DataError> {
    let layout = detect(dir)?;
    check_applies(&layout, opts)?;
    let ratings = ratings_file(&layout).to_path_buf();
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

/// `title` names a RecBole item field: any other layout refuses it.
fn check_applies(layout: &Layout, opts: &LoadOptions) -> Result<(), DataError> {
    match (&opts.title, layout) {
        (Some(_), Layout::RecBole { .. }) | (None, _) => Ok(()),
        (Some(t), _) => Err(DataError::invalid(
            "title",
            format!(
                "`{t}`: the title field is chosen for RecBole atomic files only, and {} is not one",
                ratings_file(layout).display()
            ),
        )),
    }
}

fn read(layout: Layout, opts: &LoadOptions) -> Result<(Dataset, RawCounts), DataError> {
    match layout {
        Layout::RecBole {
            stem,
            inter,
            item,
            user,
        } => load_recbole(&stem, &inter, &item, &user, opts),
        Layout::GroupLens { data, item, user } => {
            load_grouplens(&data, &item, &user, opts.group_by.as_ref())
        }
        Layout::MovieLens1M {
            ratings,
            movies,
            users,
        } => load_ml1m(&ratings, &movies, &users, opts),
        Layout::BookCrossing {
            ratings,
            books,
            users,
        } => load_bx(&ratings, &books, &users, opts),
    }
}

/// Loads the dataset in `dir`. Ages and implicit ratings apply to BookCrossing, `title` to
/// RecBole atomic files, `group_by` to every layout.
/// The dataset keeps the users and items that have at least one kept rating; a dataset with
/// no kept rating (e.g. a ratings file with only its header line) is an error.
pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Dataset, DataError> {
    Ok(load_both(dir, opts)?.0)
}

/// [`load`] with the raw files' counts ([`raw_counts_with`]) from the same read.
pub fn load_with_counts(dir: &Path, opts: &LoadOptions) -> Result<(Dataset, RawCounts), DataError> {
    load_both(dir, opts)
}

/// Row counts of the raw files in `dir` under `opts` (ratings, items and users rows, the
/// ratings that name an unknown item or user, the untitled items and the users without a
/// group). For BookCrossing with the default options: 1,149,780 ratings, 271,379 books,
/// 278,858 users.
pub fn raw_counts_with(dir: &Path, opts: &LoadOptions) -> Result<RawCounts, DataError> {
    Ok(load_both(dir, opts)?.1)
}

/// [`raw_counts_with`] under the default options.
pub fn raw_counts(dir: &Path) -> Result<RawCounts, DataError> {
    raw_counts_with(dir, &LoadOptions::default())
}

/// The user groups `load(dir, opts)` gives, in `User.group` order, reading no more than
/// the user file (and only for a categorical `group_by`, whose values name the groups):
/// lets a plan check group names (e.g. `group_ratio`) before anything is loaded.
pub fn group_names(dir: &Path, opts: &LoadOptions) -> Result<Vec<String>, DataError> {
    let layout = detect(dir)?;
    let Some(by) = &opts.group_by else {
        return Ok(match layout {
            Layout::BookCrossing { .. } => DatasetKind::BookCrossing,
            _ => DatasetKind::MovieLens,
        }
        .group_names());
    };
    if let Some(names) = by.check()? {
        return Ok(names);
    }
    let by = Some(by);
    Ok(match layout {
        Layout::RecBole { user, .. } => recbole_users(&user, &read_file(&user)?, by)?.1.groups,
        Layout::GroupLens { user, .. } => grouplens_users(&user, &read_file(&user)?, by)?.1.groups,
        Layout::MovieLens1M { users, .. } => ml1m_users(&users, &read_file(&users)?, by)?.1.groups,
        Layout::BookCrossing { users, .. } => bx_group_names(&users, &read_file(&users)?, by)?,
    })
}

//! Reader of MovieLens-1M in its original GroupLens files: `users.dat`
//! (`UserID::Gender::Age::Occupation::Zip-code`), `movies.dat` (`MovieID::Title::Genres`)
//! and `ratings.dat` (`UserID::MovieID::Rating::Timestamp`), `::` separated, ISO-8859-1,
//! no header. Invariants: `group_by` names the user fields `user_id`, `gender`, `age`,
//! `occupation`, `zip_code` (age and occupation are ML-1M's codes, e.g. ages 1, 18, 25, 35,
//! 45, 50, 56); a title is everything between the first and the last `::` of its row
//! (titles hold `:` and already end in `(Year)`); the dataset is named `ml-1m`. Groups,
//! untitled items and unknown ids follow `movielens.rs`.

use std::path::Path;

use crate::assemble::malformed;
use crate::delimited::lines_sep;
use crate::error::DataError;
use crate::grouping::GroupBy;
use crate::layout::read;
use crate::movielens::{
    finish, index_ids, rating_row, user_groups, user_ids, ItemRows, Rows, UserFile, UserIds,
    UserRow,
};
use crate::text::{latin1, trim};
use crate::types::{Dataset, LoadOptions, RawCounts};

/// Field names of `users.dat`, as `group_by` names them.
const USER_FIELDS: &[&str] = &["user_id", "gender", "age", "occupation", "zip_code"];

const SEP: &[u8] = b"::";

/// The user ids (with their lines) and groups of `users.dat`.
pub(crate) fn ml1m_users<'a>(
    users: &Path,
    ubuf: &'a [u8],
    by: Option<&GroupBy>,
) -> Result<UserIds<'a>, DataError> {
    let file = UserFile {
        path: users,
        columns: USER_FIELDS,
        id: 0,
        gender: Some(1),
    };
    let rows: Vec<UserRow> = lines_sep(ubuf, SEP)
        .map(|l| UserRow {
            line: l.line,
            fields: l.fields,
        })
        .collect();
    Ok((
        user_ids(&file, &rows)?,
        user_groups(&file, &rows, by, latin1)?,
    ))
}

/// (line, id, title) of the `movies.dat` rows.
fn ml1m_movies<'a>(movies: &Path, mbuf: &'a [u8]) -> Result<ItemRows<'a>, DataError> {
    lines_sep(mbuf, SEP)
        .map(|l| {
            let n = l.fields.len();
            if n < 3 {
                return Err(malformed(
                    movies,
                    l.line,
                    n + 1,
                    if n < 2 { "Title" } else { "Genres" },
                    format!("row has {n} `::`-separated fields, expected MovieID::Title::Genres"),
                ));
            }
            let title = l.fields[1..n - 1].join(SEP);
            Ok((l.line, trim(l.fields[0]), latin1(trim(&title))))
        })
        .collect()
}

/// Reads the ML-1M `.dat` files.
pub(crate) fn load_ml1m(
    ratings: &Path,
    movies: &Path,
    users: &Path,
    opts: &LoadOptions,
) -> Result<(Dataset, RawCounts), DataError> {
    let (ubuf, mbuf, rbuf) = (read(users)?, read(movies)?, read(ratings)?);
    let (ids, grouping) = ml1m_users(users, &ubuf, opts.group_by.as_ref())?;
    let items = ml1m_movies(movies, &mbuf)?;
    let umap = index_ids(users, ids.iter().copied(), "user_id")?;
    let imap = index_ids(movies, items.iter().map(|i| (i.0, i.1)), "MovieID")?;
    let names = ["UserID", "MovieID", "Rating", "Timestamp"];
    let ratings = lines_sep(&rbuf, SEP)
        .map(|l| {
            if let Some(extra) = l.fields.get(4) {
                return Err(malformed(
                    ratings,
                    l.line,
                    5,
                    "-",
                    format!("row has a fifth field {:?}", latin1(extra)),
                ));
            }
            rating_row(
                ratings,
                l.line,
                &l.fields,
                [0, 1, 2],
                Some(3),
                names,
                &umap,
                &imap,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rows = Rows {
        users: ids.into_iter().map(|(_, id)| id).collect(),
        grouping,
        items: items.into_iter().map(|(_, id, t)| (id, t)).collect(),
        ratings,
    };
    Ok(finish("ml-1m", rows, latin1))
}

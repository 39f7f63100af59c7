//! Reader of RecBole atomic files for any dataset: `NAME.inter`, `NAME.item`, `NAME.user`,
//! tab separated, UTF-8 (Latin-1 bytes are decoded as such), a typed header
//! `field:type` (`user_id:token`, `age:float`, `movie_title:token_seq`). Invariants: fields
//! are found by name, never by position; `.inter` needs `user_id`, `item_id`, `rating`
//! (`timestamp` optional), `.item` needs `item_id` and a title field (the `title` option,
//! else the first field whose name contains `title`), `.user` needs `user_id` (and
//! `gender` when no `group_by` is given); a 4-digit `release_year` is appended to the
//! title as ` (YEAR)` (ML-100K stores it apart); the dataset is named after the stem.
//! Groups, untitled items and unknown ids follow `movielens.rs`.

use std::path::Path;

use crate::assemble::malformed;
use crate::delimited::lines;
use crate::error::DataError;
use crate::grouping::GroupBy;
use crate::layout::read;
use crate::movielens::{
    field, finish, index_ids, rating_row, user_groups, user_ids, ItemRows, Rows, UserFile, UserIds,
    UserRow,
};
use crate::text::{trim, utf8_or_latin1};
use crate::types::{Dataset, LoadOptions, RawCounts};

/// Field names of a RecBole header (`name:type` → `name`) and the body after it.
fn header<'a>(file: &Path, buf: &'a [u8]) -> Result<(Vec<String>, &'a [u8]), DataError> {
    let end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    let line = &buf[..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let names = line
        .split(|&b| b == b'\t')
        .map(|f| {
            let s = utf8_or_latin1(trim(f));
            s.split(':').next().unwrap_or("").to_string()
        })
        .collect::<Vec<_>>();
    if names.iter().all(|n| n.is_empty()) {
        return Err(malformed(file, 1, 1, "header", "empty header line"));
    }
    Ok((names, &buf[(end + 1).min(buf.len())..]))
}

fn column(file: &Path, names: &[String], want: &str) -> Result<usize, DataError> {
    names.iter().position(|n| n == want).ok_or_else(|| {
        malformed(
            file,
            1,
            names.len() + 1,
            want,
            format!("header lacks column `{want}` (has {})", names.join(", ")),
        )
    })
}

/// The title column: the named one, else the first whose name contains `title`.
fn title_column(file: &Path, names: &[String], want: Option<&str>) -> Result<usize, DataError> {
    match want {
        Some(w) => column(file, names, w),
        None => names
            .iter()
            .position(|n| n.contains("title"))
            .ok_or_else(|| {
                malformed(
                    file,
                    1,
                    names.len() + 1,
                    "title",
                    format!(
                        "header has no field whose name contains `title` (has {}); name the \
                     title field with the `title` option",
                        names.join(", ")
                    ),
                )
            }),
    }
}

/// The user ids (with their lines) and groups of a `.user` file.
pub(crate) fn recbole_users<'a>(
    user: &Path,
    ubuf: &'a [u8],
    by: Option<&GroupBy>,
) -> Result<UserIds<'a>, DataError> {
    let (names, body) = header(user, ubuf)?;
    let columns: Vec<&str> = names.iter().map(String::as_str).collect();
    let file = UserFile {
        path: user,
        columns: &columns,
        id: column(user, &names, "user_id")?,
        gender: names.iter().position(|n| n == "gender"),
    };
    let rows: Vec<UserRow> = lines(body, b'\t')
        .map(|l| UserRow {
            line: l.line + 1,
            fields: l.fields,
        })
        .collect();
    Ok((
        user_ids(&file, &rows)?,
        user_groups(&file, &rows, by, utf8_or_latin1)?,
    ))
}

/// (line, id, title) of the `.item` rows; the title is empty when the row has none.
fn recbole_items<'a>(
    item: &Path,
    ibuf: &'a [u8],
    title: Option<&str>,
) -> Result<ItemRows<'a>, DataError> {
    let (names, body) = header(item, ibuf)?;
    let c_id = column(item, &names, "item_id")?;
    let c_title = title_column(item, &names, title)?;
    let c_year = names.iter().position(|n| n == "release_year");
    let mut items = Vec::new();
    for l in lines(body, b'\t') {
        let line = l.line + 1;
        let id = trim(field(item, line, &l.fields, c_id, "item_id")?);
        let title = utf8_or_latin1(trim(field(
            item,
            line,
            &l.fields,
            c_title,
            &names[c_title],
        )?));
        let year = c_year
            .and_then(|c| l.fields.get(c))
            .map(|y| trim(y))
            .unwrap_or(b"");
        let title = if !title.is_empty() && year.len() == 4 && year.iter().all(u8::is_ascii_digit) {
            format!("{title} ({})", utf8_or_latin1(year))
        } else {
            title
        };
        items.push((line, id, title));
    }
    Ok(items)
}

/// Reads the RecBole atomic files `stem.{inter,item,user}`.
pub(crate) fn load_recbole(
    stem: &str,
    inter: &Path,
    item: &Path,
    user: &Path,
    opts: &LoadOptions,
) -> Result<(Dataset, RawCounts), DataError> {
    let (ubuf, ibuf, rbuf) = (read(user)?, read(item)?, read(inter)?);
    let (ids, grouping) = recbole_users(user, &ubuf, opts.group_by.as_ref())?;
    let items = recbole_items(item, &ibuf, opts.title.as_deref())?;
    let umap = index_ids(user, ids.iter().copied(), "user_id")?;
    let imap = index_ids(item, items.iter().map(|i| (i.0, i.1)), "item_id")?;
    let (rnames, rbody) = header(inter, &rbuf)?;
    let cols = [
        column(inter, &rnames, "user_id")?,
        column(inter, &rnames, "item_id")?,
        column(inter, &rnames, "rating")?,
    ];
    let ts = rnames.iter().position(|n| n == "timestamp");
    let names = ["user_id", "item_id", "rating", "timestamp"];
    let ratings = lines(rbody, b'\t')
        .map(|l| rating_row(inter, l.line + 1, &l.fields, cols, ts, names, &umap, &imap))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = Rows {
        users: ids.into_iter().map(|(_, id)| id).collect(),
        grouping,
        items: items.into_iter().map(|(_, id, t)| (id, t)).collect(),
        ratings,
    };
    Ok(finish(stem, rows, utf8_or_latin1))
}

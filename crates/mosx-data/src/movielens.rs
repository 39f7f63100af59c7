//! Shared MovieLens reading (user groups, id indices, rating rows, assembly) and the
//! original GroupLens ML-100K reader (`u.data` tab separated; `u.item`, `u.user` pipe
//! separated, Latin-1, no header). The RecBole and ML-1M readers are in `recbole.rs` and
//! `ml1m.rs`. Invariants, for every MovieLens layout: without `group_by` group 0 is male
//! and 1 female (from the gender column, M or F, anything else is malformed); with it the
//! groups are those of `grouping.rs`, and a user with no group is dropped with its
//! ratings (counted); an item with an empty title is dropped with its ratings (counted);
//! every rating must name a known user and item, else the row is reported as malformed;
//! ratings keep file order with their timestamps.

use std::path::Path;

use crate::assemble::{assemble, malformed, Kept, Meta};
use crate::delimited::lines;
use crate::error::DataError;
use crate::grouping::{assign, field_column, GroupBy, Grouping, Source};
use crate::layout::read;
use crate::text::{fast_map, latin1, parse_f64, parse_i64, show, trim, FastMap};
use crate::types::{Dataset, DatasetKind, Item, RawCounts, User};

/// (line, id) of the user rows, and their groups.
pub(crate) type UserIds<'a> = (Vec<(usize, &'a [u8])>, Grouping);
/// (line, id, title) of the item rows (the title empty when the row has none).
pub(crate) type ItemRows<'a> = Vec<(usize, &'a [u8], String)>;

/// One row of a user file: its 1-based line and its fields.
pub(crate) struct UserRow<'a> {
    pub line: usize,
    pub fields: Vec<&'a [u8]>,
}

/// Parsed MovieLens rows (ids as raw bytes, borrowed from the file buffers). `items` hold
/// decoded titles, empty for an item without one.
pub(crate) struct Rows<'a> {
    pub users: Vec<&'a [u8]>,
    pub grouping: Grouping,
    pub items: Vec<(&'a [u8], String)>,
    pub ratings: Vec<Kept>,
}

/// The user file's layout: its path, field names (in column order) and where the id and
/// the gender (the default grouping; `None` when the file has no gender field) are.
pub(crate) struct UserFile<'a> {
    pub path: &'a Path,
    pub columns: &'a [&'a str],
    pub id: usize,
    pub gender: Option<usize>,
}

/// The groups of the user rows: by `group_by`, or by default the gender column.
pub(crate) fn user_groups(
    file: &UserFile<'_>,
    rows: &[UserRow<'_>],
    by: Option<&GroupBy>,
    decode: fn(&[u8]) -> String,
) -> Result<Grouping, DataError> {
    let Some(by) = by else {
        let Some(g) = file.gender else {
            return Err(malformed(
                file.path,
                1,
                file.columns.len() + 1,
                "gender",
                format!(
                    "header lacks column `gender` (has {}); without it, choose the groups \
                     with `group_by`",
                    file.columns.join(", ")
                ),
            ));
        };
        let of_row = rows
            .iter()
            .map(|r| {
                let raw = field(file.path, r.line, &r.fields, g, file.columns[g])?;
                gender(file.path, r.line, g + 1, raw).map(Some)
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Grouping {
            groups: DatasetKind::MovieLens.group_names(),
            of_row,
        });
    };
    let col = field_column(by, file.path, file.columns)?;
    let values = rows
        .iter()
        .map(|r| {
            Ok((
                r.line,
                decode(trim(field(file.path, r.line, &r.fields, col, by.field())?)),
            ))
        })
        .collect::<Result<Vec<_>, DataError>>()?;
    let refs: Vec<(usize, &str)> = values.iter().map(|(l, v)| (*l, v.as_str())).collect();
    assign(
        by,
        &Source {
            file: file.path,
            column: col + 1,
        },
        &refs,
    )
}

/// The ids of the user rows (trimmed), or the malformed row lacking one.
pub(crate) fn user_ids<'a>(
    file: &UserFile<'_>,
    rows: &[UserRow<'a>],
) -> Result<Vec<(usize, &'a [u8])>, DataError> {
    rows.iter()
        .map(|r| {
            Ok((
                r.line,
                trim(field(
                    file.path,
                    r.line,
                    &r.fields,
                    file.id,
                    file.columns[file.id],
                )?),
            ))
        })
        .collect()
}

fn gender(file: &Path, line: usize, column: usize, raw: &[u8]) -> Result<u8, DataError> {
    match trim(raw) {
        b"M" | b"m" => Ok(0),
        b"F" | b"f" => Ok(1),
        other => Err(malformed(
            file,
            line,
            column,
            "gender",
            format!("expected M or F, found {:?}", show(other)),
        )),
    }
}

pub(crate) fn field<'a>(
    file: &Path,
    line: usize,
    fields: &[&'a [u8]],
    column: usize,
    name: &str,
) -> Result<&'a [u8], DataError> {
    fields.get(column).copied().ok_or_else(|| {
        malformed(
            file,
            line,
            column + 1,
            name,
            format!(
                "row has {} fields, expected at least {}",
                fields.len(),
                column + 1
            ),
        )
    })
}

pub(crate) fn index_ids<'a>(
    file: &Path,
    ids: impl Iterator<Item = (usize, &'a [u8])>,
    what: &str,
) -> Result<FastMap<&'a [u8], u32>, DataError> {
    let mut map: FastMap<&[u8], u32> = fast_map(2048);
    for (row, (line, id)) in ids.enumerate() {
        if map.insert(id, row as u32).is_some() {
            return Err(malformed(
                file,
                line,
                1,
                what,
                format!("duplicate id {:?}", show(id)),
            ));
        }
    }
    Ok(map)
}

/// One rating row: resolves ids to rows. `cols` are the user, item and rating columns.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rating_row(
    file: &Path,
    line: usize,
    fields: &[&[u8]],
    cols: [usize; 3],
    ts_col: Option<usize>,
    names: [&str; 4],
    users: &FastMap<&[u8], u32>,
    items: &FastMap<&[u8], u32>,
) -> Result<Kept, DataError> {
    let uid = trim(field(file, line, fields, cols[0], names[0])?);
    let iid = trim(field(file, line, fields, cols[1], names[1])?);
    let raw_rating = field(file, line, fields, cols[2], names[2])?;
    let user_row = *users.get(uid).ok_or_else(|| {
        malformed(
            file,
            line,
            cols[0] + 1,
            names[0],
            format!("unknown user id {:?} (not in the user file)", show(uid)),
        )
    })?;
    let item_row = *items.get(iid).ok_or_else(|| {
        malformed(
            file,
            line,
            cols[1] + 1,
            names[1],
            format!("unknown item id {:?} (not in the item file)", show(iid)),
        )
    })?;
    let rating = parse_f64(raw_rating).ok_or_else(|| {
        malformed(
            file,
            line,
            cols[2] + 1,
            names[2],
            format!("expected a number, found {:?}", show(raw_rating)),
        )
    })?;
    let timestamp = match ts_col {
        None => None,
        Some(c) => {
            let raw = field(file, line, fields, c, names[3])?;
            Some(parse_i64(raw).ok_or_else(|| {
                malformed(
                    file,
                    line,
                    c + 1,
                    names[3],
                    format!("expected an integer timestamp, found {:?}", show(raw)),
                )
            })?)
        }
    };
    Ok(Kept {
        user_row,
        item_row,
        rating: rating as f32,
        timestamp,
    })
}

// ---------------------------------------------------------------- GroupLens files

/// Field names of GroupLens `u.user` (ML-100K), as `group_by` names them.
const GL_USER: &[&str] = &["user_id", "age", "gender", "occupation", "zip_code"];

/// Reads the original GroupLens ML-100K files.
pub(crate) fn load_grouplens(
    data: &Path,
    item: &Path,
    user: &Path,
    by: Option<&GroupBy>,
) -> Result<(Dataset, RawCounts), DataError> {
    let (ubuf, ibuf, rbuf) = (read(user)?, read(item)?, read(data)?);
    let (ids, grouping) = grouplens_users(user, &ubuf, by)?;
    let mut items = Vec::new();
    for l in lines(&ibuf, b'|') {
        let id = trim(field(item, l.line, &l.fields, 0, "movie id")?);
        let title = latin1(trim(field(item, l.line, &l.fields, 1, "movie title")?));
        items.push((l.line, id, title));
    }
    let umap = index_ids(user, ids.iter().copied(), "user_id")?;
    let imap = index_ids(item, items.iter().map(|i| (i.0, i.1)), "movie id")?;
    let names = ["user id", "item id", "rating", "timestamp"];
    let ratings = lines(&rbuf, b'\t')
        .map(|l| {
            rating_row(
                data,
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
    Ok(finish("ml-100k", rows, latin1))
}

/// The user ids (with their lines) and groups of `u.user`.
pub(crate) fn grouplens_users<'a>(
    user: &Path,
    ubuf: &'a [u8],
    by: Option<&GroupBy>,
) -> Result<UserIds<'a>, DataError> {
    let file = UserFile {
        path: user,
        columns: GL_USER,
        id: 0,
        gender: Some(2),
    };
    let rows: Vec<UserRow> = lines(ubuf, b'|')
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

/// Assembles the dataset: drops the ratings of users without a group and of items
/// without a title, counting those users and items.
pub(crate) fn finish(
    name: &str,
    rows: Rows<'_>,
    decode: fn(&[u8]) -> String,
) -> (Dataset, RawCounts) {
    let counts = RawCounts {
        ratings: rows.ratings.len(),
        items: rows.items.len(),
        users: rows.users.len(),
        untitled_items: rows.items.iter().filter(|(_, t)| t.is_empty()).count(),
        ungrouped_users: rows.grouping.ungrouped(),
        ..Default::default()
    };
    let kept: Vec<Kept> = rows
        .ratings
        .iter()
        .filter(|k| {
            rows.grouping.of_row[k.user_row as usize].is_some()
                && !rows.items[k.item_row as usize].1.is_empty()
        })
        .copied()
        .collect();
    let meta = Meta {
        name: name.to_string(),
        kind: DatasetKind::MovieLens,
        groups: rows.grouping.groups.clone(),
        label_threshold: 3.0,
    };
    let ds = assemble(
        meta,
        rows.users.len(),
        rows.items.len(),
        &kept,
        |r| User {
            id: decode(rows.users[r]),
            group: rows.grouping.of_row[r].unwrap_or(u8::MAX),
        },
        |r| Item {
            id: decode(rows.items[r].0),
            title: rows.items[r].1.clone(),
        },
    );
    (ds, counts)
}

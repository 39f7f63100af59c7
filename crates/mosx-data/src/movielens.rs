//! MovieLens-100K readers for the RecBole atomic layout (`ml-100k.inter/.item/.user`, tab
//! separated, typed header, UTF-8) and the original GroupLens layout (`u.data` tab
//! separated; `u.item`, `u.user` pipe separated, Latin-1, no header). Invariants: group 0 is
//! male and 1 female (from the gender column); titles read `Title (Year)` (RecBole stores
//! the year apart: it is appended when it is a 4-digit year; GroupLens titles already hold
//! it); every rating must name a known user and item, else the row is reported as
//! malformed; ratings keep file order with their timestamps.

use std::path::Path;

use crate::assemble::{assemble, malformed, Kept, Meta};
use crate::delimited::lines;
use crate::error::DataError;
use crate::layout::read;
use crate::text::{fast_map, latin1, parse_f64, parse_i64, show, trim, utf8_or_latin1, FastMap};
use crate::types::{Dataset, DatasetKind, Item, RawCounts, User};

/// Parsed MovieLens rows (ids as raw bytes, borrowed from the file buffers).
struct Rows<'a> {
    users: Vec<(&'a [u8], u8)>,
    items: Vec<(&'a [u8], String)>,
    ratings: Vec<Kept>,
}

fn meta(name: &str) -> Meta {
    Meta {
        name: name.to_string(),
        kind: DatasetKind::MovieLens,
        groups: DatasetKind::MovieLens.group_names(),
        label_threshold: 3.0,
    }
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

fn field<'a>(
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

fn index_ids<'a>(
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

/// Ratings shared by both layouts: resolves ids to rows.
#[allow(clippy::too_many_arguments)]
fn rating_row(
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

// ---------------------------------------------------------------- RecBole atomic files

/// Column positions by name in a RecBole header (`name:type`).
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

/// Reads the RecBole atomic files.
pub(crate) fn load_recbole(
    stem: &str,
    inter: &Path,
    item: &Path,
    user: &Path,
) -> Result<(Dataset, RawCounts), DataError> {
    let (ubuf, ibuf, rbuf) = (read(user)?, read(item)?, read(inter)?);
    // Users
    let (unames, ubody) = header(user, &ubuf)?;
    let (uc_id, uc_gender) = (
        column(user, &unames, "user_id")?,
        column(user, &unames, "gender")?,
    );
    let mut users = Vec::new();
    for l in lines(ubody, b'\t') {
        let line = l.line + 1;
        let id = trim(field(user, line, &l.fields, uc_id, "user_id")?);
        let g = gender(
            user,
            line,
            uc_gender + 1,
            field(user, line, &l.fields, uc_gender, "gender")?,
        )?;
        users.push((line, id, g));
    }
    // Items
    let (inames, ibody) = header(item, &ibuf)?;
    let ic_id = column(item, &inames, "item_id")?;
    let ic_title = column(item, &inames, "movie_title")?;
    let ic_year = inames.iter().position(|n| n == "release_year");
    let mut items = Vec::new();
    for l in lines(ibody, b'\t') {
        let line = l.line + 1;
        let id = trim(field(item, line, &l.fields, ic_id, "item_id")?);
        let title = utf8_or_latin1(trim(field(item, line, &l.fields, ic_title, "movie_title")?));
        let year = ic_year
            .and_then(|c| l.fields.get(c))
            .map(|y| trim(y))
            .unwrap_or(b"");
        let title = if year.len() == 4 && year.iter().all(u8::is_ascii_digit) {
            format!("{title} ({})", utf8_or_latin1(year))
        } else {
            title
        };
        items.push((line, id, title));
    }
    let umap = index_ids(user, users.iter().map(|u| (u.0, u.1)), "user_id")?;
    let imap = index_ids(item, items.iter().map(|i| (i.0, i.1)), "item_id")?;
    // Ratings
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
        users: users.into_iter().map(|(_, id, g)| (id, g)).collect(),
        items: items.into_iter().map(|(_, id, t)| (id, t)).collect(),
        ratings,
    };
    Ok(finish(stem, rows, utf8_or_latin1))
}

// ---------------------------------------------------------------- GroupLens files

/// Reads the original GroupLens ML-100K files.
pub(crate) fn load_grouplens(
    data: &Path,
    item: &Path,
    user: &Path,
) -> Result<(Dataset, RawCounts), DataError> {
    let (ubuf, ibuf, rbuf) = (read(user)?, read(item)?, read(data)?);
    let mut users = Vec::new();
    for l in lines(&ubuf, b'|') {
        let id = trim(field(user, l.line, &l.fields, 0, "user id")?);
        let g = gender(
            user,
            l.line,
            3,
            field(user, l.line, &l.fields, 2, "gender")?,
        )?;
        users.push((l.line, id, g));
    }
    let mut items = Vec::new();
    for l in lines(&ibuf, b'|') {
        let id = trim(field(item, l.line, &l.fields, 0, "movie id")?);
        let title = latin1(trim(field(item, l.line, &l.fields, 1, "movie title")?));
        items.push((l.line, id, title));
    }
    let umap = index_ids(user, users.iter().map(|u| (u.0, u.1)), "user id")?;
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
        users: users.into_iter().map(|(_, id, g)| (id, g)).collect(),
        items: items.into_iter().map(|(_, id, t)| (id, t)).collect(),
        ratings,
    };
    Ok(finish("ml-100k", rows, latin1))
}

fn finish(name: &str, rows: Rows<'_>, decode: fn(&[u8]) -> String) -> (Dataset, RawCounts) {
    let counts = RawCounts {
        ratings: rows.ratings.len(),
        items: rows.items.len(),
        users: rows.users.len(),
        dangling_item_ratings: 0,
        dangling_user_ratings: 0,
    };
    let ds = assemble(
        meta(name),
        rows.users.len(),
        rows.items.len(),
        &rows.ratings,
        |r| User {
            id: decode(rows.users[r].0),
            group: rows.users[r].1,
        },
        |r| Item {
            id: decode(rows.items[r].0),
            title: rows.items[r].1.clone(),
        },
    );
    (ds, counts)
}

//! BookCrossing reader (`BX-Book-Ratings.csv`, `BX-Books.csv`, `BX-Users.csv`: `;`
//! separated, quoted, ISO-8859-1, backslash escapes). Invariants: every record has as many
//! fields as its header (else a malformed-row error with file:line:column); ids are matched
//! byte for byte after unescaping; kept ratings are those whose user has an age in
//! `[min_age, max_age]` (NULL ages are dropped) and whose ISBN is in `BX-Books.csv` (a
//! prompt needs the title), minus the implicit 0-ratings under `implicit: drop`; without
//! `group_by` group 0 is adult (age >= 18) and 1 teen (age < 18), with it the groups are
//! those of `grouping.rs` over a `BX-Users.csv` field (the age filter still applies, and a
//! user without a value is dropped); there are no timestamps.

use std::borrow::Cow;
use std::path::Path;

use rayon::prelude::*;

use crate::assemble::{assemble, malformed, Kept, Meta};
use crate::error::DataError;
use crate::grouping::{assign, field_column, GroupBy, Grouping, Source};
use crate::idtable::IdIndex;
use crate::layout::read;
use crate::quoted::{Field, QuoteError, Reader};
use crate::text::{latin1, parse_f64, show};
use crate::types::{Dataset, DatasetKind, Implicit, Item, LoadOptions, RawCounts, User};

/// Age at which a user counts as adult.
pub const ADULT_AGE: f64 = 18.0;

/// (user id, age; None for NULL) rows of BX-Users.csv.
pub(crate) type UserRows<'a> = Vec<(Cow<'a, [u8]>, Option<f64>)>;
/// (ISBN, raw title bytes) rows of BX-Books.csv.
pub(crate) type BookRows<'a> = Vec<(Cow<'a, [u8]>, Cow<'a, [u8]>)>;

/// One parsed rating row.
pub(crate) struct RawRating<'a> {
    pub user: Cow<'a, [u8]>,
    pub isbn: Cow<'a, [u8]>,
    pub rating: f32,
}

/// The three files parsed, ids not yet resolved.
pub(crate) struct Parsed<'a> {
    pub users: UserRows<'a>,
    pub books: BookRows<'a>,
    pub ratings: Vec<RawRating<'a>>,
}

/// Reads every record of a file, checking the header and the field count, and calls `row`
/// with the line and the values of the wanted columns. The body is parsed in parallel
/// chunks cut after a line end that precedes a quote. The chunks are trusted only when
/// every chunk parses without error: the first starts at a record boundary, and a chunk
/// that starts at one and parses to its end without an unclosed quote ends at one, so by
/// induction all do. Otherwise the body is parsed again sequentially, so results and error
/// positions always equal those of a sequential parse.
fn records<'a, T: Send>(
    file: &Path,
    buf: &'a [u8],
    wanted: &[&str],
    row: impl Fn(usize, &[(Cow<'a, [u8]>, bool)]) -> Result<T, DataError> + Sync,
) -> Result<Vec<T>, DataError> {
    let quote_err = |e: QuoteError| quote_error(file, e);
    let (header, body, body_line) = read_header(file, buf)?;
    let cols = wanted_columns(file, &header, wanted)?;

    // Parses buf[start..end], which starts on `line`.
    let chunk = |start: usize, end: usize, line: usize| -> Result<Vec<T>, DataError> {
        let mut reader = Reader::within(buf, start, end, line);
        let mut fields: Vec<Field> = Vec::with_capacity(16);
        let mut vals: Vec<(Cow<'a, [u8]>, bool)> = Vec::with_capacity(cols.len());
        let mut out = Vec::with_capacity((end - start) / 40);
        while let Some(line) = reader.next_record(&mut fields).map_err(quote_err)? {
            if fields.len() != header.len() {
                let column = fields.len().min(header.len()) + 1;
                let name = header.get(column - 1).map_or("-", |s| s.as_str());
                return Err(malformed(
                    file,
                    line,
                    column,
                    name,
                    format!(
                        "record has {} fields, the header has {}",
                        fields.len(),
                        header.len()
                    ),
                ));
            }
            vals.clear();
            vals.extend(
                cols.iter()
                    .map(|&c| (reader.value(&fields[c]), fields[c].bare)),
            );
            out.push(row(line, &vals)?);
        }
        Ok(out)
    };

    if let Some(out) = parse_in_chunks(buf, body, body_line, &chunk) {
        return Ok(out);
    }
    chunk(body, buf.len(), body_line)
}

/// The malformed-row error of a quoting error.
fn quote_error(file: &Path, e: QuoteError) -> DataError {
    malformed(file, e.line, e.column, "-", e.message)
}

/// The header's column names, and the byte offset and line where the body starts.
fn read_header(file: &Path, buf: &[u8]) -> Result<(Vec<String>, usize, usize), DataError> {
    let mut reader = Reader::new(buf);
    let mut fields: Vec<Field> = Vec::with_capacity(16);
    let header: Vec<String> = match reader
        .next_record(&mut fields)
        .map_err(|e| quote_error(file, e))?
    {
        None => return Err(malformed(file, 1, 1, "header", "file is empty")),
        Some(_) => fields.iter().map(|f| latin1(&reader.value(f))).collect(),
    };
    Ok((header, reader.pos(), reader.line()))
}

/// The index in `header` of each wanted column; a missing one is a malformed header.
fn wanted_columns(
    file: &Path,
    header: &[String],
    wanted: &[&str],
) -> Result<Vec<usize>, DataError> {
    wanted
        .iter()
        .map(|w| {
            header.iter().position(|h| h == w).ok_or_else(|| {
                malformed(
                    file,
                    1,
                    header.len() + 1,
                    w,
                    format!("header lacks column `{w}` (has {})", header.join(", ")),
                )
            })
        })
        .collect()
}

/// Chunk boundaries of the body `buf[body..]`: just after a `\n` that is followed by `"`,
/// the first at `body` and the last at `buf.len()`.
fn chunk_cuts(buf: &[u8], body: usize) -> Vec<usize> {
    let want = (rayon::current_num_threads() * 4)
        .min((buf.len() - body) / (1 << 20))
        .max(1);
    let mut cuts = vec![body];
    for k in 1..want {
        let target = body + (buf.len() - body) * k / want;
        let from = target.max(cuts[cuts.len() - 1]);
        if let Some(off) = buf[from..].windows(2).position(|w| w == b"\n\"") {
            let cut = from + off + 1;
            if cut > cuts[cuts.len() - 1] {
                cuts.push(cut);
            }
        }
    }
    cuts.push(buf.len());
    cuts
}

/// Parses the body in parallel chunks with `chunk(start, end, line)`; `None` when the
/// body is a single chunk or any chunk fails (the caller then parses it sequentially).
fn parse_in_chunks<T: Send>(
    buf: &[u8],
    body: usize,
    body_line: usize,
    chunk: &(impl Fn(usize, usize, usize) -> Result<Vec<T>, DataError> + Sync),
) -> Option<Vec<T>> {
    let cuts = chunk_cuts(buf, body);
    if cuts.len() <= 2 {
        return None;
    }
    let spans: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    let lines: Vec<usize> = spans
        .par_iter()
        .map(|&(a, b)| buf[a..b].iter().filter(|&&c| c == b'\n').count())
        .collect();
    let mut first_line = Vec::with_capacity(lines.len());
    let mut acc = body_line;
    for n in &lines {
        first_line.push(acc);
        acc += n;
    }
    let parts: Vec<Result<Vec<T>, DataError>> = spans
        .par_iter()
        .zip(&first_line)
        .map(|(&(a, b), &line)| chunk(a, b, line))
        .collect();
    if !parts.iter().all(|p| p.is_ok()) {
        return None;
    }
    let mut out = Vec::with_capacity(
        parts
            .iter()
            .map(|p| p.as_ref().map_or(0, |p| p.len()))
            .sum(),
    );
    for rows in parts.into_iter().flatten() {
        out.extend(rows);
    }
    Some(out)
}

fn parse_users<'a>(file: &Path, buf: &'a [u8]) -> Result<UserRows<'a>, DataError> {
    records(file, buf, &["User-ID", "Age"], |line, v| {
        let (age, bare) = &v[1];
        let age = if *bare && age.as_ref() == b"NULL" || age.is_empty() {
            None
        } else {
            Some(parse_f64(age).ok_or_else(|| {
                malformed(
                    file,
                    line,
                    3,
                    "Age",
                    format!("expected a number or NULL, found {:?}", show(age)),
                )
            })?)
        };
        Ok((v[0].0.clone(), age))
    })
}

fn parse_books<'a>(file: &Path, buf: &'a [u8]) -> Result<BookRows<'a>, DataError> {
    records(file, buf, &["ISBN", "Book-Title"], |_, v| {
        Ok((v[0].0.clone(), v[1].0.clone()))
    })
}

fn parse_ratings<'a>(file: &Path, buf: &'a [u8]) -> Result<Vec<RawRating<'a>>, DataError> {
    records(file, buf, &["User-ID", "ISBN", "Book-Rating"], |line, v| {
        let r = &v[2].0;
        let rating = parse_f64(r).ok_or_else(|| {
            malformed(
                file,
                line,
                3,
                "Book-Rating",
                format!("expected a number, found {:?}", show(r)),
            )
        })?;
        Ok(RawRating {
            user: v[0].0.clone(),
            isbn: v[1].0.clone(),
            rating: rating as f32,
        })
    })
}

/// Parses the three files (in parallel).
pub(crate) fn parse<'a>(
    files: (&Path, &Path, &Path),
    bufs: (&'a [u8], &'a [u8], &'a [u8]),
) -> Result<Parsed<'a>, DataError> {
    let (ratings_file, books_file, users_file) = files;
    let (ratings, (books, users)) = rayon::join(
        || parse_ratings(ratings_file, bufs.0),
        || {
            rayon::join(
                || parse_books(books_file, bufs.1),
                || parse_users(users_file, bufs.2),
            )
        },
    );
    Ok(Parsed {
        users: users?,
        books: books?,
        ratings: ratings?,
    })
}

fn index<'a, 'b, T>(
    file: &Path,
    rows: &'b [(Cow<'a, [u8]>, T)],
    what: &str,
) -> Result<IdIndex<'b>, DataError> {
    let ids: Vec<&[u8]> = rows.iter().map(|(id, _)| id.as_ref()).collect();
    IdIndex::build(&ids).map_err(|i| {
        // data row i is at least on line i + 2 (header on line 1)
        malformed(
            file,
            i + 2,
            1,
            what,
            format!("duplicate id {:?} (row {})", show(ids[i]), i + 1),
        )
    })
}

/// Resolution of one rating row: user row and item row, when both are known.
pub(crate) struct Resolved {
    pub user: Option<u32>,
    pub item: Option<u32>,
}

pub(crate) fn resolve(
    parsed: &Parsed<'_>,
    files: (&Path, &Path, &Path),
) -> Result<Vec<Resolved>, DataError> {
    let (users, items) = rayon::join(
        || index(files.2, &parsed.users, "User-ID"),
        || index(files.1, &parsed.books, "ISBN"),
    );
    let (users, items) = (users?, items?);
    let out: Vec<Vec<Resolved>> = parsed
        .ratings
        .par_chunks(16_384)
        .map(|chunk| {
            let mut item_rows = Vec::with_capacity(chunk.len());
            items.get_many(chunk.iter().map(|r| r.isbn.as_ref()), &mut item_rows);
            // Ratings come grouped by user: remember the last user lookup.
            let mut last: Option<(&[u8], Option<u32>)> = None;
            chunk
                .iter()
                .zip(item_rows)
                .map(|(r, item)| {
                    let user = match last {
                        Some((id, u)) if id == r.user.as_ref() => u,
                        _ => {
                            let u = users.get(&r.user);
                            last = Some((r.user.as_ref(), u));
                            u
                        }
                    };
                    Resolved { user, item }
                })
                .collect()
        })
        .collect();
    Ok(out.into_iter().flatten().collect())
}

/// The groups `by` makes of the rows of `BX-Users.csv` (a field named as in its header,
/// e.g. `Age` or `Location`).
fn bx_grouping(file: &Path, buf: &[u8], by: &GroupBy) -> Result<Grouping, DataError> {
    let (header, _, _) = read_header(file, buf)?;
    let columns: Vec<&str> = header.iter().map(String::as_str).collect();
    let column = field_column(by, file, &columns)? + 1;
    let values = records(file, buf, &[by.field()], |line, v| {
        Ok((line, latin1(&v[0].0)))
    })?;
    let refs: Vec<(usize, &str)> = values.iter().map(|(l, v)| (*l, v.as_str())).collect();
    assign(by, &Source { file, column }, &refs)
}

/// The group names `by` makes of `BX-Users.csv` (for a plan, before loading).
pub(crate) fn bx_group_names(
    file: &Path,
    buf: &[u8],
    by: Option<&GroupBy>,
) -> Result<Vec<String>, DataError> {
    match by {
        None => Ok(DatasetKind::BookCrossing.group_names()),
        Some(by) => Ok(bx_grouping(file, buf, by)?.groups),
    }
}

/// Reads BookCrossing with the given options.
pub(crate) fn load_bx(
    ratings: &Path,
    books: &Path,
    users: &Path,
    opts: &LoadOptions,
) -> Result<(Dataset, RawCounts), DataError> {
    if opts.min_age > opts.max_age {
        return Err(DataError::invalid(
            "min_age",
            format!("min_age {} exceeds max_age {}", opts.min_age, opts.max_age),
        ));
    }
    let files = (ratings, books, users);
    let (rbuf, (bbuf, ubuf)) = rayon::join(
        || read(ratings),
        || rayon::join(|| read(books), || read(users)),
    );
    let (rbuf, bbuf, ubuf) = (rbuf?, bbuf?, ubuf?);
    let parsed = parse(files, (&rbuf, &bbuf, &ubuf))?;
    let resolved = resolve(&parsed, files)?;
    let (lo, hi) = (opts.min_age as f64, opts.max_age as f64);
    let age_ok: Vec<bool> = parsed
        .users
        .iter()
        .map(|(_, a)| matches!(a, Some(a) if *a >= lo && *a <= hi))
        .collect();
    let mut counts = RawCounts {
        ratings: parsed.ratings.len(),
        items: parsed.books.len(),
        users: parsed.users.len(),
        ..Default::default()
    };
    let mut kept = Vec::with_capacity(parsed.ratings.len());
    for (r, res) in parsed.ratings.iter().zip(&resolved) {
        counts.dangling_user_ratings += res.user.is_none() as usize;
        counts.dangling_item_ratings += res.item.is_none() as usize;
        let (Some(u), Some(i)) = (res.user, res.item) else {
            continue;
        };
        if !age_ok[u as usize] || (opts.implicit == Implicit::Drop && r.rating == 0.0) {
            continue;
        }
        kept.push(Kept {
            user_row: u,
            item_row: i,
            rating: r.rating,
            timestamp: None,
        });
    }
    let (groups, of_row) = match &opts.group_by {
        None => (
            DatasetKind::BookCrossing.group_names(),
            parsed
                .users
                .iter()
                .map(|(_, age)| Some(u8::from(age.is_some_and(|a| a < ADULT_AGE))))
                .collect(),
        ),
        Some(by) => {
            let g = bx_grouping(users, &ubuf, by)?;
            counts.ungrouped_users = g.ungrouped();
            kept.retain(|k| g.of_row[k.user_row as usize].is_some());
            (g.groups, g.of_row)
        }
    };
    let meta = Meta {
        name: "bookcrossing".into(),
        kind: DatasetKind::BookCrossing,
        groups,
        label_threshold: 5.0,
    };
    let ds = assemble(
        meta,
        parsed.users.len(),
        parsed.books.len(),
        &kept,
        |r| User {
            id: latin1(&parsed.users[r].0),
            // kept ratings are those of grouped users only
            group: of_row[r].unwrap_or(u8::MAX),
        },
        |r| Item {
            id: latin1(&parsed.books[r].0),
            title: latin1(&parsed.books[r].1),
        },
    );
    Ok((ds, counts))
}

#[cfg(test)]
mod tests {
    //! Checks the parser against the group window counts that METHOD.md §1 measured on the
    //! raw files; those keep the ratings of books missing from BX-Books.csv, which `load`
    //! drops (no title), so the count is recomputed here from the parsed rows.
    use super::*;
    use std::path::PathBuf;

    fn dir() -> Option<PathBuf> {
        let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/bookcrossing");
        if d.join("BX-Book-Ratings.csv").is_file() {
            Some(d)
        } else {
            eprintln!("SKIP: {} absent (run `make data`)", d.display());
            None
        }
    }

    fn windows_keeping_dangling(d: &Path, implicit: Implicit) -> (u64, u64) {
        let f = [
            d.join("BX-Book-Ratings.csv"),
            d.join("BX-Books.csv"),
            d.join("BX-Users.csv"),
        ];
        let bufs = [
            read(&f[0]).unwrap(),
            read(&f[1]).unwrap(),
            read(&f[2]).unwrap(),
        ];
        let files = (f[0].as_path(), f[1].as_path(), f[2].as_path());
        let parsed = parse(files, (&bufs[0], &bufs[1], &bufs[2])).unwrap();
        let resolved = resolve(&parsed, files).unwrap();
        let mut per_user = vec![0u64; parsed.users.len()];
        for (r, res) in parsed.ratings.iter().zip(&resolved) {
            if implicit == Implicit::Drop && r.rating == 0.0 {
                continue;
            }
            if let Some(u) = res.user {
                if matches!(parsed.users[u as usize].1, Some(a) if (5.0..=100.0).contains(&a)) {
                    per_user[u as usize] += 1;
                }
            }
        }
        let (mut adult, mut teen) = (0, 0);
        for (n, (_, age)) in per_user.iter().zip(&parsed.users) {
            let w = n.saturating_sub(10);
            if age.is_some_and(|a| a < ADULT_AGE) {
                teen += w
            } else {
                adult += w
            }
        }
        (adult, teen)
    }

    /// The chunked parallel parse equals the sequential one, including records that span
    /// lines and a stray quote after a line end inside a field (a chunk cut may land there).
    #[test]
    fn chunked_parse_matches_sequential() {
        let mut buf = b"\"id\";\"title\"\r\n".to_vec();
        let mut expected = Vec::new();
        let mut line = 2;
        for i in 0..200_000 {
            let title = if i % 97 == 0 {
                format!("a\r\n\"b{i}")
            } else {
                format!("t{i}")
            };
            buf.extend_from_slice(format!("\"{i}\";\"{title}\"\r\n").as_bytes());
            expected.push((line, i.to_string(), title.clone()));
            line += 1 + title.matches('\n').count();
        }
        let file = Path::new("t.csv");
        let row = |line: usize, v: &[(Cow<'_, [u8]>, bool)]| {
            Ok((
                line,
                String::from_utf8(v[0].0.to_vec()).unwrap(),
                String::from_utf8(v[1].0.to_vec()).unwrap(),
            ))
        };
        for threads in [1, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = pool
                .install(|| records(file, &buf, &["id", "title"], row))
                .unwrap();
            assert_eq!(got, expected, "{threads} threads");
        }
        // an error deep in the file is reported at its sequential position
        let mut bad = buf.clone();
        bad.extend_from_slice(b"\"x\"\r\n");
        let err = records(file, &bad, &["id", "title"], row)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(&format!("t.csv:{line}:2")), "{err}");
    }

    #[test]
    fn method_window_counts_with_dangling_ratings() {
        let Some(d) = dir() else { return };
        assert_eq!(
            windows_keeping_dangling(&d, Implicit::Keep),
            (617_956, 12_817)
        );
        assert_eq!(
            windows_keeping_dangling(&d, Implicit::Drop),
            (160_234, 3_928)
        );
    }
}

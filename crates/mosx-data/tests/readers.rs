//! Readers on tiny synthetic fixtures in each layout, and bad-input errors.

use std::fs;
use std::path::Path;

use mosx_data::{load, raw_counts, source_files, DataError, DatasetKind, Implicit, LoadOptions};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::write(dir.join(name), bytes).unwrap();
}

/// GroupLens ML-100K layout: u.data (tab), u.item / u.user (pipe, Latin-1).
fn grouplens(dir: &Path) {
    write(
        dir,
        "u.data",
        b"1\t10\t5\t300\n2\t10\t3\t100\n1\t20\t2\t200\n",
    );
    write(
        dir,
        "u.item",
        b"10|Toy Story (1995)|01-Jan-1995||http://x|0|0\n20|Mis\xe9rables, Les (1995)|01-Jan-1995||http://y|0|1\n30|Unrated (1990)|||x|0|0\n",
    );
    write(
        dir,
        "u.user",
        b"1|24|M|technician|85711\n2|53|F|other|94043\n",
    );
}

#[test]
fn grouplens_layout() {
    let tmp = tempfile::tempdir().unwrap();
    grouplens(tmp.path());
    let ds = load(tmp.path(), &LoadOptions::default()).unwrap();
    assert_eq!(ds.name, "ml-100k");
    assert_eq!(ds.kind, DatasetKind::MovieLens);
    assert_eq!(ds.groups, vec!["male", "female"]);
    assert_eq!(ds.label_threshold, 3.0);
    let users: Vec<(&str, u8)> = ds.users.iter().map(|u| (u.id.as_str(), u.group)).collect();
    assert_eq!(users, vec![("1", 0), ("2", 1)]);
    // item 30 has no rating: not kept
    let items: Vec<(&str, &str)> = ds
        .items
        .iter()
        .map(|i| (i.id.as_str(), i.title.as_str()))
        .collect();
    assert_eq!(
        items,
        vec![("10", "Toy Story (1995)"), ("20", "Misérables, Les (1995)")]
    );
    let rows: Vec<(u32, u32, f32, Option<i64>)> = ds
        .interactions
        .iter()
        .map(|x| (x.user, x.item, x.rating, x.timestamp))
        .collect();
    assert_eq!(
        rows,
        vec![
            (0, 0, 5.0, Some(300)),
            (1, 0, 3.0, Some(100)),
            (0, 1, 2.0, Some(200))
        ]
    );
    let files: Vec<String> = source_files(tmp.path())
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into())
        .collect();
    assert_eq!(files, vec!["u.data", "u.item", "u.user"]);
    let rc = raw_counts(tmp.path()).unwrap();
    assert_eq!((rc.ratings, rc.items, rc.users), (3, 3, 2));
}

#[test]
fn recbole_layout_rebuilds_title_with_year() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "ml-100k.inter", b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n7\t1\t4\t881250949\n7\t2\t1\t881250950\n");
    write(
        d,
        "ml-100k.item",
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n1\tToy Story\t1995\tAnimation\n2\tMisérables, Les\tunkonwn\tDrama\n"
            .as_bytes(),
    );
    write(d, "ml-100k.user", b"user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n7\t30\tF\tother\t1\n");
    let ds = load(d, &LoadOptions::default()).unwrap();
    assert_eq!(ds.name, "ml-100k");
    assert_eq!(ds.items[0].title, "Toy Story (1995)");
    assert_eq!(ds.items[1].title, "Misérables, Les");
    assert_eq!(ds.users[0].group, 1);
    assert_eq!(ds.interactions[0].timestamp, Some(881250949));
    let files: Vec<String> = source_files(d)
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into())
        .collect();
    assert_eq!(files, vec!["ml-100k.inter", "ml-100k.item", "ml-100k.user"]);
}

/// BookCrossing layout with its quirks: quoted fields, NULL ages, `\"` escapes, Latin-1,
/// a record spanning two lines, a rating of an unknown book, CRLF line ends.
fn bookcrossing(dir: &Path) {
    write(
        dir,
        "BX-Users.csv",
        b"\"User-ID\";\"Location\";\"Age\"\r\n\"1\";\"nyc, usa\";NULL\r\n\"2\";\"cernusco s\r\n, milan, italy\";\"15\"\r\n\"3\";\"paris\";\"40\"\r\n\"4\";\"old\";\"120\"\r\n",
    );
    write(
        dir,
        "BX-Books.csv",
        b"\"ISBN\";\"Book-Title\";\"Book-Author\";\"Year-Of-Publication\";\"Publisher\";\"Image-URL-S\";\"Image-URL-M\";\"Image-URL-L\"\r\n\
\"A1\";\"The \\\"Best\\\" Book\";\"x\";\"2002\";\"p\";\"s\";\"m\";\"l\"\r\n\
\"B2\";\"Caf\xe9 Stories\";\"y\";\"1999\";\"p\";\"s\";\"m\";\"l\"\r\n",
    );
    write(
        dir,
        "BX-Book-Ratings.csv",
        b"\"User-ID\";\"ISBN\";\"Book-Rating\"\r\n\"1\";\"A1\";\"5\"\r\n\"2\";\"A1\";\"0\"\r\n\"2\";\"B2\";\"8\"\r\n\"3\";\"B2\";\"6\"\r\n\"3\";\"ZZ\";\"9\"\r\n\"4\";\"A1\";\"7\"\r\n\"9\";\"A1\";\"7\"\r\n",
    );
}

#[test]
fn bookcrossing_layout_and_filters() {
    let tmp = tempfile::tempdir().unwrap();
    bookcrossing(tmp.path());
    let ds = load(tmp.path(), &LoadOptions::default()).unwrap();
    assert_eq!(ds.name, "bookcrossing");
    assert_eq!(ds.kind, DatasetKind::BookCrossing);
    assert_eq!(ds.groups, vec!["adult", "teen"]);
    assert_eq!(ds.label_threshold, 5.0);
    // user 1 (NULL age), 4 (age 120) and 9 (not in users) dropped; ZZ is not a book
    let users: Vec<(&str, u8)> = ds.users.iter().map(|u| (u.id.as_str(), u.group)).collect();
    assert_eq!(users, vec![("2", 1), ("3", 0)]);
    let items: Vec<(&str, &str)> = ds
        .items
        .iter()
        .map(|i| (i.id.as_str(), i.title.as_str()))
        .collect();
    assert_eq!(
        items,
        vec![("A1", "The \"Best\" Book"), ("B2", "Café Stories")]
    );
    let rows: Vec<(u32, u32, f32, Option<i64>)> = ds
        .interactions
        .iter()
        .map(|x| (x.user, x.item, x.rating, x.timestamp))
        .collect();
    assert_eq!(
        rows,
        vec![(0, 0, 0.0, None), (0, 1, 8.0, None), (1, 1, 6.0, None)]
    );

    let explicit = load(
        tmp.path(),
        &LoadOptions {
            implicit: Implicit::Drop,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(explicit.interactions.len(), 2);
    assert_eq!(explicit.items.len(), 1);
    let wide = load(
        tmp.path(),
        &LoadOptions {
            min_age: 0,
            max_age: 200,
            implicit: Implicit::Keep,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        wide.users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        vec!["2", "3", "4"]
    );

    let rc = raw_counts(tmp.path()).unwrap();
    assert_eq!((rc.ratings, rc.items, rc.users), (7, 2, 4));
    assert_eq!((rc.dangling_item_ratings, rc.dangling_user_ratings), (1, 1));
}

#[test]
fn options_round_trip_through_serde() {
    let o: LoadOptions = serde_json::from_str(r#"{"implicit": "drop"}"#).unwrap();
    assert_eq!(
        o,
        LoadOptions {
            min_age: 5,
            max_age: 100,
            implicit: Implicit::Drop,
            ..Default::default()
        }
    );
    assert_eq!(serde_json::to_string(&Implicit::Keep).unwrap(), "\"keep\"");
    assert!(load(
        Path::new("/nonexistent"),
        &LoadOptions {
            min_age: 9,
            max_age: 3,
            ..Default::default()
        }
    )
    .is_err());
}

#[test]
fn bad_age_range_is_an_option_error() {
    let tmp = tempfile::tempdir().unwrap();
    bookcrossing(tmp.path());
    let err = load(
        tmp.path(),
        &LoadOptions {
            min_age: 30,
            max_age: 20,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, DataError::InvalidOption { .. }), "{err}");
}

#[test]
fn malformed_rating_names_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    grouplens(tmp.path());
    write(tmp.path(), "u.data", b"1\t10\t5\t300\n\n2\t10\tabc\t100\n");
    let err = load(tmp.path(), &LoadOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            DataError::Malformed {
                line: 3,
                column: 3,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("u.data:3:3") && msg.contains("rating") && msg.contains("abc"),
        "{msg}"
    );
}

#[test]
fn unknown_user_in_movielens_is_malformed() {
    let tmp = tempfile::tempdir().unwrap();
    grouplens(tmp.path());
    write(tmp.path(), "u.data", b"1\t10\t5\t300\n5\t10\t3\t100\n");
    let msg = load(tmp.path(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("u.data:2:1") && msg.contains("unknown user id"),
        "{msg}"
    );
}

#[test]
fn malformed_bx_rows_name_file_line_and_column() {
    let tmp = tempfile::tempdir().unwrap();
    bookcrossing(tmp.path());
    // missing field on line 3
    write(
        tmp.path(),
        "BX-Book-Ratings.csv",
        b"\"User-ID\";\"ISBN\";\"Book-Rating\"\r\n\"1\";\"A1\";\"5\"\r\n\"2\";\"A1\"\r\n",
    );
    let msg = load(tmp.path(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("BX-Book-Ratings.csv:3:3") && msg.contains("Book-Rating"),
        "{msg}"
    );
    // non-numeric rating
    write(
        tmp.path(),
        "BX-Book-Ratings.csv",
        b"\"User-ID\";\"ISBN\";\"Book-Rating\"\r\n\"1\";\"A1\";\"five\"\r\n",
    );
    let msg = load(tmp.path(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("BX-Book-Ratings.csv:2:3") && msg.contains("five"),
        "{msg}"
    );
    // unparsable age
    bookcrossing(tmp.path());
    write(
        tmp.path(),
        "BX-Users.csv",
        b"\"User-ID\";\"Location\";\"Age\"\r\n\"1\";\"x\";\"old\"\r\n",
    );
    let msg = load(tmp.path(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("BX-Users.csv:2:3") && msg.contains("Age"),
        "{msg}"
    );
}

#[test]
fn missing_folder_lists_expected_files() {
    let tmp = tempfile::tempdir().unwrap();
    let gone = tmp.path().join("nowhere");
    for err in [
        load(&gone, &LoadOptions::default()).unwrap_err(),
        source_files(&gone).unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(matches!(err, DataError::MissingFiles { .. }));
        for f in [
            "ml-100k.inter",
            "u.data",
            "BX-Book-Ratings.csv",
            "BX-Books.csv",
            "BX-Users.csv",
            "make data",
        ] {
            assert!(msg.contains(f), "{msg} lacks {f}");
        }
    }
    // an empty folder too
    let msg = source_files(tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("u.data") && msg.contains("make data"), "{msg}");
}

#[test]
fn partial_layout_lists_missing_files() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "BX-Book-Ratings.csv",
        b"\"User-ID\";\"ISBN\";\"Book-Rating\"\r\n",
    );
    let msg = load(tmp.path(), &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("BX-Books.csv, BX-Users.csv") && msg.contains("make data"),
        "{msg}"
    );
}

/// A plan checks group names against the folder's kind before loading: the kind read from
/// the layout alone must be the loaded dataset's, with the same groups.
#[test]
fn the_layout_names_the_dataset_kind_and_its_groups() {
    for make in [grouplens as fn(&std::path::Path), bookcrossing] {
        let tmp = tempfile::tempdir().unwrap();
        make(tmp.path());
        let kind = mosx_data::dataset_kind(tmp.path()).unwrap();
        let ds = load(tmp.path(), &LoadOptions::default()).unwrap();
        assert_eq!(kind, ds.kind);
        assert_eq!(ds.groups, kind.group_names());
    }
    let empty = tempfile::tempdir().unwrap();
    assert!(mosx_data::dataset_kind(empty.path()).is_err());
}

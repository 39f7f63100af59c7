//! Detects which raw layout a dataset folder holds (BookCrossing, GroupLens ML-100K,
//! GroupLens ML-1M, then RecBole atomic files, first match wins) and lists its files. Invariants: the
//! file order is fixed (ratings, items, users) so that hashing the list is stable; a
//! folder that matches no layout yields `DataError::MissingFiles` naming every accepted
//! layout and `make data`.

use std::path::{Path, PathBuf};

use crate::error::DataError;

/// A recognised raw layout with its files (ratings, items, users).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// RecBole atomic files `<stem>.inter`, `<stem>.item`, `<stem>.user` (tab-separated,
    /// typed header).
    RecBole {
        stem: String,
        inter: PathBuf,
        item: PathBuf,
        user: PathBuf,
    },
    /// Original GroupLens ML-100K: `u.data` (tab), `u.item` and `u.user` (pipe, Latin-1).
    GroupLens {
        data: PathBuf,
        item: PathBuf,
        user: PathBuf,
    },
    /// Original GroupLens ML-1M: `ratings.dat`, `movies.dat`, `users.dat` (`::` separated,
    /// ISO-8859-1, no header).
    MovieLens1M {
        ratings: PathBuf,
        movies: PathBuf,
        users: PathBuf,
    },
    /// BookCrossing `BX-Book-Ratings.csv`, `BX-Books.csv`, `BX-Users.csv`.
    BookCrossing {
        ratings: PathBuf,
        books: PathBuf,
        users: PathBuf,
    },
}

impl Layout {
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            Layout::RecBole {
                inter, item, user, ..
            } => vec![inter.clone(), item.clone(), user.clone()],
            Layout::GroupLens { data, item, user } => {
                vec![data.clone(), item.clone(), user.clone()]
            }
            Layout::MovieLens1M {
                ratings,
                movies,
                users,
            } => vec![ratings.clone(), movies.clone(), users.clone()],
            Layout::BookCrossing {
                ratings,
                books,
                users,
            } => {
                vec![ratings.clone(), books.clone(), users.clone()]
            }
        }
    }
}

const BX: [&str; 3] = ["BX-Book-Ratings.csv", "BX-Books.csv", "BX-Users.csv"];
const GL: [&str; 3] = ["u.data", "u.item", "u.user"];
const ML1M: [&str; 3] = ["ratings.dat", "movies.dat", "users.dat"];

fn expected_all() -> String {
    "NAME.inter, NAME.item, NAME.user (RecBole atomic files, e.g. ml-100k.inter), or u.data, \
     u.item, u.user (GroupLens ML-100K), or ratings.dat, movies.dat, users.dat (GroupLens \
     ML-1M), or BX-Book-Ratings.csv, BX-Books.csv, BX-Users.csv (BookCrossing)"
        .to_string()
}

fn missing_of(dir: &Path, names: &[String], expected: String) -> Result<(), DataError> {
    let missing: Vec<&str> = names
        .iter()
        .filter(|n| !dir.join(n.as_str()).is_file())
        .map(|n| n.as_str())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DataError::MissingFiles {
            dir: dir.to_path_buf(),
            missing: missing.join(", "),
            expected,
        })
    }
}

/// Detects the layout of `dir`.
pub(crate) fn detect(dir: &Path) -> Result<Layout, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingFiles {
            dir: dir.to_path_buf(),
            missing: "the folder".into(),
            expected: expected_all(),
        });
    }
    let has = |n: &str| dir.join(n).is_file();
    let owned = |ns: &[&str]| ns.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if BX.iter().any(|n| has(n)) {
        missing_of(dir, &owned(&BX), BX.join(", ") + " (BookCrossing)")?;
        return Ok(Layout::BookCrossing {
            ratings: dir.join(BX[0]),
            books: dir.join(BX[1]),
            users: dir.join(BX[2]),
        });
    }
    if GL.iter().any(|n| has(n)) {
        missing_of(dir, &owned(&GL), GL.join(", ") + " (GroupLens ML-100K)")?;
        return Ok(Layout::GroupLens {
            data: dir.join(GL[0]),
            item: dir.join(GL[1]),
            user: dir.join(GL[2]),
        });
    }
    if ML1M.iter().any(|n| has(n)) {
        missing_of(dir, &owned(&ML1M), ML1M.join(", ") + " (GroupLens ML-1M)")?;
        return Ok(Layout::MovieLens1M {
            ratings: dir.join(ML1M[0]),
            movies: dir.join(ML1M[1]),
            users: dir.join(ML1M[2]),
        });
    }
    // RecBole: any `<stem>.inter`, `.item` or `.user`, stems sorted for a fixed choice.
    let mut stems: Vec<String> = std::fs::read_dir(dir)
        .map_err(|source| DataError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            let ext = p.extension()?.to_str()?;
            matches!(ext, "inter" | "item" | "user")
                .then(|| p.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    stems.sort();
    stems.dedup();
    if let Some(stem) = stems.first() {
        let names: Vec<String> = ["inter", "item", "user"]
            .iter()
            .map(|e| format!("{stem}.{e}"))
            .collect();
        missing_of(dir, &names, names.join(", ") + " (RecBole atomic files)")?;
        return Ok(Layout::RecBole {
            stem: stem.clone(),
            inter: dir.join(&names[0]),
            item: dir.join(&names[1]),
            user: dir.join(&names[2]),
        });
    }
    Err(DataError::MissingFiles {
        dir: dir.to_path_buf(),
        missing: "the dataset files".into(),
        expected: expected_all(),
    })
}

/// The raw files `load` reads for `dir`, in fixed order (ratings, items, users), for
/// content hashing. A missing folder or file is an error listing the expected files.
pub fn source_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    Ok(detect(dir)?.files())
}

/// The kind of dataset the folder `dir` holds, from its layout alone (nothing is parsed):
/// BookCrossing for the BX files, MovieLens for the GroupLens (ML-100K, ML-1M) and RecBole
/// layouts (a RecBole dataset of another domain still reads as MovieLens). Lets a
/// plan check group names (e.g. `group_ratio`) before anything is loaded.
pub fn dataset_kind(dir: &Path) -> Result<crate::types::DatasetKind, DataError> {
    Ok(match detect(dir)? {
        Layout::BookCrossing { .. } => crate::types::DatasetKind::BookCrossing,
        Layout::GroupLens { .. } | Layout::MovieLens1M { .. } | Layout::RecBole { .. } => {
            crate::types::DatasetKind::MovieLens
        }
    })
}

/// Reads a whole file.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

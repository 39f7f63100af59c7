//! User grouping (`group_by`): which user-file field makes the stereotype groups, and how.
//!
//! Invariants:
//! * categorical (`group_by: gender`): the groups are the field's distinct non-missing
//!   values over every row of the user file (whether or not the user has a kept rating),
//!   sorted by their decoded text (byte order), so a spec can name them before loading
//!   and a subset of the ratings never renumbers them;
//! * numeric (`group_by: {field: age, bins: [18, 25], labels: [...]}`): bins are strictly
//!   increasing finite edges and every interval is left-closed: `n` edges give the `n + 1`
//!   groups `(-inf, b0)`, `[b0, b1)`, ..., `[b_{n-1}, +inf)` in ascending order; `labels`
//!   (default `<b0`, `b0-b1`, ..., `>=b_{n-1}`, `a-b` meaning `[a, b)`) name them;
//! * a missing value (empty or `NULL`) puts the user in no group: the loader drops that
//!   user's ratings and counts the user in `RawCounts.ungrouped_users`; a value that is
//!   not a number under `bins` is a malformed row naming file, line, column and field;
//! * group names are non-empty, distinct, hold no `.` (it separates the segments of metric
//!   names such as `F.{group}.{group}`), and there are at most 255 groups (`User.group` is
//!   a `u8`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::assemble::malformed;
use crate::error::DataError;

/// How users are split into stereotype groups (the load stage's `group_by`).
#[derive(Clone, Debug, PartialEq)]
pub enum GroupBy {
    /// One group per distinct value of this user-file field, sorted (serde: the field name).
    Field(String),
    /// Numeric binning of a user-file field (serde: a map `{field, bins, labels}`).
    Bins(Bins),
}

/// Numeric binning: left-closed intervals cut at `bins`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bins {
    /// The user-file field holding the number (e.g. `age`).
    pub field: String,
    /// Strictly increasing interval edges; `n` edges make `n + 1` groups.
    pub bins: Vec<f64>,
    /// One name per group, ascending; default `<b0`, `b0-b1`, ..., `>=b_last`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
}

impl Serialize for GroupBy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            GroupBy::Field(f) => s.serialize_str(f),
            GroupBy::Bins(b) => b.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for GroupBy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = GroupBy;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a user-file field name, or a map {field, bins, labels}")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<GroupBy, E> {
                Ok(GroupBy::Field(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<GroupBy, A::Error> {
                Bins::deserialize(de::value::MapAccessDeserializer::new(m)).map(GroupBy::Bins)
            }
        }
        d.deserialize_any(V)
    }
}

fn show_edge(x: f64) -> String {
    format!("{x}")
}

fn check_names(names: &[String], what: &str) -> Result<(), DataError> {
    if names.len() > u8::MAX as usize {
        return Err(DataError::invalid(
            "group_by",
            format!(
                "{what} make {} groups, at most 255 are supported",
                names.len()
            ),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for n in names {
        if n.is_empty() || n.contains('.') {
            return Err(DataError::invalid(
                "group_by",
                format!("group name {n:?} from {what} must be non-empty and hold no `.`"),
            ));
        }
        if !seen.insert(n) {
            return Err(DataError::invalid(
                "group_by",
                format!("group name {n:?} appears twice in {what}"),
            ));
        }
    }
    Ok(())
}

impl GroupBy {
    /// The user-file field the groups come from.
    pub fn field(&self) -> &str {
        match self {
            GroupBy::Field(f) => f,
            GroupBy::Bins(b) => &b.field,
        }
    }

    /// Checks the option on its own: the group names when they are known without data
    /// (bins), `None` for a categorical field (its values name the groups).
    pub fn check(&self) -> Result<Option<Vec<String>>, DataError> {
        if self.field().trim().is_empty() {
            return Err(DataError::invalid("group_by", "the field name is empty"));
        }
        let GroupBy::Bins(b) = self else {
            return Ok(None);
        };
        if b.bins.is_empty() {
            return Err(DataError::invalid(
                "group_by.bins",
                "needs at least one edge (one edge makes two groups)",
            ));
        }
        if b.bins.iter().any(|x| !x.is_finite()) || b.bins.windows(2).any(|w| w[0] >= w[1]) {
            return Err(DataError::invalid(
                "group_by.bins",
                format!(
                    "edges must be finite and strictly increasing, found {:?}",
                    b.bins
                ),
            ));
        }
        let names = match &b.labels {
            Some(l) if l.len() != b.bins.len() + 1 => {
                return Err(DataError::invalid(
                    "group_by.labels",
                    format!(
                        "{} edges make {} groups but {} labels are given",
                        b.bins.len(),
                        b.bins.len() + 1,
                        l.len()
                    ),
                ))
            }
            Some(l) => l.clone(),
            None => default_labels(&b.bins),
        };
        check_names(&names, "group_by.labels")?;
        Ok(Some(names))
    }
}

/// `<b0`, `b0-b1`, ..., `>=b_last` (`a-b` reads `[a, b)`).
fn default_labels(bins: &[f64]) -> Vec<String> {
    let mut out = vec![format!("<{}", show_edge(bins[0]))];
    out.extend(
        bins.windows(2)
            .map(|w| format!("{}-{}", show_edge(w[0]), show_edge(w[1]))),
    );
    out.push(format!(">={}", show_edge(bins[bins.len() - 1])));
    out
}

/// Where the grouping field's values come from, for error messages.
pub(crate) struct Source<'a> {
    pub file: &'a Path,
    /// 1-based column of the field.
    pub column: usize,
}

/// Groups and each user row's group (`None`: missing value, the user is dropped).
pub(crate) struct Grouping {
    pub groups: Vec<String>,
    pub of_row: Vec<Option<u8>>,
}

impl Grouping {
    /// Rows without a group.
    pub fn ungrouped(&self) -> usize {
        self.of_row.iter().filter(|g| g.is_none()).count()
    }
}

fn missing(v: &str) -> bool {
    let v = v.trim();
    v.is_empty() || v == "NULL"
}

/// Groups the user rows by `by`; `values[r]` is row r's (line, decoded value of the field).
pub(crate) fn assign(
    by: &GroupBy,
    src: &Source<'_>,
    values: &[(usize, &str)],
) -> Result<Grouping, DataError> {
    let known = by.check()?;
    match (by, known) {
        (GroupBy::Bins(b), Some(groups)) => {
            let of_row = values
                .iter()
                .map(|&(line, v)| {
                    if missing(v) {
                        return Ok(None);
                    }
                    let x: f64 = v
                        .trim()
                        .parse()
                        .ok()
                        .filter(|x: &f64| x.is_finite())
                        .ok_or_else(|| {
                            malformed(
                                src.file,
                                line,
                                src.column,
                                &b.field,
                                format!("expected a number to bin, found {v:?}"),
                            )
                        })?;
                    // Left-closed: the number of edges <= x is the group index.
                    Ok(Some(b.bins.partition_point(|&e| e <= x) as u8))
                })
                .collect::<Result<Vec<_>, DataError>>()?;
            Ok(Grouping { groups, of_row })
        }
        _ => {
            let mut index: BTreeMap<&str, u8> = BTreeMap::new();
            for &(_, v) in values.iter().filter(|(_, v)| !missing(v)) {
                index.entry(v.trim()).or_insert(0);
            }
            let groups: Vec<String> = index.keys().map(|k| k.to_string()).collect();
            check_names(&groups, &format!("the values of field `{}`", by.field()))?;
            for (i, slot) in index.values_mut().enumerate() {
                *slot = i as u8;
            }
            let of_row = values
                .iter()
                .map(|&(_, v)| index.get(v.trim()).copied())
                .collect();
            Ok(Grouping { groups, of_row })
        }
    }
}

/// The 0-based position of the grouping field among `columns`, or an error listing them.
pub(crate) fn field_column(
    by: &GroupBy,
    file: &Path,
    columns: &[&str],
) -> Result<usize, DataError> {
    let want = by.field();
    columns.iter().position(|c| *c == want).ok_or_else(|| {
        DataError::invalid(
            "group_by",
            format!(
                "`{want}` is not a field of {} (its fields: {})",
                file.display(),
                columns.join(", ")
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bins(edges: &[f64], labels: Option<&[&str]>) -> GroupBy {
        GroupBy::Bins(Bins {
            field: "age".into(),
            bins: edges.to_vec(),
            labels: labels.map(|l| l.iter().map(|s| s.to_string()).collect()),
        })
    }

    fn src() -> Source<'static> {
        Source {
            file: Path::new("u.user"),
            column: 2,
        }
    }

    #[test]
    fn bins_are_left_closed_with_open_ends() {
        let by = bins(&[18.0, 25.0], None);
        let vals = [
            (1, "17.9"),
            (2, "18"),
            (3, "24"),
            (4, "25"),
            (5, "90"),
            (6, ""),
        ];
        let g = assign(&by, &src(), &vals).unwrap();
        assert_eq!(g.groups, ["<18", "18-25", ">=25"]);
        assert_eq!(
            g.of_row,
            [Some(0), Some(1), Some(1), Some(2), Some(2), None]
        );
        assert_eq!(g.ungrouped(), 1);
    }

    #[test]
    fn categorical_groups_are_sorted_distinct_values() {
        let by = GroupBy::Field("occupation".into());
        let vals = [(1, "writer"), (2, "artist"), (3, " writer "), (4, "NULL")];
        let g = assign(&by, &src(), &vals).unwrap();
        assert_eq!(g.groups, ["artist", "writer"]);
        assert_eq!(g.of_row, [Some(1), Some(0), Some(1), None]);
    }

    #[test]
    fn bad_options_and_values_are_errors_naming_them() {
        let e = bins(&[25.0, 18.0], None).check().unwrap_err().to_string();
        assert!(e.contains("strictly increasing"), "{e}");
        let e = bins(&[18.0], Some(&["a"])).check().unwrap_err().to_string();
        assert!(e.contains("1 edges make 2 groups but 1 labels"), "{e}");
        let e = bins(&[18.0], Some(&["a", "a"]))
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("appears twice"), "{e}");
        let e = bins(&[1.5], None).check().unwrap_err().to_string();
        assert!(e.contains("hold no `.`"), "{e}");
        let e = assign(&bins(&[18.0], None), &src(), &[(7, "x")])
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("u.user:7:2 (field `age`)"), "{e}");
    }

    #[test]
    fn serde_reads_a_name_or_a_strict_map() {
        let f: GroupBy = serde_json::from_str("\"gender\"").unwrap();
        assert_eq!(f, GroupBy::Field("gender".into()));
        let b: GroupBy = serde_json::from_str(
            r#"{"field": "age", "bins": [18, 25], "labels": ["a", "b", "c"]}"#,
        )
        .unwrap();
        assert_eq!(b, bins(&[18.0, 25.0], Some(&["a", "b", "c"])));
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"field":"age","bins":[18.0,25.0],"labels":["a","b","c"]}"#
        );
        let e = serde_json::from_str::<GroupBy>(r#"{"field": "age", "bin": [18]}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `bin`"), "{e}");
        assert!(serde_json::from_str::<GroupBy>("3").is_err());
    }
}

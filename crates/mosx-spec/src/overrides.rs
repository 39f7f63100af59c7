//! `--set a.b.c=VALUE` overrides, applied to the merged document after extends. Invariants: VALUE
//! is parsed as a YAML scalar/flow value; missing intermediate maps are created; a null VALUE
//! deletes the key (like a child `null` in extends); every node written is located at
//! `--set:1:<position of the argument, 1-based>`.

use crate::error::SpecError;
use crate::node::{split, Kind, Loc, Node, PathError};
use crate::sources::Sources;
use crate::yaml;

pub(crate) fn apply(doc: &mut Node, sets: &[String], sources: &Sources) -> Result<(), SpecError> {
    for (i, arg) in sets.iter().enumerate() {
        let loc = Loc {
            src: Loc::SET,
            line: 1,
            col: i as u32 + 1,
        };
        let Some((path, text)) = arg.split_once('=') else {
            return Err(sources.error(
                loc,
                "",
                format!("`{arg}` is not of the form path=value"),
                None,
            ));
        };
        let path = path.trim();
        let segs = split(path);
        if segs.is_empty() || segs.iter().any(|s| s.is_empty()) {
            return Err(sources.error(
                loc,
                path,
                format!("`{path}` is not a dotted field path"),
                None,
            ));
        }
        if segs[0] == "extends" {
            return Err(sources.error(
                loc,
                path,
                "`extends` cannot be set from the command line",
                None,
            ));
        }
        let mut value = match yaml::parse(text, Loc::SET) {
            Ok(Some(v)) => v,
            Ok(None) => Node::new(Kind::Null, loc),
            Err(e) => {
                return Err(sources.error(
                    loc,
                    path,
                    format!("invalid value `{text}`: {}", e.message),
                    None,
                ))
            }
        };
        value.relocate(loc);
        doc.set_path(&segs, value, loc, true, true).map_err(|e| {
            let depth = match e {
                PathError::Missing { depth } | PathError::NotContainer { depth, .. } => depth,
            };
            let msg = match e {
                PathError::NotContainer { found, .. } => {
                    format!(
                        "cannot set inside `{}`: it is {found}",
                        segs[..depth].join(".")
                    )
                }
                PathError::Missing { .. } => format!(
                    "no item `{}` in the list `{}`",
                    segs[depth],
                    segs[..depth].join(".")
                ),
            };
            sources.error(loc, path, msg, None)
        })?;
    }
    Ok(())
}

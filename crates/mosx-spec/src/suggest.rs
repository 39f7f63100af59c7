//! Closest-name suggestions for misspelled keys, stage names, variables and kinds.
//! Invariant: a suggestion is only offered when its optimal-string-alignment distance to the
//! input is at most ceil(longest/3) (at least 1) and smaller than the input's length; ties keep the
//! earliest candidate, so results are deterministic in candidate order.

/// The candidate closest to `name`, if it is reasonably close (see module doc).
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let name_len = name.chars().count();
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        let d = if cand.eq_ignore_ascii_case(name) && cand != name {
            0
        } else {
            strsim::osa_distance(name, cand)
        };
        let longest = name_len.max(cand.chars().count());
        let limit = longest.div_ceil(3).max(1);
        if d > limit || (d > 0 && d >= name_len) {
            continue;
        }
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::suggest;

    #[test]
    fn close_names_are_suggested() {
        assert_eq!(
            suggest("z_sta", ["z_star", "windows"]).as_deref(),
            Some("z_star")
        );
        assert_eq!(
            suggest("trian", ["load", "train", "split"]).as_deref(),
            Some("train")
        );
        assert_eq!(
            suggest("mos_x", ["full", "mos", "up5"]).as_deref(),
            Some("mos")
        );
        assert_eq!(suggest("Kind", ["kind"]).as_deref(), Some("kind"));
    }

    #[test]
    fn far_names_are_not_suggested() {
        assert_eq!(suggest("zzzz", ["kind", "inputs", "params"]), None);
        assert_eq!(suggest("x", ["kind"]), None);
        assert_eq!(suggest("abc", Vec::<&str>::new()), None);
    }

    #[test]
    fn ties_keep_first_candidate() {
        assert_eq!(suggest("ab", ["ac", "ad"]).as_deref(), Some("ac"));
    }
}

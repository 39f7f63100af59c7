//! Reader for simple delimited text (tab- or pipe-separated, no quoting): the MovieLens
//! files. Invariants: line numbers are 1-based physical lines; a trailing `\r` is stripped;
//! blank lines are skipped; fields borrow from the file buffer.

/// One record: its 1-based line number and its fields.
pub(crate) struct Line<'a> {
    pub line: usize,
    pub fields: Vec<&'a [u8]>,
}

/// Iterates over the non-blank lines of `buf`, split on `delim`.
pub(crate) fn lines(buf: &[u8], delim: u8) -> impl Iterator<Item = Line<'_>> {
    buf.split(|&b| b == b'\n')
        .enumerate()
        .filter_map(move |(i, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.iter().all(|b| b.is_ascii_whitespace()) {
                return None;
            }
            Some(Line {
                line: i + 1,
                fields: raw.split(|&b| b == delim).collect(),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_fields() {
        let buf = b"a\tb\r\n\n c\t\td\n";
        let got: Vec<(usize, Vec<&[u8]>)> = lines(buf, b'\t').map(|l| (l.line, l.fields)).collect();
        assert_eq!(
            got,
            vec![(1, vec![&b"a"[..], b"b"]), (3, vec![&b" c"[..], b"", b"d"])]
        );
    }
}

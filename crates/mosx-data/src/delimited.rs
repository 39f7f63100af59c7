//! Reader for simple delimited text (tab-, pipe- or `::`-separated, no quoting): the
//! MovieLens files. Invariants: line numbers are 1-based physical lines; a trailing `\r` is
//! stripped; blank lines are skipped; fields borrow from the file buffer; a multi-byte
//! separator is matched left to right without overlap (`a:::b` on `::` is `a`, `:b`).

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

/// Iterates over the non-blank lines of `buf`, split on the separator `sep` (e.g. `::`).
pub(crate) fn lines_sep<'a>(buf: &'a [u8], sep: &'a [u8]) -> impl Iterator<Item = Line<'a>> {
    lines(buf, b'\n').map(move |mut l| {
        let raw = l.fields[0];
        l.fields = split_sep(raw, sep);
        l
    })
}

/// `raw` split on `sep` (non-empty), left to right.
pub(crate) fn split_sep<'a>(raw: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(4);
    let (mut start, mut i) = (0, 0);
    while i + sep.len() <= raw.len() {
        if &raw[i..i + sep.len()] == sep {
            out.push(&raw[start..i]);
            i += sep.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&raw[start..]);
    out
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

    #[test]
    fn splits_on_a_two_byte_separator() {
        let buf = b"1::Star Wars: Episode IV (1977)::Sci-Fi\r\n\n2:::x::\n";
        let got: Vec<(usize, Vec<&[u8]>)> =
            lines_sep(buf, b"::").map(|l| (l.line, l.fields)).collect();
        assert_eq!(
            got,
            vec![
                (
                    1,
                    vec![&b"1"[..], b"Star Wars: Episode IV (1977)", b"Sci-Fi"]
                ),
                (3, vec![&b"2"[..], b":x", b""])
            ]
        );
    }
}

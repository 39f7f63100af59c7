//! Reader for BookCrossing's dialect of CSV: `;`-separated, fields either `"quoted"` or
//! bare (`NULL`), backslash escapes inside quotes (`\"`, `\\`), CRLF line ends, and quoted
//! fields that may span lines. Invariants: fields borrow from the buffer as byte ranges and
//! are only copied when they hold an escape; a `"` inside a quoted field closes it only when
//! followed by `;`, a line end or the end of the file (a stray quote is kept literally);
//! record line numbers are 1-based and point at the record's first line.

use std::borrow::Cow;

/// Byte range of one field inside the buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    start: usize,
    end: usize,
    /// Quoted field containing a backslash escape.
    escaped: bool,
    /// Bare (unquoted) field, e.g. `NULL`.
    pub bare: bool,
}

/// A parse failure: 1-based line and column (field position), message.
#[derive(Debug)]
pub(crate) struct QuoteError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Streaming record reader over a whole-file buffer.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            line: 1,
        }
    }

    /// A reader over `buf[..end]` starting at byte `pos`, which is on line `line`. Field
    /// ranges stay absolute offsets into `buf`.
    pub fn within(buf: &'a [u8], pos: usize, end: usize, line: usize) -> Self {
        Reader {
            buf: &buf[..end],
            pos,
            line,
        }
    }

    /// Byte offset of the next unread byte.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Line of the next unread byte.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The field's value, unescaped when it holds escapes.
    #[inline]
    pub fn value(&self, f: &Field) -> Cow<'a, [u8]> {
        let raw = &self.buf[f.start..f.end];
        if !f.escaped {
            return Cow::Borrowed(raw);
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'\\' && i + 1 < raw.len() {
                out.push(raw[i + 1]);
                i += 2;
            } else {
                out.push(raw[i]);
                i += 1;
            }
        }
        Cow::Owned(out)
    }

    /// Reads the next non-empty record into `fields`; returns its first line number, or
    /// `None` at the end of the buffer.
    pub fn next_record(&mut self, fields: &mut Vec<Field>) -> Result<Option<usize>, QuoteError> {
        fields.clear();
        let buf = self.buf;
        // Skip blank lines.
        loop {
            match buf.get(self.pos) {
                None => return Ok(None),
                Some(b'\n') => {
                    self.pos += 1;
                    self.line += 1;
                }
                Some(b'\r') => self.pos += 1,
                Some(_) => break,
            }
        }
        let first_line = self.line;
        loop {
            let field = if buf.get(self.pos) == Some(&b'"') {
                self.quoted_field(first_line, fields.len() + 1)?
            } else {
                let start = self.pos;
                while let Some(&c) = buf.get(self.pos) {
                    if c == b';' || c == b'\n' || c == b'\r' {
                        break;
                    }
                    if c == b'"' {
                        return Err(QuoteError {
                            line: self.line,
                            column: fields.len() + 1,
                            message: "quote inside an unquoted field".into(),
                        });
                    }
                    self.pos += 1;
                }
                Field {
                    start,
                    end: self.pos,
                    escaped: false,
                    bare: true,
                }
            };
            fields.push(field);
            match buf.get(self.pos) {
                Some(b';') => self.pos += 1,
                Some(b'\r') => {
                    self.pos += 1;
                    if buf.get(self.pos) == Some(&b'\n') {
                        self.pos += 1;
                        self.line += 1;
                    }
                    return Ok(Some(first_line));
                }
                Some(b'\n') => {
                    self.pos += 1;
                    self.line += 1;
                    return Ok(Some(first_line));
                }
                None => return Ok(Some(first_line)),
                Some(_) => {
                    return Err(QuoteError {
                        line: self.line,
                        column: fields.len(),
                        message: "expected `;` or a line end after the closing quote".into(),
                    })
                }
            }
        }
    }

    fn quoted_field(&mut self, record_line: usize, column: usize) -> Result<Field, QuoteError> {
        let buf = self.buf;
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            match buf.get(self.pos) {
                None => {
                    return Err(QuoteError {
                        line: record_line,
                        column,
                        message: "quoted field is not closed before the end of the file".into(),
                    })
                }
                Some(b'\\') => {
                    escaped = true;
                    if buf.get(self.pos + 1) == Some(&b'\n') {
                        self.line += 1;
                    }
                    self.pos += 2;
                }
                Some(b'"') => match buf.get(self.pos + 1) {
                    None | Some(b';') | Some(b'\r') | Some(b'\n') => {
                        let end = self.pos;
                        self.pos += 1;
                        return Ok(Field {
                            start,
                            end,
                            escaped,
                            bare: false,
                        });
                    }
                    Some(_) => self.pos += 1, // stray quote: literal
                },
                Some(b'\n') => {
                    self.line += 1;
                    self.pos += 1;
                }
                Some(_) => self.pos += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Records = Vec<(usize, Vec<Option<String>>)>;

    fn read_all(buf: &[u8]) -> Result<Records, QuoteError> {
        let mut r = Reader::new(buf);
        let mut fields = Vec::new();
        let mut out = Vec::new();
        while let Some(line) = r.next_record(&mut fields)? {
            let vals = fields
                .iter()
                .map(|f| {
                    let v = String::from_utf8(r.value(f).into_owned()).unwrap();
                    if f.bare && v == "NULL" {
                        None
                    } else {
                        Some(v)
                    }
                })
                .collect();
            out.push((line, vals));
        }
        Ok(out)
    }

    #[test]
    fn quoted_bare_escapes_and_multiline() {
        let buf =
            b"\"a\";\"b\"\r\n\"1\";NULL\r\n\"say \\\"hi\\\"\";\"x\r\ny\"\r\n\"it\"s\";\"z\"\r\n";
        let got = read_all(buf).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0], (1, vec![Some("a".into()), Some("b".into())]));
        assert_eq!(got[1], (2, vec![Some("1".into()), None]));
        assert_eq!(
            got[2],
            (3, vec![Some("say \"hi\"".into()), Some("x\r\ny".into())])
        );
        // the multi-line record moved the line counter by two
        assert_eq!(got[3], (5, vec![Some("it\"s".into()), Some("z".into())]));
    }

    #[test]
    fn escaped_backslash_before_closing_quote() {
        let got = read_all(b"\"a\\\\\";\"b\"\n").unwrap();
        assert_eq!(got[0].1, vec![Some("a\\".into()), Some("b".into())]);
    }

    #[test]
    fn unclosed_quote_reports_line_and_column() {
        let err = read_all(b"\"a\";\"b\"\n\"c\";\"d").unwrap_err();
        assert_eq!((err.line, err.column), (2, 2));
    }

    #[test]
    fn quote_inside_bare_field_is_an_error() {
        let err = read_all(b"\"a\";b\"c\n").unwrap_err();
        assert_eq!((err.line, err.column), (1, 2));
    }
}

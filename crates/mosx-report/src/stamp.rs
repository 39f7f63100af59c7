//! Provenance stamps on rendered figures, so every file carries the lines that say how it
//! was made: an XML comment after the root element of an SVG, and a PNG `tEXt` chunk
//! (keyword `Comment`) just before `IEND`. Both keep the files valid and viewable.

use std::path::Path;

use crate::error::ReportError;

fn io(path: &Path, e: std::io::Error) -> ReportError {
    ReportError::Draw {
        path: path.to_path_buf(),
        message: format!("stamping provenance: {e}"),
    }
}

/// Append `text` as an XML comment at the end of the SVG at `path`.
pub fn stamp_svg(path: &Path, text: &str) -> Result<(), ReportError> {
    let mut s = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    // `--` may not appear inside an XML comment.
    s.push_str(&format!("<!--\n{}\n-->\n", text.replace("--", "- -")));
    std::fs::write(path, s).map_err(|e| io(path, e))
}

/// CRC-32 (ISO-HDLC, as PNG uses) of `bytes`.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Insert a `tEXt` chunk (keyword `Comment`, Latin-1 text: other characters become `?`)
/// before the PNG's final `IEND` chunk.
pub fn stamp_png(path: &Path, text: &str) -> Result<(), ReportError> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let n = bytes.len();
    if n < 20 || &bytes[n - 8..n - 4] != b"IEND" {
        return Err(ReportError::Draw {
            path: path.to_path_buf(),
            message: "stamping provenance: the file does not end with a PNG IEND chunk".into(),
        });
    }
    let mut data = b"tEXtComment\0".to_vec();
    data.extend(text.chars().map(|c| {
        if (c as u32) < 256 && c != '\0' {
            c as u8
        } else {
            b'?'
        }
    }));
    let mut chunk = ((data.len() - 4) as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(&data);
    chunk.extend_from_slice(&crc32(&data).to_be_bytes());
    let mut out = bytes[..n - 12].to_vec();
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&bytes[n - 12..]);
    std::fs::write(path, out).map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        // The standard check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn stamps_keep_files_readable() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("f");
        let files = crate::grouped_bars_with_errors(
            "t",
            &["a".into(), "b".into()],
            &[("s".into(), vec![1.0, -2.0])],
            &[vec![0.5, f64::NAN]],
            "y",
            &base,
        )
        .unwrap();
        stamp_png(&files[0], "mosx 0.1.0 -- spec abc ±").unwrap();
        stamp_svg(&files[1], "mosx 0.1.0 -- spec abc").unwrap();
        let png = std::fs::read(&files[0]).unwrap();
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]));
        let pos = png.windows(4).position(|w| w == b"tEXt").unwrap();
        assert!(String::from_utf8_lossy(&png[pos..]).contains("spec abc"));
        let svg = std::fs::read_to_string(&files[1]).unwrap();
        assert!(svg.trim_end().ends_with("-->"), "{svg}");
        assert!(svg.contains("mosx 0.1.0 - - spec abc"));
    }
}

//! Provenance stamps on rendered figures, so every file carries the lines that say how it
//! was made: an XML comment after the root element of an SVG, and a PNG `tEXt` chunk
//! (keyword `Comment`) just before `IEND`. Both keep the files valid and viewable.

/// `svg` with `text` appended as an XML comment at its end.
pub(crate) fn stamp_svg_text(svg: &str, text: &str) -> String {
    let mut s = svg.to_string();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    // `--` may not appear inside an XML comment.
    s.push_str(&format!("<!--\n{}\n-->\n", text.replace("--", "- -")));
    s
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
pub(crate) fn stamp_png_bytes(bytes: &[u8], text: &str) -> Result<Vec<u8>, String> {
    let n = bytes.len();
    if n < 20 || &bytes[n - 8..n - 4] != b"IEND" {
        return Err("stamping provenance: the file does not end with a PNG IEND chunk".into());
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
    Ok(out)
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
        let mut rendered = crate::grouped_bars_with_errors(
            "t",
            &["a".into(), "b".into()],
            &[("s".into(), vec![1.0, -2.0])],
            &[vec![0.5, f64::NAN]],
            "y",
            &base,
        )
        .unwrap();
        rendered[0].stamp("mosx 0.1.0 -- spec abc ±").unwrap();
        rendered[1].stamp("mosx 0.1.0 -- spec abc").unwrap();
        let files = crate::write_figures(rendered, None, Some(dir.path())).unwrap();
        let png = std::fs::read(&files[0]).unwrap();
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]));
        let pos = png.windows(4).position(|w| w == b"tEXt").unwrap();
        assert!(String::from_utf8_lossy(&png[pos..]).contains("spec abc"));
        let svg = std::fs::read_to_string(&files[1]).unwrap();
        assert!(svg.trim_end().ends_with("-->"), "{svg}");
        assert!(svg.contains("mosx 0.1.0 - - spec abc"));
    }
}

//! Byte-level helpers for the readers: Latin-1/UTF-8 decoding, number parsing without
//! allocation, and a small fast hasher for byte-string keys. Invariant: nothing here
//! allocates unless it returns an owned `String`.

use std::hash::{BuildHasherDefault, Hasher};

/// Decodes ISO-8859-1 bytes: every byte is the code point of the same value.
pub(crate) fn latin1(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if bytes.is_ascii() => s.to_string(),
        _ => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// Decodes UTF-8, falling back to Latin-1 for bytes that are not valid UTF-8.
pub(crate) fn utf8_or_latin1(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => latin1(bytes),
    }
}

/// Trims ASCII whitespace on both ends.
pub(crate) fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &bytes[start..end]
}

/// Parses a decimal number (integer or float syntax) from ASCII bytes.
pub(crate) fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(trim(bytes)).ok()?;
    if s.is_empty() {
        return None;
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Parses an integer timestamp; accepts float syntax with an integral value ("881250949.0").
pub(crate) fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let t = trim(bytes);
    let s = std::str::from_utf8(t).ok()?;
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    let f = s.parse::<f64>().ok()?;
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e18).then_some(f as i64)
}

/// Shows a raw value in an error message (Latin-1, at most 60 characters).
pub(crate) fn show(bytes: &[u8]) -> String {
    let s = latin1(bytes);
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// FxHash-style multiplicative hasher with an avalanche finish: fast for short byte keys (ids, ISBNs). Not DoS
/// resistant, which is fine for local files.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits (the bucket index) poorly mixed: finish with a
        // splitmix64-style avalanche.
        let mut h = self.hash;
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }
}

pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FastHasher>>;

pub(crate) fn fast_map<K, V>(capacity: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(capacity, Default::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_decodes_high_bytes() {
        assert_eq!(latin1(b"Mis\xe9rables"), "Misérables");
        assert_eq!(latin1(b"plain"), "plain");
    }

    #[test]
    fn utf8_falls_back_to_latin1() {
        assert_eq!(utf8_or_latin1("Misérables".as_bytes()), "Misérables");
        assert_eq!(utf8_or_latin1(b"Mis\xe9rables"), "Misérables");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_f64(b" 3 "), Some(3.0));
        assert_eq!(parse_f64(b"4.5"), Some(4.5));
        assert_eq!(parse_f64(b""), None);
        assert_eq!(parse_f64(b"x"), None);
        assert_eq!(parse_i64(b"881250949"), Some(881250949));
        assert_eq!(parse_i64(b"881250949.0"), Some(881250949));
        assert_eq!(parse_i64(b"1.5"), None);
    }

    #[test]
    fn trims() {
        assert_eq!(trim(b"  a b \r"), b"a b");
        assert_eq!(trim(b"   "), b"");
    }
}

//! Open-addressing id table for joining ratings to users/books. Invariants: ids of at most
//! 15 bytes are packed with their length into two words stored inline with the row (one
//! cache line touched per probe, no pointer chase into the file buffer); the packed form
//! is never all-zero, which marks an empty slot; longer ids go to a byte-keyed map;
//! `get_many` issues the slot loads of a batch before probing so their cache misses
//! overlap, with results equal to calling `get` one by one. `IdIndex` picks a dense
//! array instead when every id is a canonical decimal number (no sign, no leading zero)
//! of a bounded size, which matches byte for byte the same ids.

use crate::text::{fast_map, FastMap};

#[derive(Clone, Copy, Default)]
struct Slot {
    key: [u64; 2],
    row: u32,
}

pub(crate) struct IdTable<'b> {
    slots: Vec<Slot>,
    mask: usize,
    long: FastMap<&'b [u8], u32>,
}

#[inline]
fn pack(id: &[u8]) -> Option<[u64; 2]> {
    if id.len() > 15 {
        return None;
    }
    let mut b = [0u8; 16];
    b[..id.len()].copy_from_slice(id);
    b[15] = 0x80 | id.len() as u8;
    let (lo, hi) = b.split_at(8);
    Some([
        u64::from_le_bytes(lo.try_into().ok()?),
        u64::from_le_bytes(hi.try_into().ok()?),
    ])
}

#[inline]
fn mix(k: [u64; 2]) -> u64 {
    let mut h = k[0] ^ k[1].rotate_left(29).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl<'b> IdTable<'b> {
    pub fn with_capacity(n: usize) -> Self {
        let cap = (n * 2).max(16).next_power_of_two();
        IdTable {
            slots: vec![Slot::default(); cap],
            mask: cap - 1,
            long: fast_map(16),
        }
    }

    /// Inserts every id with its position as row; `Err(position)` at the first duplicate.
    /// Slot loads of a batch are issued before the inserts so their misses overlap.
    pub fn insert_all(&mut self, ids: &[&'b [u8]]) -> Result<(), usize> {
        for (b, batch) in ids.chunks(16).enumerate() {
            let mut touch = 0u64;
            for id in batch {
                if let Some(k) = pack(id) {
                    touch ^= self.slots[mix(k) as usize & self.mask].key[0];
                }
            }
            std::hint::black_box(touch);
            for (j, id) in batch.iter().enumerate() {
                let row = b * 16 + j;
                if !self.insert(id, row as u32) {
                    return Err(row);
                }
            }
        }
        Ok(())
    }

    /// Inserts `id` → `row`; returns false if `id` is already present.
    pub fn insert(&mut self, id: &'b [u8], row: u32) -> bool {
        let Some(key) = pack(id) else {
            if self.long.contains_key(id) {
                return false;
            }
            self.long.insert(id, row);
            return true;
        };
        let mut i = mix(key) as usize & self.mask;
        loop {
            let s = &mut self.slots[i];
            if s.key == [0, 0] {
                *s = Slot { key, row };
                return true;
            }
            if s.key == key {
                return false;
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    fn probe(&self, key: [u64; 2], mut i: usize) -> Option<u32> {
        loop {
            let s = &self.slots[i];
            if s.key == key {
                return Some(s.row);
            }
            if s.key == [0, 0] {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    pub fn get(&self, id: &[u8]) -> Option<u32> {
        match pack(id) {
            Some(key) => self.probe(key, mix(key) as usize & self.mask),
            None => self.long.get(id).copied(),
        }
    }

    /// Looks up every id of `ids` into `out` (cleared first).
    pub fn get_many<'x>(&self, ids: impl Iterator<Item = &'x [u8]>, out: &mut Vec<Option<u32>>) {
        const BATCH: usize = 16;
        out.clear();
        let mut keys = [None; BATCH];
        let mut idx = [0usize; BATCH];
        let mut pending: Vec<&[u8]> = Vec::with_capacity(BATCH);
        let mut ids = ids.peekable();
        while ids.peek().is_some() {
            pending.clear();
            pending.extend(ids.by_ref().take(BATCH));
            let mut touch = 0u64;
            for (j, id) in pending.iter().enumerate() {
                keys[j] = pack(id);
                if let Some(k) = keys[j] {
                    idx[j] = mix(k) as usize & self.mask;
                    touch ^= self.slots[idx[j]].key[0];
                }
            }
            std::hint::black_box(touch);
            for (j, id) in pending.iter().enumerate() {
                out.push(match keys[j] {
                    Some(k) => self.probe(k, idx[j]),
                    None => self.long.get(id).copied(),
                });
            }
        }
    }
}

/// Parses a canonical decimal id ("0" or digits without a leading zero, at most 9).
#[inline]
fn canonical_number(id: &[u8]) -> Option<usize> {
    if id.is_empty()
        || id.len() > 9
        || (id.len() > 1 && id[0] == b'0')
        || !id.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    Some(id.iter().fold(0usize, |n, &d| n * 10 + (d - b'0') as usize))
}

/// Row index of ids: a dense array for canonical numeric ids, else an `IdTable`.
pub(crate) enum IdIndex<'b> {
    Dense(Vec<u32>),
    Table(IdTable<'b>),
}

impl<'b> IdIndex<'b> {
    /// Indexes `ids` by position; `Err(position)` at the first duplicate.
    pub fn build(ids: &[&'b [u8]]) -> Result<Self, usize> {
        let nums: Option<Vec<usize>> = ids.iter().map(|id| canonical_number(id)).collect();
        if let Some(nums) = nums {
            let max = nums.iter().copied().max().unwrap_or(0);
            if max <= 4 * ids.len() + 1024 {
                let mut dense = vec![u32::MAX; max + 1];
                for (row, n) in nums.into_iter().enumerate() {
                    if dense[n] != u32::MAX {
                        return Err(row);
                    }
                    dense[n] = row as u32;
                }
                return Ok(IdIndex::Dense(dense));
            }
        }
        let mut t = IdTable::with_capacity(ids.len());
        t.insert_all(ids)?;
        Ok(IdIndex::Table(t))
    }

    #[inline]
    pub fn get(&self, id: &[u8]) -> Option<u32> {
        match self {
            IdIndex::Dense(d) => canonical_number(id)
                .and_then(|n| d.get(n))
                .copied()
                .filter(|&r| r != u32::MAX),
            IdIndex::Table(t) => t.get(id),
        }
    }

    pub fn get_many<'x>(&self, ids: impl Iterator<Item = &'x [u8]>, out: &mut Vec<Option<u32>>) {
        match self {
            IdIndex::Dense(_) => {
                out.clear();
                out.extend(ids.map(|id| self.get(id)));
            }
            IdIndex::Table(t) => t.get_many(ids, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_index_matches_ids_byte_for_byte() {
        let ids: Vec<&[u8]> = vec![b"5", b"0", b"17"];
        let ix = IdIndex::build(&ids).unwrap();
        assert!(matches!(ix, IdIndex::Dense(_)));
        assert_eq!(
            (ix.get(b"17"), ix.get(b"0"), ix.get(b"5")),
            (Some(2), Some(1), Some(0))
        );
        assert_eq!(
            (ix.get(b"017"), ix.get(b"6"), ix.get(b"x"), ix.get(b"99999")),
            (None, None, None, None)
        );
        assert_eq!(IdIndex::build(&[b"3", b"4", b"3"]).err(), Some(2));
        // a leading zero or a letter falls back to the table, still exact
        let ix = IdIndex::build(&[b"007", b"7"]).unwrap();
        assert!(matches!(ix, IdIndex::Table(_)));
        assert_eq!(
            (ix.get(b"7"), ix.get(b"007"), ix.get(b"07")),
            (Some(1), Some(0), None)
        );
        let mut out = Vec::new();
        ix.get_many([&b"7"[..], b"x"].into_iter(), &mut out);
        assert_eq!(out, vec![Some(1), None]);
        assert_eq!(IdIndex::build(&[b"a", b"b", b"a"]).err(), Some(2));
    }

    #[test]
    fn insert_get_duplicates_and_long_ids() {
        let ids: Vec<Vec<u8>> = (0..1000).map(|i| format!("{i:010}").into_bytes()).collect();
        let long = b"a-very-long-identifier-of-30-bytes".to_vec();
        let mut t = IdTable::with_capacity(ids.len() + 2);
        for (r, id) in ids.iter().enumerate() {
            assert!(t.insert(id, r as u32));
        }
        assert!(t.insert(&long, 5000));
        assert!(t.insert(b"", 6000));
        assert!(!t.insert(&ids[7], 1), "duplicate");
        assert!(!t.insert(&long, 1), "duplicate long");
        assert_eq!(t.get(&ids[999]), Some(999));
        assert_eq!(t.get(b"0000000999"), Some(999));
        assert_eq!(t.get(b"000000099"), None, "prefix is another id");
        assert_eq!(t.get(&long), Some(5000));
        assert_eq!(t.get(b""), Some(6000));
        let mut out = Vec::new();
        let query: Vec<&[u8]> = ids
            .iter()
            .map(|v| v.as_slice())
            .chain([&b"nope"[..], &long[..]])
            .collect();
        t.get_many(query.iter().copied(), &mut out);
        let one_by_one: Vec<Option<u32>> = query.iter().map(|q| t.get(q)).collect();
        assert_eq!(out, one_by_one);
        assert_eq!(out[1000], None);
    }
}

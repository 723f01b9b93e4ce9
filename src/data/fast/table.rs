//! Tables of distinct ids with indices in order of first appearance.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::data::fast::number::small_number;

/// Distinct ids, of one chunk or of the whole file, with indices in order
/// of first appearance. The ids are copied one after another into one
/// buffer, so that the merge reads them from a few compact buffers rather
/// than from all over the file.
#[derive(Default)]
pub(super) struct IdTable {
    /// Index plus one of each id that [`small_number`] reads, at the id's
    /// value, and 0 for values not seen.
    by_number: Vec<u32>,
    /// Index of other ids of at most [`PACKED_BYTES`] bytes, by [`pack`].
    by_key: FxHashMap<u64, u32>,
    /// Index of longer ids, hashed by id.
    by_text: HashTable<u32>,
    /// All ids, in index order, one after another.
    text: Vec<u8>,
    /// The end of each id in `text`.
    ends: Vec<usize>,
}

/// Maximum length of an id that [`pack`] turns into a key.
const PACKED_BYTES: usize = 7;

/// Packs an id of at most [`PACKED_BYTES`] bytes and its length into one
/// integer, so that two ids get the same key only when their bytes are
/// equal.
fn pack(id: &[u8]) -> u64 {
    let mut key = [0u8; 8];
    key[..id.len()].copy_from_slice(id);
    key[7] = id.len() as u8;
    u64::from_le_bytes(key)
}

impl IdTable {
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(super) fn id(&self, index: usize) -> &[u8] {
        id_at(&self.text, &self.ends, index)
    }

    /// Returns the index of `id`, adding it if it is new, or `None` past
    /// `u32::MAX` ids.
    pub(super) fn intern(&mut self, id: &[u8]) -> Option<u32> {
        self.intern_number(id, small_number(id))
    }

    /// Does what [`IdTable::intern`] does, given `small_number(id)`.
    pub(super) fn intern_number(
        &mut self,
        id: &[u8],
        number: Option<u32>,
    ) -> Option<u32> {
        let next = u32::try_from(self.ends.len()).ok()?;
        let index = if let Some(value) = number {
            let value = value as usize;
            if value >= self.by_number.len() {
                let len = (value + 1).next_power_of_two().max(1024);
                self.by_number.resize(len, 0);
            }
            let slot = &mut self.by_number[value];
            if *slot == 0 {
                *slot = next.checked_add(1)?;
            }
            *slot - 1
        } else if id.len() <= PACKED_BYTES {
            *self.by_key.entry(pack(id)).or_insert(next)
        } else {
            let hash = FxBuildHasher.hash_one(id);
            let (text, ends) = (&self.text, &self.ends);
            let found = self
                .by_text
                .find(hash, |&index| id_at(text, ends, index as usize) == id);
            match found {
                Some(&index) => index,
                None => {
                    self.push(id);
                    let (text, ends) = (&self.text, &self.ends);
                    self.by_text.insert_unique(hash, next, |&index| {
                        FxBuildHasher.hash_one(id_at(
                            text,
                            ends,
                            index as usize,
                        ))
                    });
                    return Some(next);
                }
            }
        };
        if index == next {
            self.push(id);
        }
        Some(index)
    }

    fn push(&mut self, id: &[u8]) {
        self.text.extend_from_slice(id);
        self.ends.push(self.text.len());
    }
}

fn id_at<'a>(text: &'a [u8], ends: &[usize], index: usize) -> &'a [u8] {
    let start = if index == 0 { 0 } else { ends[index - 1] };
    &text[start..ends[index]]
}

//! Maps external user and item ids, kept as the strings found in the file,
//! to dense indices `0..len` and back.

use std::fmt;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// A two-way map between external ids and dense indices.
///
/// Indices are handed out in order of first appearance, so a map built from
/// the same file is always the same. The ids are stored one after another
/// in one string, and the hash table contains indices into it. An id then
/// costs its length plus 14 to 20 bytes for its end offset and its hash
/// table slot, with no allocation of its own.
#[derive(Clone, Default)]
pub struct IdMap {
    /// All ids, in index order, one after another.
    text: String,
    /// The end of each id in `text`; id `i` starts where id `i - 1` ends.
    ends: Vec<usize>,
    /// Indices of the ids, hashed by id.
    index: HashTable<u32>,
}

fn hash_id(id: &str) -> u64 {
    FxBuildHasher.hash_one(id)
}

impl IdMap {
    /// Creates an empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a map from ids in index order.
    ///
    /// # Errors
    ///
    /// Returns the first id that appears twice.
    pub fn from_ids<I, S>(ids: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<Box<str>>,
    {
        let ids = ids.into_iter();
        let mut map = IdMap::new();
        map.ends.reserve(ids.size_hint().0);
        map.index.reserve(ids.size_hint().0, |_| 0);
        for id in ids {
            let id: Box<str> = id.into();
            let hash = hash_id(&id);
            if map.find(hash, &id).is_some() {
                return Err(id.into());
            }
            map.push_new(hash, &id);
        }
        Ok(map)
    }

    /// Returns the index of `id`, adding it if it is new.
    pub fn intern(&mut self, id: &str) -> u32 {
        let hash = hash_id(id);
        match self.find(hash, id) {
            Some(index) => index,
            None => self.push_new(hash, id),
        }
    }

    fn find(&self, hash: u64, id: &str) -> Option<u32> {
        self.index
            .find(hash, |&index| self.id(index) == id)
            .copied()
    }

    fn push_new(&mut self, hash: u64, id: &str) -> u32 {
        let index = u32::try_from(self.ends.len())
            .expect("more than 2^32 distinct ids");
        self.text.push_str(id);
        self.ends.push(self.text.len());
        let (text, ends) = (&self.text, &self.ends);
        self.index.insert_unique(hash, index, |&other| {
            hash_id(id_at(text, ends, other))
        });
        index
    }

    /// Returns the index of `id`, if the map has it.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.find(hash_id(id), id)
    }

    /// Returns the external id at `index`.
    ///
    /// # Panics
    ///
    /// Panics if `index` is out of range.
    pub fn id(&self, index: u32) -> &str {
        id_at(&self.text, &self.ends, index)
    }

    /// Number of distinct ids.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the map has no ids.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The external ids in index order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &str> {
        (0..self.ends.len()).map(|index| self.id(index as u32))
    }
}

/// A character that an id may not contain, and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidChar {
    /// The character.
    pub char: char,
    /// Its position in the id, in characters counted from 1.
    pub position: usize,
}

/// The byte order mark, also called zero width no-break space.
const BYTE_ORDER_MARK: char = '\u{feff}';

/// Returns whether `c` is a character that an id may not contain: a
/// control character (Unicode category Cc: U+0000 to U+001F, U+007F to
/// U+009F) or the byte order mark U+FEFF. Both are invisible, so an id
/// with one looks like another id without being equal to it.
pub fn is_invalid_in_id(c: char) -> bool {
    c.is_control() || c == BYTE_ORDER_MARK
}

/// Returns the first character of `id` that [`is_invalid_in_id`] rejects.
pub fn find_invalid_char(id: &str) -> Option<InvalidChar> {
    id.chars()
        .enumerate()
        .find(|&(_, c)| is_invalid_in_id(c))
        .map(|(index, c)| InvalidChar {
            char: c,
            position: index + 1,
        })
}

impl fmt::Display for InvalidChar {
    /// Writes `the control character U+0007 at character 2`, or for the
    /// byte order mark a note on where such a mark comes from.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.char as u32;
        if self.char == BYTE_ORDER_MARK {
            write!(
                f,
                "the byte order mark U+FEFF at character {}; a byte order \
                 mark belongs only at the start of a file, and one inside \
                 a file usually comes from joining files",
                self.position
            )
        } else {
            write!(
                f,
                "the control character U+{code:04X} at character {}",
                self.position
            )
        }
    }
}

/// Returns `text` with each character that [`is_invalid_in_id`] rejects
/// written as a Rust escape such as `\u{7}` or `\u{feff}`, so that a
/// message shows it.
pub fn escape_invisible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_invalid_in_id(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn id_at<'a>(text: &'a str, ends: &[usize], index: u32) -> &'a str {
    let index = index as usize;
    let start = if index == 0 { 0 } else { ends[index - 1] };
    &text[start..ends[index]]
}

/// Two maps are equal when they have the same ids in the same order.
impl PartialEq for IdMap {
    fn eq(&self, other: &Self) -> bool {
        self.ends == other.ends && self.text == other.text
    }
}

impl Eq for IdMap {}

impl fmt::Debug for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.ids()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intern_assigns_first_seen_order() {
        let mut map = IdMap::new();
        assert_eq!(map.intern("42"), 0);
        assert_eq!(map.intern("7"), 1);
        assert_eq!(map.intern("42"), 0);
        assert_eq!(map.len(), 2);
        assert_eq!(map.id(1), "7");
        assert_eq!(map.get("8"), None);
    }

    #[test]
    fn ids_kept_as_written() {
        let mut map = IdMap::new();
        let ids = ["0042", "42", "", "é", "a b", "42 "];
        for (index, id) in ids.iter().enumerate() {
            assert_eq!(map.intern(id), index as u32, "{id:?}");
        }
        for (index, id) in ids.iter().enumerate() {
            assert_eq!(map.get(id), Some(index as u32), "{id:?}");
            assert_eq!(map.id(index as u32), *id);
        }
        assert_eq!(map.ids().collect::<Vec<_>>(), ids);
        assert_eq!(map, IdMap::from_ids(ids).unwrap());
        assert_ne!(map, IdMap::from_ids(["0042", "42"]).unwrap());
    }

    #[test]
    fn many_ids_found_after_growth() {
        let ids: Vec<String> = (0..5000).map(|i| format!("u{i}")).collect();
        let map = IdMap::from_ids(ids.iter().map(String::as_str)).unwrap();
        for (index, id) in ids.iter().enumerate() {
            assert_eq!(map.get(id), Some(index as u32));
        }
        assert_eq!(map.get("u5000"), None);
    }

    #[test]
    fn invalid_chars_found_and_escaped() {
        assert_eq!(find_invalid_char("42"), None);
        assert_eq!(find_invalid_char("é a\u{a0}b"), None);
        let found = find_invalid_char("é\u{7}").unwrap();
        assert_eq!((found.char, found.position), ('\u{7}', 2));
        assert_eq!(
            found.to_string(),
            "the control character U+0007 at character 2"
        );
        let found = find_invalid_char("\u{feff}42").unwrap();
        assert_eq!(found.position, 1);
        assert!(found.to_string().starts_with("the byte order mark U+FEFF"));
        for c in ['\t', '\u{0}', '\u{7f}', '\u{85}', '\u{9f}'] {
            assert!(is_invalid_in_id(c), "{c:?}");
        }
        assert_eq!(
            escape_invisible("\u{feff}a\tb\u{85}"),
            "\\u{feff}a\\u{9}b\\u{85}"
        );
    }

    #[test]
    fn from_ids_rejects_repeats() {
        assert_eq!(IdMap::from_ids(["a", "b", "a"]), Err("a".to_string()));
        let map = IdMap::from_ids(["x", "y"]).unwrap();
        assert_eq!(map.get("y"), Some(1));
    }
}

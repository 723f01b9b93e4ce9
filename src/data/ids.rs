//! Maps external user and item ids, kept as the strings found in the file,
//! to dense indices `0..len` and back.

use rustc_hash::FxHashMap;

/// A two-way map between external ids and dense indices.
///
/// Indices are handed out in order of first appearance, so a map built from
/// the same file is always the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap {
    index: FxHashMap<Box<str>, u32>,
    ids: Vec<Box<str>>,
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
        let mut map = IdMap::new();
        for id in ids {
            let id = id.into();
            if map.index.contains_key(&id) {
                return Err(id.into());
            }
            map.push_new(id);
        }
        Ok(map)
    }

    /// Returns the index of `id`, adding it if it is new.
    pub fn intern(&mut self, id: &str) -> u32 {
        if let Some(&index) = self.index.get(id) {
            return index;
        }
        self.push_new(id.into())
    }

    fn push_new(&mut self, id: Box<str>) -> u32 {
        let index =
            u32::try_from(self.ids.len()).expect("more than 2^32 distinct ids");
        self.ids.push(id.clone());
        self.index.insert(id, index);
        index
    }

    /// Returns the index of `id`, if the map has it.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// Returns the external id at `index`.
    ///
    /// # Panics
    ///
    /// Panics if `index` is out of range.
    pub fn id(&self, index: u32) -> &str {
        &self.ids[index as usize]
    }

    /// Number of distinct ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the map has no ids.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The external ids in index order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &str> {
        self.ids.iter().map(|id| &**id)
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
    fn from_ids_rejects_repeats() {
        assert_eq!(IdMap::from_ids(["a", "b", "a"]), Err("a".to_string()));
        let map = IdMap::from_ids(["x", "y"]).unwrap();
        assert_eq!(map.get("y"), Some(1));
    }
}

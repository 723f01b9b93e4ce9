//! Restrictions on the items a list may contain: ids to leave out, a
//! candidate list, and genres from an items file.

use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;

use crate::data::items::ItemCatalog;
use crate::data::IdMap;
use crate::error::{Error, Result};

/// Item restrictions as a caller writes them, with external ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterSpec {
    /// Items never to list.
    pub exclude: Vec<String>,
    /// When set, only these items may be listed.
    pub candidates: Option<Vec<String>>,
    /// When not empty, only items with at least one of these genres may be
    /// listed. Names match without regard to ASCII case.
    pub genres: Vec<String>,
    /// When above 1, only items with at least this many training ratings
    /// may be listed. Items rated by a handful of users can get extreme
    /// biases and factors, and then top many lists.
    pub min_item_ratings: u32,
}

impl FilterSpec {
    /// Returns whether the spec restricts nothing.
    pub fn is_empty(&self) -> bool {
        self.exclude.is_empty()
            && self.candidates.is_none()
            && self.genres.is_empty()
            && self.min_item_ratings <= 1
    }
}

/// A [`FilterSpec`] resolved against the item indices of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFilter {
    /// `allowed[i]` is true when item index `i` may be listed, and `None`
    /// allows every item.
    allowed: Option<Vec<bool>>,
    /// Ids in the exclude or candidate lists that the model does not have.
    unknown: Vec<String>,
}

impl ItemFilter {
    /// A filter that allows every item.
    pub fn none() -> ItemFilter {
        ItemFilter {
            allowed: None,
            unknown: Vec::new(),
        }
    }

    /// Resolves `spec` against `items`, the model's item ids. Genre names
    /// are looked up in `genres`, and `rating_counts` contains the training
    /// ratings of each item index.
    ///
    /// Ids that `items` lacks are kept in [`ItemFilter::unknown_ids`]
    /// rather than rejected, because such items can never be listed.
    ///
    /// # Errors
    ///
    /// Fails with [`Error::Invalid`] when `spec` names genres and
    /// `genres` is `None` or sets a minimum rating count and
    /// `rating_counts` is `None`, and with [`Error::UnknownGenre`] when no
    /// item has a named genre.
    pub fn resolve(
        spec: &FilterSpec,
        items: &IdMap,
        genres: Option<&GenreIndex>,
        rating_counts: Option<&[u32]>,
    ) -> Result<ItemFilter> {
        if spec.is_empty() {
            return Ok(ItemFilter::none());
        }
        let mut unknown = Vec::new();
        let mut allowed = match &spec.candidates {
            Some(candidates) => {
                let mut allowed = vec![false; items.len()];
                for id in candidates {
                    match items.get(id) {
                        Some(index) => allowed[index as usize] = true,
                        None => unknown.push(id.clone()),
                    }
                }
                allowed
            }
            None => vec![true; items.len()],
        };
        if !spec.genres.is_empty() {
            let index = genres.ok_or_else(|| {
                Error::Invalid(format!(
                    "cannot filter by genre {}: no items file with genres \
                     was given (use --items with movies.csv, movies.dat or \
                     u.item)",
                    spec.genres.join(", ")
                ))
            })?;
            let mut any = vec![false; items.len()];
            for name in &spec.genres {
                let mask = index.mask(name)?;
                for (flag, &has) in any.iter_mut().zip(mask) {
                    *flag |= has;
                }
            }
            for (flag, has) in allowed.iter_mut().zip(any) {
                *flag &= has;
            }
        }
        if spec.min_item_ratings > 1 {
            let counts = rating_counts.ok_or_else(|| {
                Error::Invalid(
                    "cannot filter by rating count: the counts of the \
                     items are not known"
                        .into(),
                )
            })?;
            for (flag, &count) in allowed.iter_mut().zip(counts) {
                *flag &= count >= spec.min_item_ratings;
            }
        }
        for id in &spec.exclude {
            match items.get(id) {
                Some(index) => allowed[index as usize] = false,
                None => unknown.push(id.clone()),
            }
        }
        unknown.sort();
        unknown.dedup();
        Ok(ItemFilter {
            allowed: Some(allowed),
            unknown,
        })
    }

    /// Returns whether item index `item` may be listed.
    #[inline]
    pub fn allows(&self, item: u32) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|allowed| allowed[item as usize])
    }

    /// Returns the allowed flag of each item index, or `None` when every
    /// item is allowed.
    pub fn mask(&self) -> Option<&[bool]> {
        self.allowed.as_deref()
    }

    /// Returns the allowed item indices in increasing order, or `None`
    /// when every item is allowed.
    pub fn allowed_items(&self) -> Option<Vec<u32>> {
        let allowed = self.allowed.as_ref()?;
        Some(
            allowed
                .iter()
                .enumerate()
                .filter(|(_, &ok)| ok)
                .map(|(item, _)| item as u32)
                .collect(),
        )
    }

    /// Ids from the exclude or candidate lists that the model does not
    /// have, sorted and without repeats.
    pub fn unknown_ids(&self) -> &[String] {
        &self.unknown
    }
}

/// The genres of a model's items, read from an items file, as one flag
/// per item and genre.
#[derive(Debug, Clone)]
pub struct GenreIndex {
    /// Genre names as first written in the items file, sorted.
    names: Vec<String>,
    /// Position in `names` and `masks` by lowercase name.
    lookup: FxHashMap<String, usize>,
    /// `masks[g][i]` is true when item index `i` has genre `g`.
    masks: Vec<Vec<bool>>,
}

impl GenreIndex {
    /// Builds the index for the items in `items` from `catalog`. Items the
    /// catalog lacks have no genre.
    pub fn new(items: &IdMap, catalog: &ItemCatalog) -> GenreIndex {
        let mut names: Vec<String> = Vec::new();
        let mut lookup: FxHashMap<String, usize> = FxHashMap::default();
        for info in catalog.items.values() {
            for genre in &info.genres {
                let next = names.len();
                if let Entry::Vacant(slot) = lookup.entry(genre.to_lowercase())
                {
                    slot.insert(next);
                    names.push(genre.clone());
                }
            }
        }
        // Sorting makes the order independent of the catalog's hash order.
        let mut order: Vec<usize> = (0..names.len()).collect();
        order.sort_by(|&a, &b| names[a].cmp(&names[b]));
        let names: Vec<String> =
            order.iter().map(|&old| names[old].clone()).collect();
        let lookup: FxHashMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(position, name)| (name.to_lowercase(), position))
            .collect();
        let mut masks = vec![vec![false; items.len()]; names.len()];
        for (index, id) in items.ids().enumerate() {
            let Some(info) = catalog.items.get(id) else {
                continue;
            };
            for genre in &info.genres {
                let position = lookup[&genre.to_lowercase()];
                masks[position][index] = true;
            }
        }
        GenreIndex {
            names,
            lookup,
            masks,
        }
    }

    /// Genre names, sorted.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Returns the flag of each item index for genre `name`, matched
    /// without regard to case.
    ///
    /// # Errors
    ///
    /// Fails with [`Error::UnknownGenre`] when no item has the genre.
    pub fn mask(&self, name: &str) -> Result<&[bool]> {
        let key = name.trim().to_lowercase();
        match self.lookup.get(&key) {
            Some(&position) => Ok(&self.masks[position]),
            None => Err(Error::UnknownGenre {
                genre: name.to_string(),
                known: self.names.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::items::ItemInfo;

    fn catalog() -> ItemCatalog {
        let mut catalog = ItemCatalog::default();
        let rows = [
            ("a", &["Drama"][..]),
            ("b", &["Comedy", "Drama"][..]),
            ("c", &["Sci-Fi"][..]),
            ("z", &["Western"][..]),
        ];
        for (id, genres) in rows {
            catalog.items.insert(
                id.to_string(),
                ItemInfo {
                    title: format!("Title {id}"),
                    genres: genres.iter().map(|g| g.to_string()).collect(),
                },
            );
        }
        catalog
    }

    fn items() -> IdMap {
        IdMap::from_ids(["a", "b", "c", "d"]).unwrap()
    }

    fn strings(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn empty_spec_allows_all() {
        let filter =
            ItemFilter::resolve(&FilterSpec::default(), &items(), None, None)
                .unwrap();
        assert_eq!(filter, ItemFilter::none());
        assert!(filter.allows(3));
        assert_eq!(filter.allowed_items(), None);
    }

    #[test]
    fn exclude_and_candidates_combine() {
        let spec = FilterSpec {
            exclude: strings(&["b", "x"]),
            candidates: Some(strings(&["a", "b", "d", "y"])),
            ..FilterSpec::default()
        };
        let filter = ItemFilter::resolve(&spec, &items(), None, None).unwrap();
        assert_eq!(filter.allowed_items(), Some(vec![0, 3]));
        assert_eq!(filter.unknown_ids(), &strings(&["x", "y"])[..]);
    }

    #[test]
    fn rating_count_minimum_combines() {
        let spec = FilterSpec {
            min_item_ratings: 3,
            exclude: strings(&["d"]),
            ..FilterSpec::default()
        };
        let counts = [5, 2, 3, 9];
        let filter =
            ItemFilter::resolve(&spec, &items(), None, Some(&counts)).unwrap();
        assert_eq!(filter.allowed_items(), Some(vec![0, 2]));

        let error = ItemFilter::resolve(&spec, &items(), None, None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot filter by rating count"), "{error}");

        let one = FilterSpec {
            min_item_ratings: 1,
            ..FilterSpec::default()
        };
        assert!(one.is_empty());
    }

    #[test]
    fn genres_match_any_ignoring_case() {
        let index = GenreIndex::new(&items(), &catalog());
        assert_eq!(
            index.names(),
            &strings(&["Comedy", "Drama", "Sci-Fi", "Western"])[..]
        );
        let spec = FilterSpec {
            genres: strings(&["drama", "SCI-FI"]),
            exclude: strings(&["a"]),
            ..FilterSpec::default()
        };
        let filter =
            ItemFilter::resolve(&spec, &items(), Some(&index), None).unwrap();
        assert_eq!(filter.allowed_items(), Some(vec![1, 2]));
    }

    #[test]
    fn unknown_genre_lists_known() {
        let index = GenreIndex::new(&items(), &catalog());
        let spec = FilterSpec {
            genres: strings(&["Noir"]),
            ..FilterSpec::default()
        };
        let error = ItemFilter::resolve(&spec, &items(), Some(&index), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown genre Noir"), "{error}");
        assert!(error.contains("Comedy, Drama, Sci-Fi, Western"), "{error}");
    }

    #[test]
    fn genre_without_catalog_rejected() {
        let spec = FilterSpec {
            genres: strings(&["Drama"]),
            ..FilterSpec::default()
        };
        let error = ItemFilter::resolve(&spec, &items(), None, None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("--items"), "{error}");
    }
}

//! Rating data: interactions between users and items, with the maps from
//! the ids written in the file to dense indices.

pub mod dense;
mod fast;
pub mod generate;
pub mod ids;
pub mod input;
pub mod items;
pub mod load;
pub mod matrix;
pub mod split;

pub use ids::IdMap;

/// One rating: a user, an item and a value, with dense indices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    /// Dense user index, see [`Ratings::users`].
    pub user: u32,
    /// Dense item index, see [`Ratings::items`].
    pub item: u32,
    /// The rating value.
    pub value: f32,
}

/// A set of ratings with its id maps.
///
/// `timestamps` is either empty (the source had no timestamp column) or
/// parallel to `entries`.
#[derive(Debug, Clone, Default)]
pub struct Ratings {
    /// User ids as written in the source.
    pub users: IdMap,
    /// Item ids as written in the source.
    pub items: IdMap,
    /// The ratings, in source order.
    pub entries: Vec<Rating>,
    /// Seconds since the Unix epoch, parallel to `entries`, or empty.
    pub timestamps: Vec<i64>,
}

impl Ratings {
    /// Number of ratings.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no ratings.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Mean rating, or `None` when there are no ratings.
    pub fn mean(&self) -> Option<f64> {
        if self.entries.is_empty() {
            return None;
        }
        let sum: f64 = self.entries.iter().map(|r| f64::from(r.value)).sum();
        Some(sum / self.entries.len() as f64)
    }

    /// Smallest and largest rating, or `None` when there are no ratings.
    pub fn range(&self) -> Option<(f32, f32)> {
        let first = self.entries.first()?.value;
        Some(self.entries.iter().fold((first, first), |(lo, hi), r| {
            (lo.min(r.value), hi.max(r.value))
        }))
    }

    /// Returns the ratings at `positions`, with id maps that hold only the
    /// users and items those ratings mention, in order of first appearance.
    pub fn subset(&self, positions: &[usize]) -> Ratings {
        let mut out = Ratings::default();
        out.entries.reserve(positions.len());
        for &position in positions {
            let rating = self.entries[position];
            out.entries.push(Rating {
                user: out.users.intern(self.users.id(rating.user)),
                item: out.items.intern(self.items.id(rating.item)),
                value: rating.value,
            });
        }
        if !self.timestamps.is_empty() {
            out.timestamps =
                positions.iter().map(|&i| self.timestamps[i]).collect();
        }
        out
    }

    /// Removes repeated (user, item) pairs, keeping the row that comes last
    /// in source order, and returns how many rows were removed.
    ///
    /// Keeping the last row means that a file of appended exports, or of a
    /// user who changed their mind, keeps the newest rating.
    pub fn remove_duplicates(&mut self) -> usize {
        let keep = matrix::last_of_each_pair(
            &self.entries,
            self.users.len(),
            self.items.len(),
        );
        let removed = keep.iter().filter(|&&k| !k).count();
        if removed == 0 {
            return 0;
        }
        let mut flags = keep.iter();
        self.entries.retain(|_| *flags.next().unwrap());
        if !self.timestamps.is_empty() {
            let mut flags = keep.iter();
            self.timestamps.retain(|_| *flags.next().unwrap());
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratings(rows: &[(&str, &str, f32)]) -> Ratings {
        let mut out = Ratings::default();
        for &(user, item, value) in rows {
            let user = out.users.intern(user);
            let item = out.items.intern(item);
            out.entries.push(Rating { user, item, value });
            out.timestamps.push(out.entries.len() as i64);
        }
        out
    }

    #[test]
    fn duplicates_keep_last_row() {
        let mut data = ratings(&[
            ("1", "a", 1.0),
            ("2", "a", 2.0),
            ("1", "a", 3.0),
            ("1", "b", 4.0),
            ("1", "a", 5.0),
        ]);
        assert_eq!(data.remove_duplicates(), 2);
        let values: Vec<f32> = data.entries.iter().map(|r| r.value).collect();
        assert_eq!(values, vec![2.0, 4.0, 5.0]);
        assert_eq!(data.timestamps, vec![2, 4, 5]);
    }

    #[test]
    fn subset_drops_unused_ids() {
        let data =
            ratings(&[("1", "a", 1.0), ("2", "b", 2.0), ("3", "a", 3.0)]);
        let part = data.subset(&[2, 0]);
        assert_eq!(part.users.ids().collect::<Vec<_>>(), vec!["3", "1"]);
        assert_eq!(part.items.len(), 1);
        assert_eq!(part.timestamps, vec![3, 1]);
        assert_eq!(part.entries[0].value, 3.0);
    }

    #[test]
    fn mean_and_range() {
        let data = ratings(&[("1", "a", 1.5), ("2", "b", 4.5)]);
        assert_eq!(data.mean(), Some(3.0));
        assert_eq!(data.range(), Some((1.5, 4.5)));
        assert_eq!(Ratings::default().mean(), None);
    }
}

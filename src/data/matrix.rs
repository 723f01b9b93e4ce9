//! The ratings as a `sprs` CSR matrix (users by items).
//!
//! A repeated (user, item) pair is not summed, as `sprs` would do when it
//! converts triplets: [`last_of_each_pair`] finds the row to keep, and
//! [`to_csr`] expects pairs to be unique.

use sprs::CsMatI;

use crate::data::Rating;

/// A sparse users-by-items rating matrix in CSR form.
pub type RatingMatrix = CsMatI<f32, u32, usize>;

/// Groups entry positions by user with a stable counting sort, returning
/// the row pointers and the positions in row order.
fn group_by_user(entries: &[Rating], users: usize) -> (Vec<usize>, Vec<u32>) {
    let mut indptr = vec![0usize; users + 1];
    for rating in entries {
        indptr[rating.user as usize + 1] += 1;
    }
    for user in 0..users {
        indptr[user + 1] += indptr[user];
    }
    let mut next = indptr.clone();
    let mut order = vec![0u32; entries.len()];
    for (position, rating) in entries.iter().enumerate() {
        let slot = &mut next[rating.user as usize];
        order[*slot] = position as u32;
        *slot += 1;
    }
    (indptr, order)
}

/// Marks, for each entry, whether it is the last in source order of its
/// (user, item) pair.
pub fn last_of_each_pair(
    entries: &[Rating],
    users: usize,
    items: usize,
) -> Vec<bool> {
    let (indptr, mut order) = group_by_user(entries, users);
    let mut keep = vec![true; entries.len()];
    let mut last_seen = vec![u32::MAX; items];
    for user in 0..users {
        let row = &mut order[indptr[user]..indptr[user + 1]];
        // The row is in source order, so the last writer of each item wins.
        for &position in row.iter() {
            let item = entries[position as usize].item as usize;
            if last_seen[item] != u32::MAX {
                keep[last_seen[item] as usize] = false;
            }
            last_seen[item] = position;
        }
        for &position in row.iter() {
            last_seen[entries[position as usize].item as usize] = u32::MAX;
        }
    }
    keep
}

/// Builds the CSR matrix of `entries`, with item indices sorted in each row.
///
/// # Panics
///
/// Panics if a (user, item) pair repeats or an index is out of range.
pub fn to_csr(entries: &[Rating], users: usize, items: usize) -> RatingMatrix {
    try_to_csr(entries, users, items)
        .expect("ratings must have unique (user, item) pairs in range")
}

/// Builds the CSR matrix of `entries` like [`to_csr`], or returns `None`
/// when a (user, item) pair repeats.
///
/// # Panics
///
/// Panics if an index is out of range.
pub fn try_to_csr(
    entries: &[Rating],
    users: usize,
    items: usize,
) -> Option<RatingMatrix> {
    let (indptr, order) = group_by_user(entries, users);
    let mut indices = Vec::with_capacity(entries.len());
    let mut data = Vec::with_capacity(entries.len());
    let mut row: Vec<(u32, f32)> = Vec::new();
    for user in 0..users {
        row.clear();
        row.extend(order[indptr[user]..indptr[user + 1]].iter().map(|&p| {
            let rating = entries[p as usize];
            (rating.item, rating.value)
        }));
        row.sort_unstable_by_key(|&(item, _)| item);
        if row.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return None;
        }
        indices.extend(row.iter().map(|&(item, _)| item));
        data.extend(row.iter().map(|&(_, value)| value));
    }
    let matrix = CsMatI::try_new((users, items), indptr, indices, data)
        .expect("item indices must be below the item count");
    Some(matrix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rating(user: u32, item: u32, value: f32) -> Rating {
        Rating { user, item, value }
    }

    #[test]
    fn csr_rows_sorted() {
        let entries = [
            rating(1, 2, 5.0),
            rating(0, 1, 3.0),
            rating(1, 0, 4.0),
            rating(0, 0, 1.0),
        ];
        let matrix = to_csr(&entries, 3, 3);
        assert_eq!(matrix.indptr().raw_storage(), &[0, 2, 4, 4]);
        assert_eq!(matrix.indices(), &[0, 1, 0, 2]);
        assert_eq!(matrix.data(), &[1.0, 3.0, 4.0, 5.0]);
        assert_eq!(matrix.get(1, 2), Some(&5.0));
    }

    #[test]
    #[should_panic(expected = "unique")]
    fn csr_rejects_repeats() {
        to_csr(&[rating(0, 0, 1.0), rating(0, 0, 2.0)], 1, 1);
    }

    #[test]
    fn last_pair_marked() {
        let entries = [
            rating(0, 0, 1.0),
            rating(1, 0, 2.0),
            rating(0, 0, 3.0),
            rating(0, 1, 4.0),
        ];
        assert_eq!(
            last_of_each_pair(&entries, 2, 2),
            vec![false, true, true, true]
        );
    }
}

//! The ratings as a `sprs` CSR matrix (users by items).
//!
//! A repeated (user, item) pair is not summed, as `sprs` would do when it
//! converts triplets: [`last_of_each_pair`] finds the row to keep, and
//! [`to_csr`] expects pairs to be unique.

use rayon::prelude::*;
use sprs::CsMatI;

use crate::data::Rating;

/// A sparse users-by-items rating matrix in CSR form.
pub type RatingMatrix = CsMatI<f32, u32, usize>;

/// The pattern of a rating matrix: which items each user rated, in CSR
/// form, without the values (`()` takes no memory).
pub type RatedMatrix = CsMatI<(), u32, usize>;

/// Builds the pattern of `entries`, with item indices sorted in each row,
/// or returns `None` when a (user, item) pair repeats. Takes 4 bytes per
/// rating and no other copy.
///
/// # Panics
///
/// Panics if an index is out of range.
pub fn try_rated(
    entries: &[Rating],
    users: usize,
    items: usize,
) -> Option<RatedMatrix> {
    let mut indptr = vec![0usize; users + 1];
    for rating in entries {
        indptr[rating.user as usize + 1] += 1;
    }
    for user in 0..users {
        indptr[user + 1] += indptr[user];
    }

    let mut next = indptr.clone();
    let mut indices = vec![0u32; entries.len()];
    for rating in entries {
        let slot = &mut next[rating.user as usize];
        indices[*slot] = rating.item;
        *slot += 1;
    }
    drop(next);

    // Sort and check each row in parallel, on disjoint slices.
    let mut rows = Vec::with_capacity(users);
    let mut rest = indices.as_mut_slice();
    for pair in indptr.windows(2) {
        let (row, tail) = rest.split_at_mut(pair[1] - pair[0]);
        rows.push(row);
        rest = tail;
    }
    let unique = rows.into_par_iter().all(|row| {
        row.sort_unstable();
        row.windows(2).all(|pair| pair[0] != pair[1])
    });
    if !unique {
        return None;
    }

    let data = vec![(); entries.len()];
    let matrix = CsMatI::try_new((users, items), indptr, indices, data)
        .expect("item indices must be below the item count");
    Some(matrix)
}

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
/// (user, item) pair. Runs on the current rayon thread pool.
pub fn last_of_each_pair(
    entries: &[Rating],
    users: usize,
    items: usize,
) -> Vec<bool> {
    match last_in_user_runs(entries, users, items) {
        Some(keep) => keep,
        None => last_in_groups(entries, users, items),
    }
}

/// Does what [`last_of_each_pair`] does when the entries of each user are
/// next to each other, as in a file sorted by user, by walking each run of
/// one user's entries in place. Returns `None` when a user has entries in
/// two runs.
fn last_in_user_runs(
    entries: &[Rating],
    users: usize,
    items: usize,
) -> Option<Vec<bool>> {
    // More runs than users means that some user has two, which this count
    // finds before any other work in files in no order.
    let runs = entries
        .par_windows(2)
        .filter(|pair| pair[0].user != pair[1].user)
        .count()
        + 1;
    if runs > users {
        return None;
    }

    // The entries are cut into parts between runs, one part per thread.
    let parts = rayon::current_num_threads().max(1);
    let mut bounds = vec![0];
    for part in 1..parts {
        let mut at = (entries.len() * part / parts).max(*bounds.last()?);
        while at > 0
            && at < entries.len()
            && entries[at].user == entries[at - 1].user
        {
            at += 1;
        }
        bounds.push(at);
    }
    bounds.push(entries.len());

    let mut keep = vec![true; entries.len()];
    let mut jobs = Vec::with_capacity(parts);
    let mut rest = keep.as_mut_slice();
    for pair in bounds.windows(2) {
        let (part, tail) = rest.split_at_mut(pair[1] - pair[0]);
        jobs.push((&entries[pair[0]..pair[1]], part));
        rest = tail;
    }
    let run_users: Vec<Vec<u32>> = jobs
        .into_par_iter()
        .map(|(entries, keep)| {
            let mut last_seen = vec![u32::MAX; items];
            let mut run_users = Vec::new();
            let mut start = 0;
            for run in entries.chunk_by(|a, b| a.user == b.user) {
                run_users.push(run[0].user);
                // The run is in source order, so the last writer of each
                // item wins.
                for (offset, rating) in run.iter().enumerate() {
                    let item = rating.item as usize;
                    if last_seen[item] != u32::MAX {
                        keep[last_seen[item] as usize] = false;
                    }
                    last_seen[item] = (start + offset) as u32;
                }
                for rating in run {
                    last_seen[rating.item as usize] = u32::MAX;
                }
                start += run.len();
            }
            run_users
        })
        .collect();

    // Each run must be the only one of its user.
    let mut seen = vec![false; users];
    for &user in run_users.iter().flatten() {
        if std::mem::replace(&mut seen[user as usize], true) {
            return None;
        }
    }
    Some(keep)
}

/// Does what [`last_of_each_pair`] does for entries in any order.
///
/// The entries are cut into one part per thread of the current rayon pool,
/// each part grouped by user on its own. The users are then shared out
/// among the threads, and each thread walks the rows of its users part by
/// part, which is source order.
fn last_in_groups(entries: &[Rating], users: usize, items: usize) -> Vec<bool> {
    let mut parts = rayon::current_num_threads().max(1);
    // Each part has a row pointer per user, which is not worth it when
    // users are many for the entries.
    if entries.len() < PARALLEL_ENTRIES || users > entries.len() / 8 {
        parts = 1;
    }
    let part_len = entries.len().div_ceil(parts).max(1);
    let groups: Vec<(Vec<usize>, Vec<u32>)> = entries
        .par_chunks(part_len)
        .enumerate()
        .map(|(part, chunk)| {
            let (indptr, mut order) = group_by_user(chunk, users);
            let start = (part * part_len) as u32;
            if start > 0 {
                order.iter_mut().for_each(|position| *position += start);
            }
            (indptr, order)
        })
        .collect();

    let ranges = parts * 4;
    let range_len = users.div_ceil(ranges).max(1);
    let dropped: Vec<Vec<u32>> = (0..users)
        .step_by(range_len)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map_init(
            || vec![u32::MAX; items],
            |last_seen, first| {
                let mut dropped = Vec::new();
                for user in first..(first + range_len).min(users) {
                    let rows = || {
                        groups.iter().flat_map(move |(indptr, order)| {
                            &order[indptr[user]..indptr[user + 1]]
                        })
                    };
                    // The rows are in source order, so the last writer of
                    // each item wins.
                    for &position in rows() {
                        let item = entries[position as usize].item as usize;
                        if last_seen[item] != u32::MAX {
                            dropped.push(last_seen[item]);
                        }
                        last_seen[item] = position;
                    }
                    for &position in rows() {
                        let item = entries[position as usize].item as usize;
                        last_seen[item] = u32::MAX;
                    }
                }
                dropped
            },
        )
        .collect();

    let mut keep = vec![true; entries.len()];
    for &position in dropped.iter().flatten() {
        keep[position as usize] = false;
    }
    keep
}

/// Minimum number of entries for which [`last_of_each_pair`] uses more
/// than one thread.
const PARALLEL_ENTRIES: usize = 1 << 16;

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

    /// Marks the last entry of each pair by remembering the last
    /// position of every pair.
    fn last_by_map(entries: &[Rating]) -> Vec<bool> {
        let mut last = std::collections::HashMap::new();
        for (position, rating) in entries.iter().enumerate() {
            last.insert((rating.user, rating.item), position);
        }
        entries
            .iter()
            .enumerate()
            .map(|(position, r)| last[&(r.user, r.item)] == position)
            .collect()
    }

    #[test]
    fn last_pair_marked_in_parallel() {
        use rand::{Rng, SeedableRng};

        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        // Users, items, and whether each user's entries are consecutive.
        let cases = [
            (500, 300, true),
            (500, 300, false),
            (50_000, 40, false),
            (3, 2, true),
        ];
        for (users, items, grouped) in cases {
            let mut entries: Vec<Rating> = (0..200_000)
                .map(|_| {
                    let user = rng.random_range(0..users);
                    let item = rng.random_range(0..items);
                    rating(user, item, 1.0)
                })
                .collect();
            if grouped {
                entries.sort_by_key(|r| r.user);
            }
            let expected = last_by_map(&entries);
            let case = format!("{users} users, {items} items, {grouped}");
            for threads in [1, 3] {
                let found = if threads == 1 {
                    last_of_each_pair(&entries, users as usize, items as usize)
                } else {
                    pool.install(|| {
                        last_of_each_pair(
                            &entries,
                            users as usize,
                            items as usize,
                        )
                    })
                };
                assert!(found == expected, "{case}, {threads} threads");
            }
            // The same user in two runs needs the general walk.
            entries.rotate_left(1000);
            let expected = last_by_map(&entries);
            let found = pool.install(|| {
                last_of_each_pair(&entries, users as usize, items as usize)
            });
            assert!(found == expected, "{case}, rotated");
        }
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

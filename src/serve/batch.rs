//! Top-N lists for many users at once.
//!
//! Users are scored in blocks: the factors of a block of users times the
//! transposed item factors, one tile of items at a time, with
//! `matrixmultiply`'s `sgemm`. The biases are then added to each row of
//! the tile, the user's rated items are set to negative infinity, and the
//! row is scanned into a [`TopN`] selection that carries over from tile
//! to tile. Blocks run in parallel on rayon's pool.
//!
//! The product uses fused multiply-add where the processor has it, so a
//! score can differ from [`Model::score`] in the last bits, and two items
//! whose scores are that close can swap places relative to
//! [`Model::recommend`].

use std::borrow::Cow;

use rayon::prelude::*;

use crate::error::Result;
use crate::model::{Model, Scored};
use crate::serve::filter::ItemFilter;
use crate::serve::rank::{add_bias, TopN};

/// Users per block. Their factors (64 KiB at 64 factors) stay in cache
/// while the item tiles stream past.
pub const BLOCK_USERS: usize = 256;

/// Items per tile. A block's scores of one tile take `BLOCK_USERS *
/// TILE_ITEMS * 4` bytes, 2 MiB, which fits a typical L2 or L3 cache.
pub const TILE_ITEMS: usize = 2048;

/// Scores per chunk of the scan: a chunk whose best score does not beat
/// the current n-th best is skipped whole.
const SCAN_CHUNK: usize = 16;

/// The items the batch ranks: all of the model's, or the ones a filter
/// allows, copied into a compact matrix.
struct Columns<'a> {
    /// Row-major `columns x factors`.
    factors: Cow<'a, [f32]>,
    bias: Cow<'a, [f32]>,
    /// Item index of each column; `None` when column `c` is item `c`.
    items: Option<Vec<u32>>,
    /// Column of each item index, `u32::MAX` for an item left out; `None`
    /// when column `c` is item `c`.
    column_of: Option<Vec<u32>>,
}

impl Columns<'_> {
    fn len(&self) -> usize {
        self.bias.len()
    }

    fn item(&self, column: usize) -> u32 {
        match &self.items {
            Some(items) => items[column],
            None => column as u32,
        }
    }
}

/// Working memory of one thread.
#[derive(Default)]
struct Scratch {
    /// Factors of the block's users, row-major.
    users: Vec<f32>,
    /// Scores of the block's users for one tile, row-major.
    scores: Vec<f32>,
    /// Global mean plus bias of each user of the block.
    bases: Vec<f32>,
    /// Sorted columns of each user's rated items.
    rated: Vec<Vec<u32>>,
    tops: Vec<TopN>,
}

/// Computes top-N lists of many users against a fixed set of items.
pub struct BatchScorer<'a> {
    model: &'a Model,
    n: usize,
    columns: Columns<'a>,
    block_users: usize,
    tile_items: usize,
}

impl<'a> BatchScorer<'a> {
    /// Prepares lists of `n` items among those `filter` allows.
    pub fn new(model: &'a Model, n: usize, filter: &ItemFilter) -> Self {
        let columns = match filter.allowed_items() {
            None => Columns {
                factors: Cow::Borrowed(&model.item_factors),
                bias: Cow::Borrowed(&model.item_bias),
                items: None,
                column_of: None,
            },
            Some(allowed) => {
                let mut factors =
                    Vec::with_capacity(allowed.len() * model.factors());
                let mut column_of = vec![u32::MAX; model.items.len()];
                for (column, &item) in allowed.iter().enumerate() {
                    factors.extend_from_slice(model.item_vector(item));
                    column_of[item as usize] = column as u32;
                }
                Columns {
                    factors: Cow::Owned(factors),
                    bias: Cow::Owned(
                        allowed
                            .iter()
                            .map(|&i| model.item_bias[i as usize])
                            .collect(),
                    ),
                    items: Some(allowed),
                    column_of: Some(column_of),
                }
            }
        };
        BatchScorer {
            model,
            n: n.min(columns.len()),
            columns,
            block_users: BLOCK_USERS,
            tile_items: TILE_ITEMS,
        }
    }

    /// Sets the users per block and items per tile (each at least 1).
    pub fn with_blocks(mut self, users: usize, items: usize) -> Self {
        self.block_users = users.max(1);
        self.tile_items = items.max(1);
        self
    }

    /// Users per block.
    pub fn block_users(&self) -> usize {
        self.block_users
    }

    /// Top lists of `users` (indices), best first, in the order given. Runs
    /// on the calling thread.
    pub fn top_lists(&self, users: &[u32]) -> Vec<Vec<Scored>> {
        let mut scratch = Scratch::default();
        let mut lists = Vec::with_capacity(users.len());
        for block in users.chunks(self.block_users) {
            lists.extend(self.score_block(block, &mut scratch));
        }
        lists
    }

    /// Scores `users` block by block in parallel and passes each block to
    /// `render` on a worker thread, then hands the rendered blocks to
    /// `write` in user order on the calling thread, with the count of
    /// users written so far.
    ///
    /// `render` gets the position of the block's first user in `users` and
    /// one entry per user: the top list, or `None` where `users` holds
    /// `None`. Memory stays bounded: a few blocks per thread are in flight
    /// at a time.
    ///
    /// # Errors
    ///
    /// Stops at the first error of `write` and returns it.
    pub fn stream<T, R, W>(
        &self,
        users: &[Option<u32>],
        render: R,
        mut write: W,
    ) -> Result<()>
    where
        T: Send,
        R: Fn(usize, Vec<Option<Vec<Scored>>>) -> T + Sync,
        W: FnMut(T, usize) -> Result<()>,
    {
        let in_flight = self.block_users * rayon::current_num_threads() * 4;
        let mut done = 0;
        for part in users.chunks(in_flight) {
            let rendered: Vec<(T, usize)> = part
                .par_chunks(self.block_users)
                .enumerate()
                .map_init(Scratch::default, |scratch, (number, block)| {
                    let known: Vec<u32> =
                        block.iter().flatten().copied().collect();
                    let mut lists = if known.is_empty() {
                        Vec::new().into_iter()
                    } else {
                        self.score_block(&known, scratch).into_iter()
                    };
                    let merged = block
                        .iter()
                        .map(|user| user.and_then(|_| lists.next()))
                        .collect();
                    let offset = done + number * self.block_users;
                    (render(offset, merged), block.len())
                })
                .collect();
            for (output, count) in rendered {
                done += count;
                write(output, done)?;
            }
        }
        Ok(())
    }

    /// Top lists of one block of at most `block_users` users.
    fn score_block(
        &self,
        users: &[u32],
        scratch: &mut Scratch,
    ) -> Vec<Vec<Scored>> {
        let model = self.model;
        let rows = users.len();
        let columns = self.columns.len();

        scratch.users.clear();
        scratch.bases.clear();
        for &user in users {
            scratch.users.extend_from_slice(model.user_vector(user));
            scratch
                .bases
                .push(model.global_mean + model.user_bias[user as usize]);
        }
        scratch.rated.resize_with(rows, Vec::new);
        for (rated, &user) in scratch.rated.iter_mut().zip(users) {
            rated.clear();
            match &self.columns.column_of {
                None => rated.extend_from_slice(model.rated_by(user)),
                // Allowed items are in increasing order, so the columns of
                // the sorted rated items are sorted too.
                Some(column_of) => rated.extend(
                    model
                        .rated_by(user)
                        .iter()
                        .map(|&item| column_of[item as usize])
                        .filter(|&column| column != u32::MAX),
                ),
            }
        }
        scratch.tops.clear();
        scratch.tops.resize_with(rows, || TopN::new(self.n));

        for start in (0..columns).step_by(self.tile_items) {
            let width = self.tile_items.min(columns - start);
            scratch.scores.resize(rows * width, 0.0);
            self.multiply(
                &scratch.users,
                rows,
                start,
                width,
                &mut scratch.scores,
            );
            let bias = &self.columns.bias[start..start + width];
            for row in 0..rows {
                let scores =
                    &mut scratch.scores[row * width..(row + 1) * width];
                add_bias(scores, bias, scratch.bases[row]);
                let rated = &scratch.rated[row];
                let first = rated.partition_point(|&c| (c as usize) < start);
                for &column in &rated[first..] {
                    let column = column as usize;
                    if column >= start + width {
                        break;
                    }
                    scores[column - start] = f32::NEG_INFINITY;
                }
                self.scan(scores, start, &mut scratch.tops[row]);
            }
        }
        scratch.tops.iter_mut().map(TopN::take_sorted).collect()
    }

    /// Writes the product of `rows` user vectors and the factors of
    /// columns `start..start + width` into `out`, row-major.
    fn multiply(
        &self,
        users: &[f32],
        rows: usize,
        start: usize,
        width: usize,
        out: &mut [f32],
    ) {
        let k = self.model.factors();
        let tile = &self.columns.factors[start * k..(start + width) * k];
        assert_eq!(users.len(), rows * k, "user block shape");
        assert_eq!(out.len(), rows * width, "score tile shape");
        // SAFETY: `users` is `rows x k` row-major, with row stride k and
        // column stride 1. `tile` is `width x k` row-major, read as its
        // `k x width` transpose with row stride 1 and column stride k.
        // `out` is `rows x width` row-major. The asserts above check all
        // three lengths, so every index sgemm forms is in bounds, and
        // `out` does not alias the inputs.
        unsafe {
            matrixmultiply::sgemm(
                rows,
                k,
                width,
                1.0,
                users.as_ptr(),
                k as isize,
                1,
                tile.as_ptr(),
                1,
                k as isize,
                0.0,
                out.as_mut_ptr(),
                width as isize,
                1,
            );
        }
    }

    /// Offers one row of a tile, whose first score is column `start`, to
    /// `top`.
    fn scan(&self, scores: &[f32], start: usize, top: &mut TopN) {
        for (number, chunk) in scores.chunks(SCAN_CHUNK).enumerate() {
            if chunk_max(chunk) <= top.threshold() {
                continue;
            }
            let first = start + number * SCAN_CHUNK;
            for (offset, &score) in chunk.iter().enumerate() {
                top.push(self.columns.item(first + offset), score);
            }
        }
    }
}

/// Largest score of a chunk, NaN ignored; negative infinity when empty.
#[multiversion::multiversion(targets(
    "x86_64+avx2+avx",
    "x86_64+avx",
    "aarch64+neon"
))]
fn chunk_max(chunk: &[f32]) -> f32 {
    chunk.iter().fold(
        f32::NEG_INFINITY,
        |best, &s| if s > best { s } else { best },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate::{generate, SyntheticSpec};
    use crate::serve::filter::FilterSpec;
    use crate::serve::Recommender;
    use crate::TrainParams;

    fn trained() -> Model {
        let spec = SyntheticSpec {
            users: 300,
            items: 140,
            ratings: 6000,
            ..SyntheticSpec::default()
        };
        let synthetic = generate(&spec).unwrap();
        let params = TrainParams {
            factors: 12,
            epochs: 6,
            threads: 1,
            ..TrainParams::default()
        };
        crate::fit(&synthetic.ratings, &params).unwrap()
    }

    /// Checks that `batch` has the items of `single` up to swaps of
    /// near-equal scores, and scores within rounding.
    fn assert_same_list(batch: &[Scored], single: &[Scored], context: &str) {
        assert_eq!(batch.len(), single.len(), "{context}: length");
        for (rank, (b, s)) in batch.iter().zip(single).enumerate() {
            assert!(
                (b.score - s.score).abs() < 1e-4,
                "{context}: rank {rank}: batch {b:?}, single {s:?}"
            );
            if b.item != s.item {
                let gap = (b.score - s.score).abs();
                assert!(gap < 1e-4, "{context}: rank {rank} differs");
            }
        }
    }

    #[test]
    fn batch_matches_single_queries() {
        let model = trained();
        let users: Vec<u32> = (0..model.users.len() as u32).collect();
        let none = ItemFilter::none();
        // Small blocks and tiles exercise the tile and block edges.
        for (block, tile) in [(BLOCK_USERS, TILE_ITEMS), (7, 33), (1, 1)] {
            let scorer =
                BatchScorer::new(&model, 10, &none).with_blocks(block, tile);
            let lists = scorer.top_lists(&users);
            for (&user, list) in users.iter().zip(&lists) {
                let single = model.recommend(model.users.id(user), 10).unwrap();
                let context = format!("user {user}, blocks {block}x{tile}");
                assert_same_list(list, &single, &context);
                for scored in list {
                    let rated = model.rated_by(user);
                    assert!(rated.binary_search(&scored.item).is_err());
                }
            }
        }
    }

    #[test]
    fn batch_applies_filter() {
        let model = trained();
        let recommender = Recommender::new(model.clone(), None);
        let spec = FilterSpec {
            exclude: vec![model.items.id(0).into(), model.items.id(5).into()],
            candidates: Some(
                model.items.ids().step_by(2).map(str::to_string).collect(),
            ),
            ..FilterSpec::default()
        };
        let filter = recommender.filter(&spec).unwrap();
        let scorer = BatchScorer::new(&model, 8, &filter).with_blocks(16, 20);
        let users: Vec<u32> = (0..model.users.len() as u32).collect();
        let lists = scorer.top_lists(&users);
        for (&user, list) in users.iter().zip(&lists) {
            let single = recommender.recommend_index(user, 8, &filter);
            assert_same_list(list, &single, &format!("user {user}"));
            assert!(list.iter().all(|s| s.item % 2 == 0 && s.item != 0));
        }
    }

    #[test]
    fn stream_keeps_order_and_gaps() {
        let model = trained();
        let none = ItemFilter::none();
        let scorer = BatchScorer::new(&model, 3, &none).with_blocks(5, 64);
        let users: Vec<Option<u32>> = (0..40u32)
            .map(|u| if u % 7 == 3 { None } else { Some(u) })
            .collect();
        let mut seen = Vec::new();
        let mut counts = Vec::new();
        scorer
            .stream(
                &users,
                |offset, lists| (offset, lists),
                |(offset, lists), done| {
                    for (position, list) in lists.into_iter().enumerate() {
                        seen.push((offset + position, list.is_some()));
                    }
                    counts.push(done);
                    Ok(())
                },
            )
            .unwrap();
        let expected: Vec<(usize, bool)> = users
            .iter()
            .enumerate()
            .map(|(position, user)| (position, user.is_some()))
            .collect();
        assert_eq!(seen, expected);
        assert_eq!(counts.last(), Some(&40));
        assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
    }

    #[test]
    fn count_above_items_lists_all_unrated() {
        let model = trained();
        let scorer = BatchScorer::new(&model, 10_000, &ItemFilter::none());
        let lists = scorer.top_lists(&[0, 1]);
        for (user, list) in [0u32, 1].iter().zip(&lists) {
            let unrated = model.items.len() - model.rated_by(*user).len();
            assert_eq!(list.len(), unrated);
        }
    }
}

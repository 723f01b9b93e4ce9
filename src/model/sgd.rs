//! The parallel SGD engine.
//!
//! Objective: minimize over the training ratings r(u, i)
//!
//! ```text
//! (r - mu - b_u - b_i - p_u . q_i)^2
//!     + reg * (|p_u|^2 + |q_i|^2) + bias_reg * (b_u^2 + b_i^2)
//! ```
//!
//! where `mu` is the global mean, fixed before training.
//!
//! Step sizes: with `TrainParams::adagrad`, each user and item row keeps a
//! running sum `s` of the squared norm of its factor gradient, divided by
//! [`ADAGRAD_DIVISOR`], and takes factor steps of `learning_rate /
//! sqrt(s)`. LIBMF 2 keeps such a sum in `MFSolver::sg_update` of its
//! `mf.cpp`, starting at 1 and divided by the factor count instead. Here
//! `s` starts at `adagrad_initial_accumulator` and grows after every update
//! of the row, so rows with many ratings take smaller steps as training
//! goes on. Bias steps are not scaled this way.
//!
//! Schedule: users and items are each cut into `B` bands of about equal
//! rating counts, which cuts the matrix into `B x B` blocks. One epoch runs
//! `B` strata, and stratum `s` holds the blocks `(a, perm((a + s) mod B))`
//! for every user band `a`. No two blocks of a stratum share a user band or
//! an item band, so the blocks run in parallel on disjoint `&mut` slices of
//! the factor arrays and the borrow checker proves there is no data race.
//! Each block is visited in a fixed order (user by user in two interleaved
//! runs, each user's items shuffled once), so the result depends on the seed and `B` but not on how
//! threads are scheduled.
//!
//! Layout: users are renumbered so that each band is a contiguous range,
//! and likewise items. Factors are row-major `f32` arrays, one row of
//! `factors` values per user (or item), in that internal order. Each block
//! stores its ratings as (local user, local item, rating minus mu), the
//! local indices as `u16` when every band has at most 65 536 rows, which
//! takes 8 bytes a rating instead of 12. While updating one rating, the
//! engine prefetches the item row of the rating 8 places ahead.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use crate::data::matrix::RatedMatrix;
use crate::data::Rating;
use crate::model::params::TrainParams;

/// Divisor of the squared gradient norms that the AdaGrad sums add up: a
/// fixed number rather than the factor count. A trained row's norm, and so its
/// gradient's, hardly depends on the factor count, which makes the steps
/// of a given learning rate about the same at any factor count. Dividing
/// by the count instead, as a mean over coordinates does, gave steps at 32
/// factors half the size of those at 128, and 20 epochs at 32 factors then
/// ended far from the 128-factor result. 128 is the default factor count,
/// where both divisors agree.
pub(crate) const ADAGRAD_DIVISOR: f32 = 128.0;

/// Rating count at which a row's per-update penalty equals
/// `regularization`, whatever the exponent.
pub(crate) const REFERENCE_COUNT: u32 = 100;

/// Index of a row inside its band.
trait Local: Copy + Send + Sync + Ord {
    fn from_index(index: usize) -> Self;
    fn index(self) -> usize;
}

/// Maximum rows of a band whose local indices fit in `u16`.
const NARROW_ROWS: usize = 1 << 16;

impl Local for u16 {
    fn from_index(index: usize) -> u16 {
        index as u16
    }
    fn index(self) -> usize {
        usize::from(self)
    }
}

impl Local for u32 {
    fn from_index(index: usize) -> u32 {
        index as u32
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// One training rating inside a block.
#[derive(Debug, Clone, Copy)]
struct Entry<L> {
    user: L,
    item: L,
    residual: f32,
}

/// The blocks in row-major order: block `(a, b)` is `blocks[a * B + b]`.
enum Blocks {
    /// Every band has at most 65 536 rows.
    Narrow(Vec<Vec<Entry<u16>>>),
    Wide(Vec<Vec<Entry<u32>>>),
}

/// A partition of rows into contiguous bands of the internal order.
#[derive(Debug, Clone)]
struct Bands {
    /// Internal index of each external row.
    to_internal: Vec<u32>,
    /// Band `b` is internal rows `bounds[b]..bounds[b + 1]`.
    bounds: Vec<usize>,
}

impl Bands {
    /// Assigns rows to `count` bands so that each band has about the same
    /// number of ratings: the busiest rows are placed first, each into the
    /// band with the fewest ratings so far.
    fn balanced(counts: &[u32], count: usize) -> Bands {
        let mut order: Vec<u32> = (0..counts.len() as u32).collect();
        order.sort_by_key(|&row| std::cmp::Reverse(counts[row as usize]));
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); count];
        let mut loads = std::collections::BinaryHeap::new();
        for band in 0..count {
            loads.push(std::cmp::Reverse((0u64, band)));
        }
        for row in order {
            let std::cmp::Reverse((load, band)) = loads.pop().unwrap();
            members[band].push(row);
            let load = load + u64::from(counts[row as usize]);
            loads.push(std::cmp::Reverse((load, band)));
        }
        let mut to_internal = vec![0u32; counts.len()];
        let mut bounds = vec![0usize];
        let mut next = 0u32;
        for band in &mut members {
            band.sort_unstable();
            for &row in band.iter() {
                to_internal[row as usize] = next;
                next += 1;
            }
            bounds.push(next as usize);
        }
        Bands {
            to_internal,
            bounds,
        }
    }

    /// Band and index inside the band of each external row.
    fn placement(&self) -> Vec<(u32, u32)> {
        let mut band_of_internal = Vec::with_capacity(self.to_internal.len());
        for (band, range) in self.bounds.windows(2).enumerate() {
            band_of_internal.extend((range[0]..range[1]).map(|_| band as u32));
        }
        self.to_internal
            .iter()
            .map(|&internal| {
                let band = band_of_internal[internal as usize];
                let start = self.bounds[band as usize] as u32;
                (band, internal - start)
            })
            .collect()
    }

    /// Rows of the largest band.
    fn widest(&self) -> usize {
        self.bounds
            .windows(2)
            .map(|b| b[1] - b[0])
            .max()
            .unwrap_or(0)
    }

    fn len(&self) -> usize {
        self.bounds.len() - 1
    }
}

/// Splits `values` (rows of `width`) into one mutable slice per band.
fn split_rows<'a>(
    mut values: &'a mut [f32],
    bounds: &[usize],
    width: usize,
) -> Vec<&'a mut [f32]> {
    let mut slices = Vec::with_capacity(bounds.len() - 1);
    for band in bounds.windows(2) {
        let (head, tail) = values.split_at_mut((band[1] - band[0]) * width);
        slices.push(head);
        values = tail;
    }
    slices
}

/// State of one band: the factor rows and biases that SGD updates, the
/// AdaGrad sum and squared factor norm of each row, and the factor penalty
/// of each row.
struct BandState<'a> {
    factors: &'a mut [f32],
    biases: &'a mut [f32],
    gradient_sums: &'a mut [f32],
    squared_norms: &'a mut [f32],
    penalties: &'a [f32],
}

fn band_states<'a>(
    factors: &'a mut [f32],
    biases: &'a mut [f32],
    gradient_sums: &'a mut [f32],
    squared_norms: &'a mut [f32],
    penalties: &'a [f32],
    bounds: &[usize],
    width: usize,
) -> Vec<Option<BandState<'a>>> {
    split_rows(factors, bounds, width)
        .into_iter()
        .zip(split_rows(biases, bounds, 1))
        .zip(split_rows(gradient_sums, bounds, 1))
        .zip(split_rows(squared_norms, bounds, 1))
        .zip(bounds.windows(2))
        .map(
            |((((factors, biases), gradient_sums), squared_norms), band)| {
                let penalties = &penalties[band[0]..band[1]];
                Some(BandState {
                    factors,
                    biases,
                    gradient_sums,
                    squared_norms,
                    penalties,
                })
            },
        )
        .collect()
}

/// Returns the squared norm of each row of `factors` (rows of `width`), or
/// zeros when they are not `needed`, so that [`band_states`] can split the
/// result either way.
fn squared_norms(factors: &[f32], width: usize, needed: bool) -> Vec<f32> {
    if !needed {
        return vec![0.0; factors.len() / width];
    }
    factors
        .par_chunks_exact(width)
        .map(|row| dot(row, row))
        .collect()
}

/// Per-update factor penalty of each row, in internal order:
/// `regularization * (REFERENCE_COUNT / count)^exponent`. With exponent 0
/// every update applies the same penalty, so a row's total penalty grows
/// with its rating count; with exponent 1 every row gets the same total.
fn row_penalties(
    counts: &[u32],
    bands: &Bands,
    regularization: f32,
    exponent: f32,
) -> Vec<f32> {
    let mean = f64::from(REFERENCE_COUNT);
    let mut penalties = vec![0.0f32; counts.len()];
    for (row, &count) in counts.iter().enumerate() {
        let scale = (mean / f64::from(count.max(1))).powf(f64::from(exponent));
        penalties[bands.to_internal[row] as usize] =
            (f64::from(regularization) * scale) as f32;
    }
    penalties
}

/// Average ratings per block below which a picked band count is lowered.
const MIN_BLOCK_RATINGS: usize = 256;

/// Largest band count for `ratings` ratings when the count is picked from
/// the thread count (`blocks` 0): at least 8, and few enough that blocks
/// average [`MIN_BLOCK_RATINGS`]. Many tiny blocks cost more in
/// synchronization than they gain: 1,024 threads on 80,000 ratings took a
/// minute an epoch. A count set by `blocks` is kept as given.
fn band_limit(ratings: usize, blocks: usize) -> usize {
    if blocks > 0 {
        return blocks;
    }
    ((ratings / MIN_BLOCK_RATINGS) as f64).sqrt().max(8.0) as usize
}

/// Step sizes and bias penalty of one epoch.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// Whether factor steps are divided by the root of the row's AdaGrad
    /// sum.
    adagrad: bool,
    learning_rate: f32,
    bias_learning_rate: f32,
    bias_regularization: f32,
}

/// Step sizes below this are taken as 0. A step this small changes no
/// factor or bias of ordinary size, and products with it would be
/// subnormal numbers, which the processor handles many times slower. A
/// decay of 0.98 reaches it after about 3,200 epochs.
const MIN_STEP: f32 = 1e-30;

fn flush_tiny(step: f32) -> f32 {
    if step < MIN_STEP {
        0.0
    } else {
        step
    }
}

/// Training state: blocked ratings and factors in internal order.
pub(crate) struct Engine {
    factors: usize,
    global_mean: f32,
    users: Bands,
    items: Bands,
    blocks: Blocks,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
    user_bias: Vec<f32>,
    item_bias: Vec<f32>,
    user_penalties: Vec<f32>,
    item_penalties: Vec<f32>,
    /// AdaGrad sum of each user row, in internal order. Without
    /// `TrainParams::adagrad` it stays at its starting value.
    user_gradient_sums: Vec<f32>,
    /// AdaGrad sum of each item row, in internal order.
    item_gradient_sums: Vec<f32>,
    rng: ChaCha8Rng,
}

/// Factors and biases in the caller's user and item order.
pub(crate) struct Trained {
    pub user_factors: Vec<f32>,
    pub item_factors: Vec<f32>,
    pub user_bias: Vec<f32>,
    pub item_bias: Vec<f32>,
}

impl Engine {
    /// Lays out `entries` in blocks and draws the initial factors.
    /// `rated` is the pattern of `entries`, whose (user, item) pairs are
    /// unique.
    pub fn new(
        entries: &[Rating],
        rated: &RatedMatrix,
        global_mean: f32,
        params: &TrainParams,
    ) -> Engine {
        let (rows, cols) = rated.shape();
        let bands = params
            .band_count()
            .min(band_limit(entries.len(), params.blocks))
            .min(rows)
            .min(cols)
            .max(1);
        let rng = ChaCha8Rng::seed_from_u64(params.seed);

        let user_counts: Vec<u32> = rated
            .indptr()
            .raw_storage()
            .windows(2)
            .map(|pair| (pair[1] - pair[0]) as u32)
            .collect();
        let mut item_counts = vec![0u32; cols];
        for &item in rated.indices() {
            item_counts[item as usize] += 1;
        }
        let users = Bands::balanced(&user_counts, bands);
        let items = Bands::balanced(&item_counts, bands);
        let (reg, exponent) =
            (params.regularization, params.regularization_exponent);
        let user_penalties = row_penalties(&user_counts, &users, reg, exponent);
        let item_penalties = row_penalties(&item_counts, &items, reg, exponent);
        drop((user_counts, item_counts));

        let seed = params.seed;
        let blocks = if users.widest().max(items.widest()) <= NARROW_ROWS {
            Blocks::Narrow(lay_out(entries, &users, &items, global_mean, seed))
        } else {
            Blocks::Wide(lay_out(entries, &users, &items, global_mean, seed))
        };

        let k = params.factors;
        let user_factors = draw_factors(rows * k, params, 0);
        let item_factors = draw_factors(cols * k, params, 1);
        Engine {
            factors: k,
            global_mean,
            users,
            items,
            blocks,
            user_factors,
            item_factors,
            user_bias: vec![0.0; rows],
            item_bias: vec![0.0; cols],
            user_penalties,
            item_penalties,
            user_gradient_sums: vec![params.adagrad_initial_accumulator; rows],
            item_gradient_sums: vec![params.adagrad_initial_accumulator; cols],
            rng,
        }
    }

    /// Runs one epoch and returns the sum of squared errors seen during it,
    /// each error taken just before its rating's update.
    pub fn epoch(
        &mut self,
        learning_rate: f32,
        bias_learning_rate: f32,
        params: &TrainParams,
    ) -> f64 {
        let bands = self.users.len();
        let step = Step {
            adagrad: params.adagrad,
            learning_rate: flush_tiny(learning_rate),
            bias_learning_rate: flush_tiny(bias_learning_rate),
            bias_regularization: params.bias_regularization,
        };
        let mut strata: Vec<usize> = (0..bands).collect();
        let mut item_order: Vec<usize> = (0..bands).collect();
        strata.shuffle(&mut self.rng);
        item_order.shuffle(&mut self.rng);

        let k = self.factors;
        // AdaGrad needs |p|^2 and |q|^2 at every update. They are computed
        // here and then carried through each update in O(1) (see
        // `sgd_block`), which bounds their rounding drift to one epoch.
        let mut user_norms = squared_norms(&self.user_factors, k, step.adagrad);
        let mut item_norms = squared_norms(&self.item_factors, k, step.adagrad);
        let user = Side {
            factors: &mut self.user_factors,
            biases: &mut self.user_bias,
            gradient_sums: &mut self.user_gradient_sums,
            squared_norms: &mut user_norms,
            penalties: &self.user_penalties,
            bands: &self.users,
            width: k,
        };
        let item = Side {
            factors: &mut self.item_factors,
            biases: &mut self.item_bias,
            gradient_sums: &mut self.item_gradient_sums,
            squared_norms: &mut item_norms,
            penalties: &self.item_penalties,
            bands: &self.items,
            width: k,
        };
        match &self.blocks {
            Blocks::Narrow(blocks) => {
                run_strata(blocks, user, item, &strata, &item_order, step)
            }
            Blocks::Wide(blocks) => {
                run_strata(blocks, user, item, &strata, &item_order, step)
            }
        }
    }

    /// Bands per side actually used, after limiting them to the number of
    /// users and of items.
    pub fn band_count(&self) -> usize {
        self.users.len()
    }

    /// Predicts a rating from internal indices.
    fn predict_internal(&self, user: usize, item: usize) -> f32 {
        let k = self.factors;
        self.global_mean
            + self.user_bias[user]
            + self.item_bias[item]
            + dot(
                &self.user_factors[user * k..(user + 1) * k],
                &self.item_factors[item * k..(item + 1) * k],
            )
    }

    /// Root mean squared error on `(user, item, rating)` triples given in
    /// the caller's order, with predictions clipped to `range`.
    pub fn rmse(&self, ratings: &[(u32, u32, f32)], range: (f32, f32)) -> f64 {
        if ratings.is_empty() {
            return f64::NAN;
        }
        let sum: f64 = ratings
            .par_iter()
            .map(|&(user, item, value)| {
                let user = self.users.to_internal[user as usize] as usize;
                let item = self.items.to_internal[item as usize] as usize;
                let predicted =
                    self.predict_internal(user, item).clamp(range.0, range.1);
                f64::from(value - predicted).powi(2)
            })
            .sum();
        (sum / ratings.len() as f64).sqrt()
    }

    /// Whether every factor and bias is finite.
    pub fn is_finite(&self) -> bool {
        [
            &self.user_factors,
            &self.item_factors,
            &self.user_bias,
            &self.item_bias,
        ]
        .iter()
        .all(|values| {
            values
                .par_chunks(1 << 14)
                .all(|chunk| chunk.iter().all(|v| v.is_finite()))
        })
    }

    /// Returns a copy of the factors and biases in the caller's order.
    pub fn trained(&self) -> Trained {
        let k = self.factors;
        let reorder = |values: &[f32], bands: &Bands, width: usize| {
            let mut out = vec![0.0f32; values.len()];
            for (row, &internal) in bands.to_internal.iter().enumerate() {
                let from = internal as usize * width;
                out[row * width..(row + 1) * width]
                    .copy_from_slice(&values[from..from + width]);
            }
            out
        };
        Trained {
            user_factors: reorder(&self.user_factors, &self.users, k),
            item_factors: reorder(&self.item_factors, &self.items, k),
            user_bias: reorder(&self.user_bias, &self.users, 1),
            item_bias: reorder(&self.item_bias, &self.items, 1),
        }
    }
}

/// The factor rows, biases, AdaGrad state and penalties of all users (or
/// all items), borrowed for one epoch.
struct Side<'a> {
    factors: &'a mut [f32],
    biases: &'a mut [f32],
    gradient_sums: &'a mut [f32],
    squared_norms: &'a mut [f32],
    penalties: &'a [f32],
    bands: &'a Bands,
    width: usize,
}

/// Runs the strata of one epoch, in the order of `strata`, and returns the
/// sum of squared errors seen.
fn run_strata<L: Local>(
    blocks: &[Vec<Entry<L>>],
    user: Side,
    item: Side,
    strata: &[usize],
    item_order: &[usize],
    step: Step,
) -> f64 {
    let bands = user.bands.len();
    let k = user.width;
    let mut total = 0.0f64;
    for &shift in strata {
        let mut user_states = band_states(
            &mut *user.factors,
            &mut *user.biases,
            &mut *user.gradient_sums,
            &mut *user.squared_norms,
            user.penalties,
            &user.bands.bounds,
            k,
        );
        let mut item_states = band_states(
            &mut *item.factors,
            &mut *item.biases,
            &mut *item.gradient_sums,
            &mut *item.squared_norms,
            item.penalties,
            &item.bands.bounds,
            k,
        );
        let tasks: Vec<_> = (0..bands)
            .map(|user_band| {
                let item_band = item_order[(user_band + shift) % bands];
                let user = user_states[user_band].take().unwrap();
                let item = item_states[item_band].take().unwrap();
                let block = &blocks[user_band * bands + item_band];
                (user, item, block.as_slice())
            })
            .collect();
        let errors: Vec<f64> = tasks
            .into_par_iter()
            .map(|(mut user, mut item, block)| {
                sgd_block(block, &mut user, &mut item, k, step)
            })
            .collect();
        total += errors.iter().sum::<f64>();
    }
    total
}

/// Values drawn per generator stream in [`draw_factors`].
const DRAW_CHUNK: usize = 1 << 16;

/// Draws `len` initial factor values from a normal distribution with
/// standard deviation `params.init_std`. Each chunk of [`DRAW_CHUNK`]
/// values has a generator stream of its own, seeded by `params.seed`, so
/// the chunks are drawn in parallel with the same values on any number of
/// threads. `side` (0 for users, 1 for items) keeps the two sides' streams
/// apart from each other and from the streams of the blocks.
fn draw_factors(len: usize, params: &TrainParams, side: u64) -> Vec<f32> {
    let normal = Normal::new(0.0, params.init_std)
        .expect("init_std is checked to be finite and > 0");
    let mut values = vec![0.0f32; len];
    values
        .par_chunks_mut(DRAW_CHUNK)
        .enumerate()
        .for_each(|(chunk, out)| {
            let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
            rng.set_stream(((side + 1) << 48) | chunk as u64);
            for value in out {
                *value = normal.sample(&mut rng);
            }
        });
    values
}

/// Sorts `entries` into the `B x B` blocks of `users` and `items`, each
/// block allocated at its final size, and orders every block user by user
/// with each user's items in random order. Each block draws from its own
/// generator, seeded by `seed` and its position, so the blocks are
/// shuffled in parallel with the same result on any number of threads.
fn lay_out<L: Local>(
    entries: &[Rating],
    users: &Bands,
    items: &Bands,
    global_mean: f32,
    seed: u64,
) -> Vec<Vec<Entry<L>>> {
    let bands = users.len();
    let user_place = users.placement();
    let item_place = items.placement();
    let block_of = |rating: &Rating| {
        let user_band = user_place[rating.user as usize].0 as usize;
        user_band * bands + item_place[rating.item as usize].0 as usize
    };

    // Count each block's ratings first, so that every block is allocated
    // once at its final size.
    let sizes = entries
        .par_chunks(1 << 16)
        .fold(
            || vec![0usize; bands * bands],
            |mut sizes, chunk| {
                for rating in chunk {
                    sizes[block_of(rating)] += 1;
                }
                sizes
            },
        )
        .reduce(
            || vec![0usize; bands * bands],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );

    let mut blocks: Vec<Vec<Entry<L>>> =
        sizes.iter().map(|&size| Vec::with_capacity(size)).collect();
    for rating in entries {
        let (_, user) = user_place[rating.user as usize];
        let (_, item) = item_place[rating.item as usize];
        blocks[block_of(rating)].push(Entry {
            user: L::from_index(user as usize),
            item: L::from_index(item as usize),
            residual: rating.value - global_mean,
        });
    }

    // A block is visited user by user, so each user's factor row stays
    // in cache for all of that user's ratings, and each user's items come
    // in random order. Measured on MovieLens 100K, this order gives the
    // same RMSE as a full shuffle and runs about a third faster on 10M
    // ratings. Two runs of users are then interleaved (see `interleave`).
    blocks
        .par_iter_mut()
        .enumerate()
        .for_each(|(position, block)| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(position as u64 + 1);
            block.shuffle(&mut rng);
            block.sort_by_key(|entry| entry.user);
            interleave(block);
        });
    blocks
}

/// Runs of users that [`interleave`] alternates between.
const RUNS: usize = 2;

/// Cuts `block`, ordered user by user, into [`RUNS`] runs of about equal
/// length and reorders it to take one entry from each run in turn.
///
/// Consecutive updates of the same user depend on each other: each reads
/// the factor row that the one before wrote. Visited user by user, one
/// epoch is a single chain of such dependencies, and the processor waits
/// out each update's latency. Taking turns between two runs gives it two
/// independent chains to overlap, while each run still keeps its current
/// user's row in cache. Measured on 1M ratings at 32 factors on one
/// thread, this cut an epoch by 22% with plain SGD steps and 11% with
/// AdaGrad. Four runs gained nothing more.
fn interleave<T: Copy>(block: &mut [T]) {
    let len = block.len();
    if len < 2 * RUNS {
        return;
    }
    let source = block.to_vec();
    let run_len = len.div_ceil(RUNS);
    let taken = (0..run_len)
        .flat_map(|offset| (0..RUNS).map(move |run| run * run_len + offset))
        .filter(|&from| from < len);
    for (slot, from) in block.iter_mut().zip(taken) {
        *slot = source[from];
    }
}

/// Runs SGD over one block and returns its sum of squared errors.
///
/// Compiled for several instruction sets and picked at run time, so the
/// factor loops use AVX2 where the processor has it. Each version does the
/// same operations in the same order (no fused multiply-add), so the
/// result is the same on every path.
#[multiversion::multiversion(targets(
    "x86_64+avx2+avx",
    "x86_64+avx",
    "aarch64+neon"
))]
fn sgd_block<L: Local>(
    block: &[Entry<L>],
    user: &mut BandState,
    item: &mut BandState,
    k: usize,
    step: Step,
) -> f64 {
    let lr = step.learning_rate;
    let inverse_divisor = 1.0 / ADAGRAD_DIVISOR;
    let mut total = 0.0f64;
    for (position, entry) in block.iter().enumerate() {
        if let Some(ahead) = block.get(position + PREFETCH_DISTANCE) {
            let row = ahead.item.index() * k;
            if let Some(values) = item.factors.get(row..row + k) {
                prefetch_row(values);
            }
        }
        let (u, i) = (entry.user.index(), entry.item.index());
        let p = &mut user.factors[u * k..(u + 1) * k];
        let q = &mut item.factors[i * k..(i + 1) * k];
        let bu = &mut user.biases[u];
        let bi = &mut item.biases[i];

        let pq = dot(p, q);
        let error = entry.residual - *bu - *bi - pq;
        total += f64::from(error * error);

        let bias_lr = step.bias_learning_rate;
        *bu += bias_lr * (error - step.bias_regularization * *bu);
        *bi += bias_lr * (error - step.bias_regularization * *bi);

        let penalties = (user.penalties[u], item.penalties[i]);
        let (rate_p, rate_q) = if step.adagrad {
            adagrad_rates(
                &mut user.gradient_sums[u],
                &mut item.gradient_sums[i],
                lr,
                error,
                penalties,
                (pq, user.squared_norms[u], item.squared_norms[i]),
                inverse_divisor,
            )
        } else {
            (lr, lr)
        };
        let (scaled_p, scaled_q) = (rate_p * error, rate_q * error);
        let shrink_p = 1.0 - rate_p * penalties.0;
        let shrink_q = 1.0 - rate_q * penalties.1;
        if step.adagrad {
            let products = (pq, user.squared_norms[u], item.squared_norms[i]);
            let (pp, qq) = updated_squared_norms(
                products,
                (shrink_p, shrink_q),
                (scaled_p, scaled_q),
            );
            user.squared_norms[u] = pp;
            item.squared_norms[i] = qq;
        }
        for (pf, qf) in p.iter_mut().zip(q.iter_mut()) {
            let (old_p, old_q) = (*pf, *qf);
            *pf = shrink_p * old_p + scaled_p * old_q;
            *qf = shrink_q * old_q + scaled_q * old_p;
        }
    }
    total
}

/// How many entries ahead [`sgd_block`] prefetches item rows.
/// Items come in random order, so the hardware cannot guess which row is
/// next, and once the factor rows outgrow the caches each update waited
/// for its item row. Measured on 10M ratings, prefetching 8 entries ahead
/// cut 20 epochs by 12% to 26% at 32 to 128 factors. 4, 10 and 16 gained
/// less, and 1M ratings, which fit in the caches, ran as fast as before.
const PREFETCH_DISTANCE: usize = 8;

/// Prefetches the cache lines of `values` into the first-level cache. On
/// processors other than x86_64 it does nothing.
#[inline(always)]
fn prefetch_row(values: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        for line in values.chunks(16) {
            // SAFETY: a prefetch is only a hint; it reads nothing into the
            // program and cannot fault, and SSE is part of x86_64.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
        }
    }
}

/// Returns the factor step sizes of a user row and an item row,
/// `learning_rate / sqrt(sum)` with the sums from before this update as
/// LIBMF does, and adds this update's squared gradient norms, times
/// `inverse_divisor`, to the sums.
///
/// The gradients are `g_p = error * q - penalty_p * p` and likewise `g_q`.
/// Their squared norms are expanded into `p . q`, `|p|^2` and `|q|^2`
/// (`products`, from before the update), so the factor loop stays the
/// plain SGD loop and needs no reduction of its own.
#[inline(always)]
fn adagrad_rates(
    sum_p: &mut f32,
    sum_q: &mut f32,
    learning_rate: f32,
    error: f32,
    penalties: (f32, f32),
    products: (f32, f32, f32),
    inverse_divisor: f32,
) -> (f32, f32) {
    let rates = (learning_rate / sum_p.sqrt(), learning_rate / sum_q.sqrt());
    let (pq, pp, qq) = products;
    let (a, b) = penalties;
    let cross = 2.0 * error * pq;
    // Rounding can take an expanded norm slightly below 0.
    let squares_p = (error * error * qq - a * cross + a * a * pp).max(0.0);
    let squares_q = (error * error * pp - b * cross + b * b * qq).max(0.0);
    *sum_p += squares_p * inverse_divisor;
    *sum_q += squares_q * inverse_divisor;
    rates
}

/// Returns `|p'|^2` and `|q'|^2` for the updated rows
/// `p' = shrink_p p + scaled_p q` and `q' = shrink_q q + scaled_q p`,
/// computed from `products = (p . q, |p|^2, |q|^2)` of the old rows without
/// another pass over the factors.
#[inline(always)]
fn updated_squared_norms(
    products: (f32, f32, f32),
    (shrink_p, shrink_q): (f32, f32),
    (scaled_p, scaled_q): (f32, f32),
) -> (f32, f32) {
    let (pq, pp, qq) = products;
    // `scaled` is never squared on its own: after many epochs of decay it
    // can be so small that its square would be a subnormal number, which
    // the processor handles many times slower.
    let change_p = scaled_p * (2.0 * shrink_p * pq + scaled_p * qq);
    let change_q = scaled_q * (2.0 * shrink_q * pq + scaled_q * pp);
    // Rounding can take a norm of nearly 0 slightly below 0.
    let new_pp = shrink_p * shrink_p * pp + change_p;
    let new_qq = shrink_q * shrink_q * qq + change_q;
    (new_pp.max(0.0), new_qq.max(0.0))
}

/// Dot product with eight independent partial sums, which lets the
/// compiler keep them in vector registers. Always inlined, so that inside
/// [`sgd_block`] it is compiled for that version's instruction set.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (chunks_a, chunks_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_sum() {
        for len in [0, 1, 7, 8, 9, 31, 64] {
            let a: Vec<f32> = (0..len).map(|i| i as f32 * 0.5).collect();
            let b: Vec<f32> = (0..len).map(|i| 1.0 - i as f32).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-3, "len {len}");
        }
    }

    #[test]
    fn band_limit_keeps_blocks_from_shrinking() {
        assert_eq!(band_limit(80_000, 0), 17);
        assert_eq!(band_limit(1_000, 0), 8);
        assert_eq!(band_limit(1_000_000_000, 0), 1976);
        assert_eq!(band_limit(1_000, 64), 64);
    }

    #[test]
    fn tiny_steps_become_zero() {
        assert_eq!(flush_tiny(1e-31), 0.0);
        assert_eq!(flush_tiny(0.0175 * 0.98f32.powi(3300)), 0.0);
        assert_eq!(flush_tiny(2e-30), 2e-30);
        assert_eq!(flush_tiny(0.0175), 0.0175);
    }

    #[test]
    fn interleave_alternates_two_runs() {
        let mut odd: Vec<u32> = (0..7).collect();
        interleave(&mut odd);
        assert_eq!(odd, [0, 4, 1, 5, 2, 6, 3]);
        let mut even: Vec<u32> = (0..8).collect();
        interleave(&mut even);
        assert_eq!(even, [0, 4, 1, 5, 2, 6, 3, 7]);
        let mut short: Vec<u32> = (0..3).collect();
        interleave(&mut short);
        assert_eq!(short, [0, 1, 2]);
    }

    #[test]
    fn adagrad_sums_grow_by_divided_norm() {
        let p = [0.3f32, -0.2, 0.5, 0.1];
        let q = [-0.4f32, 0.25, 0.2, 0.6];
        let error = 0.7f32;
        let penalties = (0.05f32, 0.2f32);
        let divisor = 8.0f32;
        let divided_square = |row: &[f32], other: &[f32], penalty: f32| {
            let squares: f32 = row
                .iter()
                .zip(other)
                .map(|(x, y)| (error * y - penalty * x).powi(2))
                .sum();
            squares / divisor
        };
        let (mut sum_p, mut sum_q) = (0.25f32, 4.0f32);
        let products = (dot(&p, &q), dot(&p, &p), dot(&q, &q));
        let rates = adagrad_rates(
            &mut sum_p,
            &mut sum_q,
            0.02,
            error,
            penalties,
            products,
            1.0 / divisor,
        );

        assert_eq!(rates, (0.02 / 0.5, 0.02 / 2.0));
        let grown_p = sum_p - 0.25;
        let grown_q = sum_q - 4.0;
        assert!((grown_p - divided_square(&p, &q, penalties.0)).abs() < 1e-6);
        assert!((grown_q - divided_square(&q, &p, penalties.1)).abs() < 1e-6);
    }

    #[test]
    fn carried_norms_match_updated_rows() {
        let p = [0.3f32, -0.2, 0.5, 0.1];
        let q = [-0.4f32, 0.25, 0.2, 0.6];
        let (shrink, scaled) = ((0.99f32, 0.97f32), (0.03f32, -0.05f32));
        let products = (dot(&p, &q), dot(&p, &p), dot(&q, &q));
        let (pp, qq) = updated_squared_norms(products, shrink, scaled);

        let new_p: Vec<f32> = p
            .iter()
            .zip(&q)
            .map(|(x, y)| shrink.0 * x + scaled.0 * y)
            .collect();
        let new_q: Vec<f32> = q
            .iter()
            .zip(&p)
            .map(|(y, x)| shrink.1 * y + scaled.1 * x)
            .collect();
        assert!((pp - dot(&new_p, &new_p)).abs() < 1e-6);
        assert!((qq - dot(&new_q, &new_q)).abs() < 1e-6);
    }

    #[test]
    fn bands_balance_counts() {
        let counts = [100, 1, 1, 50, 50, 1, 1, 0];
        let bands = Bands::balanced(&counts, 2);
        assert_eq!(bands.bounds.len(), 3);
        let mut seen = bands.to_internal.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..8).collect::<Vec<u32>>());
        let placement = bands.placement();
        let load = |band: u32| -> u32 {
            (0..counts.len())
                .filter(|&row| placement[row].0 == band)
                .map(|row| counts[row])
                .sum()
        };
        assert_eq!(load(0) + load(1), 204);
        assert!(load(0).abs_diff(load(1)) <= 2);
    }

    #[test]
    fn placement_inverts_internal_order() {
        let bands = Bands::balanced(&[5, 3, 9, 1, 4, 4, 2], 3);
        for (row, &(band, local)) in bands.placement().iter().enumerate() {
            let start = bands.bounds[band as usize];
            let internal = start + local as usize;
            assert!(internal < bands.bounds[band as usize + 1]);
            assert_eq!(bands.to_internal[row] as usize, internal);
        }
    }

    /// Entries of each block as (user band, item band, local user, local
    /// item, residual), in visiting order.
    fn flatten<L: Local>(
        blocks: &[Vec<Entry<L>>],
        bands: usize,
    ) -> Vec<(usize, usize, usize, usize, f32)> {
        let mut out = Vec::new();
        for (position, block) in blocks.iter().enumerate() {
            for entry in block {
                out.push((
                    position / bands,
                    position % bands,
                    entry.user.index(),
                    entry.item.index(),
                    entry.residual,
                ));
            }
        }
        out
    }

    #[test]
    fn narrow_and_wide_layouts_agree() {
        let mut entries = Vec::new();
        for user in 0..40u32 {
            for item in (user % 3..30).step_by(1 + user as usize % 4) {
                let value = (user * 7 + item) as f32 % 5.0;
                entries.push(Rating { user, item, value });
            }
        }
        let mut user_counts = vec![0u32; 40];
        let mut item_counts = vec![0u32; 30];
        for rating in &entries {
            user_counts[rating.user as usize] += 1;
            item_counts[rating.item as usize] += 1;
        }

        let users = Bands::balanced(&user_counts, 4);
        let items = Bands::balanced(&item_counts, 4);
        let narrow = lay_out::<u16>(&entries, &users, &items, 2.5, 9);
        let wide = lay_out::<u32>(&entries, &users, &items, 2.5, 9);
        assert_eq!(flatten(&narrow, 4), flatten(&wide, 4));
        let total: usize = narrow.iter().map(Vec::len).sum();
        assert_eq!(total, entries.len());

        let user_place = users.placement();
        let item_place = items.placement();
        let mut expected: Vec<_> = entries
            .iter()
            .map(|r| {
                let (ub, ul) = user_place[r.user as usize];
                let (ib, il) = item_place[r.item as usize];
                let (ub, ul, ib, il) =
                    (ub as usize, ul as usize, ib as usize, il as usize);
                (ub, ib, ul, il, r.value - 2.5)
            })
            .collect();
        let mut laid = flatten(&narrow, 4);
        for block in &narrow {
            // Every other entry belongs to one of the interleaved runs,
            // and each run goes user by user.
            for run in 0..RUNS {
                let users: Vec<u16> = block
                    .iter()
                    .skip(run)
                    .step_by(RUNS)
                    .map(|e| e.user)
                    .collect();
                assert!(users.windows(2).all(|w| w[0] <= w[1]), "{users:?}");
            }
        }
        let key = |e: &(usize, usize, usize, usize, f32)| (e.0, e.1, e.2, e.3);
        expected.sort_by_key(key);
        laid.sort_by_key(key);
        assert_eq!(laid, expected);
    }
}

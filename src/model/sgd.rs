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
//! Schedule: users and items are each cut into `B` bands of about equal
//! rating counts, which cuts the matrix into `B x B` blocks. One epoch runs
//! `B` strata, and stratum `s` holds the blocks `(a, perm((a + s) mod B))`
//! for every user band `a`. No two blocks of a stratum share a user band or
//! an item band, so the blocks run in parallel on disjoint `&mut` slices of
//! the factor arrays and the borrow checker proves there is no data race.
//! Each block is visited in a fixed order (user by user, each user's items
//! shuffled once), so the result depends on the seed and `B` but not on how
//! threads are scheduled.
//!
//! Layout: users are renumbered so that each band is a contiguous range,
//! and likewise items. Factors are row-major `f32` arrays, one row of
//! `factors` values per user (or item), in that internal order. Each block
//! stores its ratings as (local user, local item, rating minus mu).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use crate::data::matrix::RatingMatrix;
use crate::model::params::TrainParams;

/// Rating count at which a row's per-update penalty equals
/// `regularization`, whatever the exponent.
pub(crate) const REFERENCE_COUNT: u32 = 100;

/// One training rating inside a block.
#[derive(Debug, Clone, Copy)]
struct Entry {
    user: u32,
    item: u32,
    residual: f32,
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

    fn band_of(&self, internal: usize) -> usize {
        self.bounds.partition_point(|&start| start <= internal) - 1
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

/// State of one band: its factor rows and biases, which SGD updates, and
/// the factor penalty of each row.
struct BandState<'a> {
    factors: &'a mut [f32],
    biases: &'a mut [f32],
    penalties: &'a [f32],
}

fn band_states<'a>(
    factors: &'a mut [f32],
    biases: &'a mut [f32],
    penalties: &'a [f32],
    bounds: &[usize],
    width: usize,
) -> Vec<Option<BandState<'a>>> {
    split_rows(factors, bounds, width)
        .into_iter()
        .zip(split_rows(biases, bounds, 1))
        .zip(bounds.windows(2))
        .map(|((factors, biases), band)| {
            let penalties = &penalties[band[0]..band[1]];
            Some(BandState {
                factors,
                biases,
                penalties,
            })
        })
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

/// Step sizes and bias penalty of one epoch.
#[derive(Debug, Clone, Copy)]
struct Step {
    learning_rate: f32,
    bias_learning_rate: f32,
    bias_regularization: f32,
}

/// Training state: blocked ratings and factors in internal order.
pub(crate) struct Engine {
    factors: usize,
    global_mean: f32,
    users: Bands,
    items: Bands,
    /// Blocks in row-major order: block `(a, b)` is `blocks[a * B + b]`.
    blocks: Vec<Vec<Entry>>,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
    user_bias: Vec<f32>,
    item_bias: Vec<f32>,
    user_penalties: Vec<f32>,
    item_penalties: Vec<f32>,
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
    /// Lays out `matrix` in blocks and draws the initial factors.
    pub fn new(
        matrix: &RatingMatrix,
        global_mean: f32,
        params: &TrainParams,
    ) -> Engine {
        let (rows, cols) = matrix.shape();
        let bands = params.band_count().min(rows).min(cols).max(1);
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);

        let user_counts: Vec<u32> = matrix
            .outer_iterator()
            .map(|row| row.nnz() as u32)
            .collect();
        let mut item_counts = vec![0u32; cols];
        for &item in matrix.indices() {
            item_counts[item as usize] += 1;
        }
        let users = Bands::balanced(&user_counts, bands);
        let items = Bands::balanced(&item_counts, bands);
        let (reg, exponent) =
            (params.regularization, params.regularization_exponent);
        let user_penalties = row_penalties(&user_counts, &users, reg, exponent);
        let item_penalties = row_penalties(&item_counts, &items, reg, exponent);

        let mut blocks = vec![Vec::new(); bands * bands];
        for (user, row) in matrix.outer_iterator().enumerate() {
            let internal_user = users.to_internal[user] as usize;
            let user_band = users.band_of(internal_user);
            let local_user = internal_user - users.bounds[user_band];
            for (item, &value) in row.iter() {
                let internal_item = items.to_internal[item] as usize;
                let item_band = items.band_of(internal_item);
                blocks[user_band * bands + item_band].push(Entry {
                    user: local_user as u32,
                    item: (internal_item - items.bounds[item_band]) as u32,
                    residual: value - global_mean,
                });
            }
        }
        // A block is visited user by user, so each user's factor row stays
        // in cache for all of that user's ratings, and each user's items
        // come in random order. Measured on MovieLens 100K, this order
        // gives the same RMSE as a full shuffle and runs about a third
        // faster on 10M ratings.
        for block in &mut blocks {
            block.shuffle(&mut rng);
            block.sort_by_key(|entry| entry.user);
        }

        let k = params.factors;
        let normal = Normal::new(0.0, params.init_std)
            .expect("init_std is checked to be finite and >= 0");
        let mut draw = |len: usize| -> Vec<f32> {
            (0..len).map(|_| normal.sample(&mut rng)).collect()
        };
        let user_factors = draw(rows * k);
        let item_factors = draw(cols * k);
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
            learning_rate,
            bias_learning_rate,
            bias_regularization: params.bias_regularization,
        };
        let mut strata: Vec<usize> = (0..bands).collect();
        let mut item_order: Vec<usize> = (0..bands).collect();
        strata.shuffle(&mut self.rng);
        item_order.shuffle(&mut self.rng);

        let k = self.factors;
        let mut total = 0.0f64;
        for shift in strata {
            let mut user_states = band_states(
                &mut self.user_factors,
                &mut self.user_bias,
                &self.user_penalties,
                &self.users.bounds,
                k,
            );
            let mut item_states = band_states(
                &mut self.item_factors,
                &mut self.item_bias,
                &self.item_penalties,
                &self.items.bounds,
                k,
            );
            let tasks: Vec<_> = (0..bands)
                .map(|user_band| {
                    let item_band = item_order[(user_band + shift) % bands];
                    let user = user_states[user_band].take().unwrap();
                    let item = item_states[item_band].take().unwrap();
                    let block = &self.blocks[user_band * bands + item_band];
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
        .all(|values| values.iter().all(|v| v.is_finite()))
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
fn sgd_block(
    block: &[Entry],
    user: &mut BandState,
    item: &mut BandState,
    k: usize,
    step: Step,
) -> f64 {
    let lr = step.learning_rate;
    let mut total = 0.0f64;
    for entry in block {
        let (u, i) = (entry.user as usize, entry.item as usize);
        let p = &mut user.factors[u * k..(u + 1) * k];
        let q = &mut item.factors[i * k..(i + 1) * k];
        let bu = &mut user.biases[u];
        let bi = &mut item.biases[i];

        let error = entry.residual - *bu - *bi - dot(p, q);
        total += f64::from(error * error);

        let bias_lr = step.bias_learning_rate;
        *bu += bias_lr * (error - step.bias_regularization * *bu);
        *bi += bias_lr * (error - step.bias_regularization * *bi);
        let scaled = lr * error;
        let shrink_p = 1.0 - lr * user.penalties[u];
        let shrink_q = 1.0 - lr * item.penalties[i];
        for (pf, qf) in p.iter_mut().zip(q.iter_mut()) {
            let (old_p, old_q) = (*pf, *qf);
            *pf = shrink_p * old_p + scaled * old_q;
            *qf = shrink_q * old_q + scaled * old_p;
        }
    }
    total
}

/// Dot product with eight independent partial sums, which lets the
/// compiler keep them in vector registers.
#[inline]
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
    fn bands_balance_counts() {
        let counts = [100, 1, 1, 50, 50, 1, 1, 0];
        let bands = Bands::balanced(&counts, 2);
        assert_eq!(bands.bounds.len(), 3);
        let mut seen = bands.to_internal.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..8).collect::<Vec<u32>>());
        let load = |band: usize| -> u32 {
            (0..counts.len())
                .filter(|&row| {
                    bands.band_of(bands.to_internal[row] as usize) == band
                })
                .map(|row| counts[row])
                .sum()
        };
        assert_eq!(load(0) + load(1), 204);
        assert!(load(0).abs_diff(load(1)) <= 2);
    }
}

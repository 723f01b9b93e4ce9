//! Item factors quantized to 8-bit integers, which find one user's top N
//! without computing the exact score of every item.
//!
//! The integer dot product of the user's quantized factors with an item's
//! gives an approximate score and a bound on its distance from the exact
//! score. An item can be among the best `n` only when its upper bound
//! reaches the n-th highest lower bound, so only those items are scored
//! exactly, with the arithmetic of the full scan. The list therefore equals
//! the full scan's, scores and the order of ties included.
//!
//! An item's factors `q` are stored as `q̃ = s c`, with one scale `s` per
//! item and codes `c` in -127..=127. The user's factors `x` become
//! `x̃ = t d` with codes `d` in -64..=64. Since
//! `x . q - x̃ . q̃ = x . (q - q̃) + (x - x̃) . q̃`, the Cauchy-Schwarz
//! inequality gives
//!
//! ```text
//! |x . q - x̃ . q̃| <= |x| |q - q̃| + |x - x̃| (|q| + |q - q̃|)
//! ```
//!
//! where `|.|` is the Euclidean norm. The norms are computed in f64 and
//! rounded up to f32. A further term, `8 (k + 16) 2^-24` times the
//! magnitudes involved, covers the rounding of the f32 arithmetic on both
//! sides: an f32 dot product of `k` factors is off by at most about
//! `k 2^-24` times the sum of the magnitudes of its products.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Factors whose products one 32-bit lane of the kernel sums.
const GROUP: usize = 4;

/// Items scored together: four AVX2 registers of eight 32-bit sums.
const BLOCK: usize = 32;

/// Largest magnitude of an item code.
const ITEM_LEVELS: f64 = 127.0;

/// Largest magnitude of a user code. User codes are stored as
/// `d + USER_LEVELS`, at most 128 as `u8`, so that a pair of products in
/// `_mm256_maddubs_epi16` stays within i16: `2 * 128 * 127 = 32,512`.
const USER_LEVELS: i32 = 64;

/// Largest factor norm or bias for which the bounds are used. Beyond it
/// the exact scan runs, so that no score or bound overflows f32.
const MAX_MAGNITUDE: f32 = 1e15;

/// Maximum factor count for which the 32-bit sums cannot overflow:
/// `100,000 * 128 * 127 < 2^31`.
const MAX_FACTORS: usize = 100_000;

/// Absolute error allowance for products that underflow f32.
const UNDERFLOW_ALLOWANCE: f32 = 1e-30;

/// Item factors quantized for [`QuantizedItems::candidates`].
#[derive(Debug, Clone)]
pub(crate) struct QuantizedItems {
    factors: usize,
    /// Factor groups of [`GROUP`], the last padded with zero codes.
    groups: usize,
    items: usize,
    /// Codes of block `b`, group `g`, item `j` of the block and factor
    /// `4g + t` at `((b * groups + g) * BLOCK + j) * GROUP + t`. Items past
    /// the last have zero codes.
    codes: Vec<i8>,
    // The per-item values below are padded to whole blocks with zeros.
    /// Scale of each item's codes.
    scales: Vec<f32>,
    /// `USER_LEVELS` times the sum of each item's codes, which removes the
    /// offset of the user codes from the integer dot product.
    offsets: Vec<i32>,
    /// Upper bound on `|q - q̃|` of each item.
    residuals: Vec<f32>,
    /// Upper bound on `|q| + |q - q̃|` of each item.
    norm_bounds: Vec<f32>,
    /// Item biases.
    bias: Vec<f32>,
}

/// A user's factors quantized for [`QuantizedItems::candidates`].
#[derive(Debug, Clone)]
pub(crate) struct QuantizedQuery {
    /// `d + USER_LEVELS` per factor, padded with `USER_LEVELS` (code 0).
    codes: Vec<u8>,
    /// Scale `t` of the codes.
    scale: f32,
    /// Upper bound on `|x|`.
    norm: f32,
    /// Upper bound on `|x - x̃|`.
    residual: f32,
}

/// Converts to f32, rounding up.
fn round_up(value: f64) -> f32 {
    let rounded = value as f32;
    if f64::from(rounded) < value {
        rounded.next_up()
    } else {
        rounded
    }
}

/// Returns the codes of `values` in `-levels..=levels`, their scale and an
/// upper bound on the norm of the quantization error, or `None` when a
/// value is not finite.
fn quantize(values: &[f32], levels: f64) -> Option<(Vec<i32>, f32, f32)> {
    let mut max = 0.0f32;
    for &value in values {
        if !value.is_finite() {
            return None;
        }
        max = max.max(value.abs());
    }
    let scale = (f64::from(max) / levels) as f32;
    let mut codes = Vec::with_capacity(values.len());
    let mut squared_error = 0.0f64;
    for &value in values {
        let code = if scale > 0.0 {
            (f64::from(value) / f64::from(scale))
                .round()
                .clamp(-levels, levels) as i32
        } else {
            0
        };
        let error = f64::from(value) - f64::from(scale) * f64::from(code);
        squared_error += error * error;
        codes.push(code);
    }
    Some((codes, scale, round_up(squared_error.sqrt())))
}

fn norm(values: &[f32]) -> f64 {
    values
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt()
}

impl QuantizedItems {
    /// Quantizes row-major `items x factors` item factors. Returns `None`
    /// when a factor or bias is not finite, when a norm or bias exceeds
    /// [`MAX_MAGNITUDE`], or when `factors` is 0 or above [`MAX_FACTORS`]:
    /// queries then take the exact scan.
    pub fn new(
        item_factors: &[f32],
        item_bias: &[f32],
        factors: usize,
    ) -> Option<QuantizedItems> {
        if factors == 0 || factors > MAX_FACTORS {
            return None;
        }
        let items = item_bias.len();
        assert_eq!(item_factors.len(), items * factors, "item factor shape");
        let groups = factors.div_ceil(GROUP);
        let padded_items = items.div_ceil(BLOCK) * BLOCK;
        let mut quantized = QuantizedItems {
            factors,
            groups,
            items,
            codes: vec![0; padded_items * groups * GROUP],
            scales: vec![0.0; padded_items],
            offsets: vec![0; padded_items],
            residuals: vec![0.0; padded_items],
            norm_bounds: vec![0.0; padded_items],
            bias: vec![0.0; padded_items],
        };
        for (item, row) in item_factors.chunks_exact(factors).enumerate() {
            let bias = item_bias[item];
            let (codes, scale, residual) = quantize(row, ITEM_LEVELS)?;
            let norm_bound = round_up(norm(row) + f64::from(residual));
            if !bias.is_finite()
                || bias.abs() > MAX_MAGNITUDE
                || norm_bound > MAX_MAGNITUDE
            {
                return None;
            }
            let (block, j) = (item / BLOCK, item % BLOCK);
            for (f, &code) in codes.iter().enumerate() {
                let (g, t) = (f / GROUP, f % GROUP);
                let at = ((block * groups + g) * BLOCK + j) * GROUP + t;
                quantized.codes[at] = code as i8;
            }
            quantized.scales[item] = scale;
            quantized.offsets[item] = USER_LEVELS * codes.iter().sum::<i32>();
            quantized.residuals[item] = residual;
            quantized.norm_bounds[item] = norm_bound;
            quantized.bias[item] = bias;
        }
        Some(quantized)
    }

    /// Quantizes a user's factors. Returns `None` when a factor is not
    /// finite or their norm exceeds [`MAX_MAGNITUDE`].
    pub fn query(&self, vector: &[f32]) -> Option<QuantizedQuery> {
        assert_eq!(vector.len(), self.factors, "vector length");
        let (codes, scale, residual) =
            quantize(vector, f64::from(USER_LEVELS))?;
        let norm = round_up(norm(vector));
        if norm > MAX_MAGNITUDE {
            return None;
        }
        let mut stored = vec![USER_LEVELS as u8; self.groups * GROUP];
        for (slot, code) in stored.iter_mut().zip(codes) {
            *slot = (code + USER_LEVELS) as u8;
        }
        Some(QuantizedQuery {
            codes: stored,
            scale,
            norm,
            residual,
        })
    }

    fn blocks(&self) -> usize {
        self.items.div_ceil(BLOCK)
    }

    /// Returns the items that can be among the top `n` for `query`, in
    /// increasing order: of the items `eligible` accepts, those whose
    /// upper bound reaches the n-th highest lower bound. `base` is the
    /// part of the score that does not depend on the item: global mean
    /// plus user bias.
    ///
    /// Returns `None`, and the caller must scan every item, when `base` is
    /// not finite or too large, or when more than an eighth of the items
    /// remain, whose exact scores would cost more than the scan.
    pub fn candidates(
        &self,
        query: &QuantizedQuery,
        base: f32,
        n: usize,
        eligible: impl Fn(u32) -> bool,
    ) -> Option<Vec<u32>> {
        if !base.is_finite() || base.abs() > MAX_MAGNITUDE {
            return None;
        }
        let terms = ErrorTerms::new(query, base, self.factors);

        let mut lower_bounds = NthLargest::new(n);
        // Items whose upper bound reached the n-th highest lower bound so
        // far, with that upper bound, in increasing item order.
        let mut reached: Vec<(u32, f32)> = Vec::new();
        let mut bounds = Bounds::default();
        for block in 0..self.blocks() {
            let threshold = lower_bounds.value();
            let mut reaching =
                self.bound_block(block, query, &terms, threshold, &mut bounds);
            let first = block * BLOCK;
            let count = BLOCK.min(self.items - first);
            if count < BLOCK {
                reaching &= (1 << count) - 1;
            }

            while reaching != 0 {
                let j = reaching.trailing_zeros() as usize;
                reaching &= reaching - 1;
                // The n-th highest lower bound only rises, so an item
                // below it now stays below it.
                if bounds.upper[j] < lower_bounds.value() {
                    continue;
                }
                let item = (first + j) as u32;
                if !eligible(item) {
                    continue;
                }
                lower_bounds.offer(bounds.lower[j]);
                reached.push((item, bounds.upper[j]));
            }
        }

        // At least n eligible items score at or above `floor`, so an item
        // whose upper bound is below it is beaten by n others.
        let floor = lower_bounds.value();
        let candidates: Vec<u32> = reached
            .into_iter()
            .filter(|&(_, upper)| upper >= floor)
            .map(|(item, _)| item)
            .collect();

        if candidates.len() > self.items / 8 + n {
            return None;
        }
        Some(candidates)
    }

    /// Codes of block `block`, one row of `BLOCK * GROUP` bytes per group.
    fn block_codes(&self, block: usize) -> &[i8] {
        let size = self.groups * BLOCK * GROUP;
        &self.codes[block * size..(block + 1) * size]
    }

    /// Writes the score bounds of block `block` into `bounds` and returns
    /// a mask of the items whose upper bound reaches `threshold`: bit `j`
    /// for item `j` of the block.
    fn bound_block(
        &self,
        block: usize,
        query: &QuantizedQuery,
        terms: &ErrorTerms,
        threshold: f32,
        bounds: &mut Bounds,
    ) -> u32 {
        #[cfg(target_arch = "x86_64")]
        if avx2_detected() {
            // SAFETY: the processor supports AVX2.
            return unsafe {
                self.bound_block_avx2(block, query, terms, threshold, bounds)
            };
        }
        self.bound_block_portable(block, query, terms, threshold, bounds)
    }

    fn bound_block_portable(
        &self,
        block: usize,
        query: &QuantizedQuery,
        terms: &ErrorTerms,
        threshold: f32,
        bounds: &mut Bounds,
    ) -> u32 {
        let mut sums = [0i32; BLOCK];
        block_sums_portable(self.block_codes(block), &query.codes, &mut sums);
        self.block_bounds(block, &sums, terms, threshold, bounds)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn bound_block_avx2(
        &self,
        block: usize,
        query: &QuantizedQuery,
        terms: &ErrorTerms,
        threshold: f32,
        bounds: &mut Bounds,
    ) -> u32 {
        let mut sums = [0i32; BLOCK];
        block_sums_avx2(self.block_codes(block), &query.codes, &mut sums);
        self.block_bounds(block, &sums, terms, threshold, bounds)
    }

    /// Turns the integer dot products of block `block` into lower and
    /// upper bounds on the exact scores, and returns the mask of
    /// [`QuantizedItems::bound_block_portable`].
    #[inline(always)]
    fn block_bounds(
        &self,
        block: usize,
        sums: &[i32; BLOCK],
        terms: &ErrorTerms,
        threshold: f32,
        bounds: &mut Bounds,
    ) -> u32 {
        let range = block * BLOCK..(block + 1) * BLOCK;
        let scales = &self.scales[range.clone()];
        let offsets = &self.offsets[range.clone()];
        let residuals = &self.residuals[range.clone()];
        let norm_bounds = &self.norm_bounds[range.clone()];
        let bias = &self.bias[range];
        for j in 0..BLOCK {
            // The true dot product fits i32 (see MAX_FACTORS), so the
            // wrapping difference is exact.
            let dot = sums[j].wrapping_sub(offsets[j]) as f32;
            let approximate =
                (terms.base + bias[j]) + terms.scale * (scales[j] * dot);
            let error = terms.per_residual * residuals[j]
                + terms.per_norm * norm_bounds[j]
                + terms.per_bias * bias[j].abs()
                + terms.constant;
            bounds.lower[j] = approximate - error;
            bounds.upper[j] = approximate + error;
        }
        let mut reaching = 0u32;
        for (j, &upper) in bounds.upper.iter().enumerate() {
            reaching |= u32::from(upper >= threshold) << j;
        }
        reaching
    }
}

/// Per-query coefficients of an item's error bound:
/// `per_residual |q - q̃| + per_norm (|q| + |q - q̃|) + per_bias |b| +
/// constant`.
struct ErrorTerms {
    base: f32,
    scale: f32,
    per_residual: f32,
    per_norm: f32,
    per_bias: f32,
    constant: f32,
}

impl ErrorTerms {
    fn new(query: &QuantizedQuery, base: f32, factors: usize) -> ErrorTerms {
        // The rounding allowance is `rounding` times |base| + |b| +
        // 2 (|x| + |x - x̃|) (|q| + |q - q̃|), which bounds the magnitude
        // of every quantity in both computations of the score.
        let rounding = (factors + 16) as f32 * 2f32.powi(-21);
        let user_bound = query.norm + query.residual;
        ErrorTerms {
            base,
            scale: query.scale,
            per_residual: query.norm,
            per_norm: query.residual + 2.0 * rounding * user_bound,
            per_bias: rounding,
            constant: rounding * base.abs() + UNDERFLOW_ALLOWANCE,
        }
    }
}

/// The n-th largest of the values offered so far.
struct NthLargest {
    n: usize,
    /// The n largest values, smallest on top.
    heap: BinaryHeap<Reverse<TotalOrder>>,
}

impl NthLargest {
    fn new(n: usize) -> NthLargest {
        NthLargest {
            n,
            heap: BinaryHeap::with_capacity(n + 1),
        }
    }

    /// Returns the n-th largest value, negative infinity before n values
    /// were offered, and infinity when n is 0.
    fn value(&self) -> f32 {
        if self.n == 0 {
            return f32::INFINITY;
        }
        match self.heap.peek() {
            Some(Reverse(TotalOrder(value))) if self.heap.len() == self.n => {
                *value
            }
            _ => f32::NEG_INFINITY,
        }
    }

    fn offer(&mut self, value: f32) {
        if self.heap.len() < self.n {
            self.heap.push(Reverse(TotalOrder(value)));
        } else if let Some(mut smallest) = self.heap.peek_mut() {
            if value > smallest.0 .0 {
                *smallest = Reverse(TotalOrder(value));
            }
        }
    }
}

/// An f32 ordered by `f32::total_cmp`.
#[derive(Debug, Clone, Copy)]
struct TotalOrder(f32);

impl PartialEq for TotalOrder {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for TotalOrder {}

impl PartialOrd for TotalOrder {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TotalOrder {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Lower and upper score bounds of one block of items.
struct Bounds {
    lower: [f32; BLOCK],
    upper: [f32; BLOCK],
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            lower: [0.0; BLOCK],
            upper: [0.0; BLOCK],
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_detected() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// Writes into `sums[j]` the dot product of the user codes `user` with the
/// codes of item `j` of a block, `codes` as laid out in
/// [`QuantizedItems::codes`].
fn block_sums_portable(codes: &[i8], user: &[u8], sums: &mut [i32; BLOCK]) {
    *sums = [0; BLOCK];
    let rows = codes.chunks_exact(BLOCK * GROUP);
    for (row, group) in rows.zip(user.chunks_exact(GROUP)) {
        for (sum, item) in sums.iter_mut().zip(row.chunks_exact(GROUP)) {
            for (&code, &user_code) in item.iter().zip(group) {
                *sum += i32::from(user_code) * i32::from(code);
            }
        }
    }
}

/// Computes what [`block_sums_portable`] computes, 32 products per
/// instruction: `_mm256_maddubs_epi16` multiplies the unsigned user codes
/// with the signed item codes and adds adjacent pairs, which cannot
/// saturate (see [`USER_LEVELS`]), and `_mm256_madd_epi16` adds adjacent
/// pairs of those into the 32-bit sum of one item's group of four.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn block_sums_avx2(codes: &[i8], user: &[u8], sums: &mut [i32; BLOCK]) {
    use std::arch::x86_64::*;

    debug_assert_eq!(codes.len(), user.len() * BLOCK);
    let ones = _mm256_set1_epi16(1);
    let mut totals = [_mm256_setzero_si256(); BLOCK / 8];
    let rows = codes.chunks_exact(BLOCK * GROUP);
    for (row, group) in rows.zip(user.chunks_exact(GROUP)) {
        let group =
            i32::from_le_bytes([group[0], group[1], group[2], group[3]]);
        // Every 32-bit lane contains the user's four codes of this group,
        // in the byte order of an item's four codes.
        let user_codes = _mm256_set1_epi32(group);
        for (total, part) in totals.iter_mut().zip(row.chunks_exact(32)) {
            // SAFETY: `part` is 32 bytes long, and the load is unaligned.
            let item_codes =
                unsafe { _mm256_loadu_si256(part.as_ptr().cast::<__m256i>()) };
            let pairs = _mm256_maddubs_epi16(user_codes, item_codes);
            let quads = _mm256_madd_epi16(pairs, ones);
            *total = _mm256_add_epi32(*total, quads);
        }
    }
    for (total, out) in totals.iter().zip(sums.chunks_exact_mut(8)) {
        // SAFETY: `out` is 8 i32 long, and the store is unaligned.
        unsafe {
            _mm256_storeu_si256(out.as_mut_ptr().cast::<__m256i>(), *total)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{sgd, Scored};
    use crate::serve::rank::{rank_order, TopN};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(rng: &mut ChaCha8Rng, count: usize, spread: f32) -> Vec<f32> {
        (0..count)
            .map(|_| rng.random_range(-spread..spread))
            .collect()
    }

    fn exact(
        vector: &[f32],
        factors: &[f32],
        bias: &[f32],
        base: f32,
        item: u32,
    ) -> f32 {
        let k = vector.len();
        let row = &factors[item as usize * k..(item as usize + 1) * k];
        base + bias[item as usize] + sgd::dot(vector, row)
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn kernels_agree_at_extremes() {
        if !avx2_detected() {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for groups in [1, 3, 32] {
            let mut codes: Vec<i8> = (0..groups * BLOCK * GROUP)
                .map(|_| rng.random_range(-127..=127))
                .collect();
            let mut user: Vec<u8> = (0..groups * GROUP)
                .map(|_| rng.random_range(0..=128))
                .collect();
            // The largest pair sums of both signs.
            codes[..8]
                .copy_from_slice(&[127, 127, -127, -127, 127, -127, 0, 5]);
            user[..4].copy_from_slice(&[128, 128, 128, 128]);
            let mut portable = [0; BLOCK];
            let mut avx2 = [0; BLOCK];
            block_sums_portable(&codes, &user, &mut portable);
            // SAFETY: AVX2 was detected above.
            unsafe { block_sums_avx2(&codes, &user, &mut avx2) };
            assert_eq!(portable, avx2, "{groups} groups");
            if groups == 1 {
                assert_eq!(portable[0], 0);
                assert_eq!(portable[1], 128 * 5);
            }
        }
    }

    #[test]
    fn bounds_contain_exact_scores() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for (k, items) in [(128, 300), (13, 70), (1, 40), (64, 33)] {
            let factors = random(&mut rng, items * k, 0.4);
            let bias = random(&mut rng, items, 1.0);
            let quantized = QuantizedItems::new(&factors, &bias, k).unwrap();
            for _ in 0..20 {
                let vector = random(&mut rng, k, 0.5);
                let base = rng.random_range(2.0..4.0);
                let query = quantized.query(&vector).unwrap();
                let terms = ErrorTerms::new(&query, base, k);
                let mut bounds = Bounds::default();
                for block in 0..quantized.blocks() {
                    quantized.bound_block_portable(
                        block,
                        &query,
                        &terms,
                        f32::NEG_INFINITY,
                        &mut bounds,
                    );
                    for j in 0..BLOCK.min(items - block * BLOCK) {
                        let item = (block * BLOCK + j) as u32;
                        let score = exact(&vector, &factors, &bias, base, item);
                        assert!(bounds.lower[j] <= score, "k {k}, item {item}");
                        assert!(score <= bounds.upper[j], "k {k}, item {item}");
                        // Quantization to 8 and 7 bits leaves a width of
                        // a few percent of the largest possible dot
                        // product, plus the rounding allowance.
                        let row = &factors[item as usize * k..][..k];
                        let largest = norm(&vector) * norm(row);
                        let rounding =
                            f64::from(base.abs() + bias[item as usize].abs());
                        let width = bounds.upper[j] - bounds.lower[j];
                        assert!(
                            f64::from(width) < 0.05 * largest + 2e-4 * rounding,
                            "k {k}, width {width}, largest {largest}"
                        );
                    }
                }
            }
        }
    }

    /// Ranks the candidates of `quantized` by their exact scores.
    fn rank_candidates(
        quantized: &QuantizedItems,
        vector: &[f32],
        factors: &[f32],
        bias: &[f32],
        base: f32,
        n: usize,
        eligible: impl Fn(u32) -> bool,
    ) -> Option<Vec<Scored>> {
        let query = quantized.query(vector).unwrap();
        let candidates = quantized.candidates(&query, base, n, eligible)?;
        let mut top = TopN::new(n);
        for item in candidates {
            top.push(item, exact(vector, factors, bias, base, item));
        }
        Some(top.take_sorted())
    }

    fn full_scan(
        vector: &[f32],
        factors: &[f32],
        bias: &[f32],
        base: f32,
        n: usize,
        eligible: impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let items = bias.len() as u32;
        let mut all: Vec<Scored> = (0..items)
            .filter(|&item| eligible(item))
            .map(|item| Scored {
                item,
                score: exact(vector, factors, bias, base, item),
            })
            .collect();
        all.sort_by(rank_order);
        all.truncate(n);
        all
    }

    #[test]
    fn top_n_equals_full_scan_with_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (k, items) = (24, 2000);
        let mut factors = random(&mut rng, items * k, 0.3);
        let mut bias = random(&mut rng, items, 0.5);
        // Runs of identical items give exactly tied scores, which must
        // come out in item order.
        for copy in 1..6 {
            for item in (0..items).step_by(97) {
                let target = (item + copy).min(items - 1);
                let source = factors[item * k..(item + 1) * k].to_vec();
                factors[target * k..(target + 1) * k].copy_from_slice(&source);
                bias[target] = bias[item];
            }
        }
        let quantized = QuantizedItems::new(&factors, &bias, k).unwrap();
        let mut ties_seen = 0;
        for round in 0..60u32 {
            let vector = random(&mut rng, k, 0.6);
            let base = 3.5;
            let eligible =
                |item: u32| !round.is_multiple_of(3) || !item.is_multiple_of(7);
            for n in [1, 5, 10, 50] {
                let expected =
                    full_scan(&vector, &factors, &bias, base, n, eligible);
                let found = rank_candidates(
                    &quantized, &vector, &factors, &bias, base, n, eligible,
                )
                .expect("bounds tight enough");
                assert_eq!(found, expected, "round {round}, n {n}");
                ties_seen += expected
                    .windows(2)
                    .filter(|w| w[0].score == w[1].score)
                    .count();
            }
        }
        assert!(ties_seen > 0, "no tied scores were tested");
    }

    #[test]
    fn few_eligible_items_all_listed() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let (k, items) = (8, 100);
        let factors = random(&mut rng, items * k, 0.3);
        let bias = random(&mut rng, items, 0.5);
        let quantized = QuantizedItems::new(&factors, &bias, k).unwrap();
        let vector = random(&mut rng, k, 0.6);
        let eligible = |item: u32| item == 3 || item == 90;
        let found = rank_candidates(
            &quantized, &vector, &factors, &bias, 1.0, 5, eligible,
        )
        .unwrap();
        let expected = full_scan(&vector, &factors, &bias, 1.0, 5, eligible);
        assert_eq!(found.len(), 2);
        assert_eq!(found, expected);
    }

    #[test]
    fn unusable_inputs_rejected() {
        let factors = vec![0.5, f32::NAN, 0.1, 0.2];
        assert!(QuantizedItems::new(&factors, &[0.0, 0.0], 2).is_none());
        let factors = vec![0.5, 0.3, 0.1, 0.2];
        assert!(
            QuantizedItems::new(&factors, &[0.0, f32::INFINITY], 2).is_none()
        );
        assert!(QuantizedItems::new(&factors, &[0.0, 1e20], 2).is_none());
        assert!(QuantizedItems::new(&[], &[], 0).is_none());
        let quantized = QuantizedItems::new(&factors, &[0.0, 0.0], 2).unwrap();
        assert!(quantized.query(&[f32::NAN, 0.0]).is_none());
        assert!(quantized.query(&[1e20, 0.0]).is_none());
        let query = quantized.query(&[0.0, 0.0]).unwrap();
        assert!(quantized
            .candidates(&query, f32::NAN, 1, |_| true)
            .is_none());
        assert!(quantized.candidates(&query, 1e20, 1, |_| true).is_none());
    }

    #[test]
    fn nth_largest_tracks_offers() {
        let mut third = NthLargest::new(3);
        let mut seen = Vec::new();
        for value in [0.5, -1.0, 2.0, 2.0, 0.25, 3.0, -7.0, 2.5] {
            third.offer(value);
            seen.push(value);
            let mut sorted = seen.clone();
            sorted.sort_by(|a: &f32, b| b.total_cmp(a));
            let expected = sorted.get(2).copied().unwrap_or(f32::NEG_INFINITY);
            assert_eq!(third.value(), expected, "after {seen:?}");
        }
        assert_eq!(NthLargest::new(0).value(), f32::INFINITY);
    }
}

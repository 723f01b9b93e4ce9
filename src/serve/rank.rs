//! Top-N selection over item scores, and the scoring kernel of one factor
//! vector against every item.

use std::cmp::Ordering;

use crate::model::{sgd, Scored};

/// Orders by score, highest first, then by item index, lowest first. This
/// is the order of [`Model::recommend`](crate::Model::recommend).
pub fn rank_order(a: &Scored, b: &Scored) -> Ordering {
    b.score
        .partial_cmp(&a.score)
        .unwrap_or(Ordering::Equal)
        .then(a.item.cmp(&b.item))
}

/// Keeps the `n` best of a stream of scored items.
///
/// Items must be pushed in increasing item index. A score enters the
/// buffer only when it beats the current n-th best, so a scan over many
/// items costs about one comparison per item, and a full buffer is cut
/// back to `n` with `select_nth_unstable_by`. Because of the push order, a
/// later item whose score equals the n-th best ranks below it and can be
/// dropped. NaN and negative infinity never enter, which lets callers
/// mark excluded items with `f32::NEG_INFINITY`.
#[derive(Debug, Clone)]
pub struct TopN {
    n: usize,
    capacity: usize,
    threshold: f32,
    buffer: Vec<Scored>,
}

impl TopN {
    /// Creates an empty selection of the `n` best.
    pub fn new(n: usize) -> TopN {
        TopN {
            n,
            capacity: n.saturating_mul(2).max(n.saturating_add(32)),
            threshold: if n == 0 {
                f32::INFINITY
            } else {
                f32::NEG_INFINITY
            },
            buffer: Vec::new(),
        }
    }

    /// The score an item must beat to enter: the n-th best score at the
    /// last cut of the buffer, negative infinity before the first cut,
    /// and infinity when `n` is 0.
    #[inline]
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Offers one item; see the type's documentation for the order.
    #[inline]
    pub fn push(&mut self, item: u32, score: f32) {
        debug_assert!(
            self.buffer.last().is_none_or(|last| last.item < item),
            "items must be pushed in increasing order"
        );
        if score > self.threshold {
            self.buffer.push(Scored { item, score });
            if self.buffer.len() >= self.capacity {
                self.shrink();
            }
        }
    }

    fn shrink(&mut self) {
        if self.buffer.len() <= self.n {
            return;
        }
        self.buffer.select_nth_unstable_by(self.n - 1, rank_order);
        self.buffer.truncate(self.n);
        self.threshold = self.buffer[self.n - 1].score;
    }

    /// Returns the kept items, best first, and empties the selection for
    /// reuse with the same `n`.
    pub fn take_sorted(&mut self) -> Vec<Scored> {
        self.shrink();
        let mut list = std::mem::take(&mut self.buffer);
        list.sort_by(rank_order);
        self.threshold = if self.n == 0 {
            f32::INFINITY
        } else {
            f32::NEG_INFINITY
        };
        list
    }
}

/// Items per panel of [`ItemPanels`], and lanes of the model's dot
/// product.
const PANEL: usize = 8;

/// Item factors rearranged for scoring one vector against every item.
///
/// Panel `p` contains items `8p..8p + 8` factor by factor: value `f * 8 + i`
/// of the panel is factor `f` of item `8p + i`, and items past the last
/// are zero. One pass over a panel then updates eight items at once, so
/// the products of one factor fill a vector register.
#[derive(Debug, Clone)]
pub(crate) struct ItemPanels {
    factors: usize,
    items: usize,
    data: Vec<f32>,
}

impl ItemPanels {
    /// Rearranges row-major `items x factors` item factors.
    pub fn new(item_factors: &[f32], items: usize, factors: usize) -> Self {
        assert_eq!(item_factors.len(), items * factors, "item factor shape");
        let panels = items.div_ceil(PANEL);
        let mut data = vec![0.0f32; panels * PANEL * factors];
        for item in 0..items {
            let panel = &mut data[(item / PANEL) * PANEL * factors..];
            let row = &item_factors[item * factors..(item + 1) * factors];
            for (f, &value) in row.iter().enumerate() {
                panel[f * PANEL + item % PANEL] = value;
            }
        }
        ItemPanels {
            factors,
            items,
            data,
        }
    }
}

/// Writes the dot product of `vector` with every item's factors into
/// `out`.
///
/// Each product is summed in the order of the model's dot product: eight
/// lanes over the factors in steps of eight, the lanes added in order,
/// then the remainder. No instruction set uses fused multiply-add here, so
/// each value equals that dot product bit for bit.
#[multiversion::multiversion(targets(
    "x86_64+avx2+avx",
    "x86_64+avx",
    "aarch64+neon"
))]
pub(crate) fn panel_dots(panels: &ItemPanels, vector: &[f32], out: &mut [f32]) {
    let k = panels.factors;
    assert_eq!(vector.len(), k, "vector length");
    assert_eq!(out.len(), panels.items, "output length");
    let chunks = k / PANEL;
    for (number, panel) in panels.data.chunks_exact(k * PANEL).enumerate() {
        // lanes[l][i] is lane l of the dot product of item i.
        let mut lanes = [[0.0f32; PANEL]; PANEL];
        for chunk in 0..chunks {
            for (lane, sums) in lanes.iter_mut().enumerate() {
                let f = chunk * PANEL + lane;
                let x = vector[f];
                let row = &panel[f * PANEL..(f + 1) * PANEL];
                for (sum, &q) in sums.iter_mut().zip(row) {
                    *sum += x * q;
                }
            }
        }
        // `Iterator::sum` of f32 starts from -0.0.
        let mut tails = [-0.0f32; PANEL];
        for f in chunks * PANEL..k {
            let x = vector[f];
            let row = &panel[f * PANEL..(f + 1) * PANEL];
            for (tail, &q) in tails.iter_mut().zip(row) {
                *tail += x * q;
            }
        }
        let mut dots = [-0.0f32; PANEL];
        for sums in &lanes {
            for (dot, &sum) in dots.iter_mut().zip(sums) {
                *dot += sum;
            }
        }
        let start = number * PANEL;
        let count = PANEL.min(panels.items - start);
        for i in 0..count {
            out[start + i] = dots[i] + tails[i];
        }
    }
}

/// Adds `base + bias[i]` to each `scores[i]`. With dot products in
/// `scores` this gives `(base + bias) + dot`, the order of
/// [`Model::score`](crate::Model::score).
#[multiversion::multiversion(targets(
    "x86_64+avx2+avx",
    "x86_64+avx",
    "aarch64+neon"
))]
pub(crate) fn add_bias(scores: &mut [f32], bias: &[f32], base: f32) {
    for (score, &b) in scores.iter_mut().zip(bias) {
        *score += base + b;
    }
}

/// Offers the score `base + bias[i] + vector . q_i` of each item `i` of
/// `items`, which must be increasing, to `top`. The sum is in the order of
/// [`Model::score`](crate::Model::score), so the scores equal those of the
/// full scan bit for bit.
#[multiversion::multiversion(targets(
    "x86_64+avx2+avx",
    "x86_64+avx",
    "aarch64+neon"
))]
pub(crate) fn push_scores(
    top: &mut TopN,
    items: &[u32],
    vector: &[f32],
    item_factors: &[f32],
    bias: &[f32],
    base: f32,
) {
    let k = vector.len();
    for &item in items {
        let at = item as usize;
        let row = &item_factors[at * k..(at + 1) * k];
        top.push(item, base + bias[at] + sgd::dot(vector, row));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(scores: &[f32], n: usize) -> Vec<Scored> {
        let mut all: Vec<Scored> = scores
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_finite())
            .map(|(item, &score)| Scored {
                item: item as u32,
                score,
            })
            .collect();
        all.sort_by(rank_order);
        all.truncate(n);
        all
    }

    #[test]
    fn top_n_matches_full_sort() {
        // A repeating pattern with many ties and a few excluded items.
        let scores: Vec<f32> = (0..1000)
            .map(|i| {
                if i % 97 == 0 {
                    f32::NEG_INFINITY
                } else {
                    ((i * 7919) % 113) as f32 * 0.25
                }
            })
            .collect();
        for n in [0, 1, 2, 10, 33, 100, 999, 1000, 5000] {
            let mut top = TopN::new(n);
            for (item, &score) in scores.iter().enumerate() {
                top.push(item as u32, score);
            }
            assert_eq!(top.take_sorted(), reference(&scores, n), "n = {n}");
        }
    }

    #[test]
    fn top_n_reusable_after_take() {
        let mut top = TopN::new(2);
        for (item, score) in [(0, 1.0), (1, 3.0), (2, 2.0)] {
            top.push(item, score);
        }
        let first: Vec<u32> =
            top.take_sorted().iter().map(|s| s.item).collect();
        assert_eq!(first, vec![1, 2]);
        for (item, score) in [(0, -5.0), (1, -6.0), (2, -4.0)] {
            top.push(item, score);
        }
        let second: Vec<u32> =
            top.take_sorted().iter().map(|s| s.item).collect();
        assert_eq!(second, vec![2, 0]);
    }

    #[test]
    fn top_n_skips_nan_and_excluded() {
        let mut top = TopN::new(5);
        top.push(0, f32::NAN);
        top.push(1, f32::NEG_INFINITY);
        top.push(2, 1.0);
        let list = top.take_sorted();
        assert_eq!(
            list,
            vec![Scored {
                item: 2,
                score: 1.0
            }]
        );
    }

    #[test]
    fn panel_dots_match_model_dot() {
        for (k, items) in [(13, 9), (8, 16), (128, 21), (3, 1), (64, 8)] {
            let factors: Vec<f32> =
                (0..items * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let vector: Vec<f32> = (0..k).map(|i| (i as f32).cos()).collect();
            let panels = ItemPanels::new(&factors, items, k);
            let mut out = vec![0.0; items];
            panel_dots(&panels, &vector, &mut out);
            for item in 0..items {
                let row = &factors[item * k..(item + 1) * k];
                let expected = sgd::dot(&vector, row);
                assert_eq!(
                    out[item].to_bits(),
                    expected.to_bits(),
                    "k {k}, item {item}"
                );
            }
        }
    }
}

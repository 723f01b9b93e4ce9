//! Quality of top-N lists against held-out ratings.
//!
//! Each user's list leaves out the items that user rated in training, and
//! a held-out item is relevant when its test rating is at or above a
//! threshold. Gains are binary.

use rayon::prelude::*;
use rustc_hash::FxHashSet;
use serde::Serialize;

use super::Indexed;
use crate::data::Ratings;
use crate::model::Model;

/// Something that ranks items for a training user.
pub trait Ranker: Indexed + Sync {
    /// Returns up to `n` item indices for user index `user`, best first,
    /// leaving out the items the user rated in training and, when
    /// `allowed` is given, the items whose flag in it is not set.
    fn top_n(&self, user: u32, n: usize, allowed: Option<&[bool]>) -> Vec<u32>;
}

impl Ranker for Model {
    fn top_n(&self, user: u32, n: usize, allowed: Option<&[bool]>) -> Vec<u32> {
        self.recommend_among(user, n, allowed)
            .into_iter()
            .map(|scored| scored.item)
            .collect()
    }
}

/// The items a top-N list may contain: those with at least `min`
/// training ratings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinItemRatings {
    min: u32,
    /// Flag per item index; `None` when `min` is at most 1.
    allowed: Option<Vec<bool>>,
}

impl MinItemRatings {
    /// Allows every item.
    pub fn any() -> MinItemRatings {
        MinItemRatings {
            min: 1,
            allowed: None,
        }
    }

    /// Counts the training ratings of each item of `model` and allows the
    /// items with at least `min`.
    pub fn new(model: &Model, min: u32) -> MinItemRatings {
        if min <= 1 {
            return MinItemRatings::any();
        }
        let counts = model.item_rating_counts();
        let allowed = counts.iter().map(|&count| count >= min).collect();
        MinItemRatings {
            min,
            allowed: Some(allowed),
        }
    }

    /// Returns the minimum training rating count of a listed item.
    pub fn min(&self) -> u32 {
        self.min
    }
}

/// Quality of top-N lists against the relevant held-out items.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankingMetrics {
    /// List length.
    pub n: usize,
    /// A held-out rating at or above this value marks a relevant item.
    pub relevance_threshold: f32,
    /// Lists leave out items with fewer training ratings than this.
    pub min_item_ratings: u32,
    /// Users with a training history and at least one relevant test item;
    /// the means below are over them.
    pub users: usize,
    /// Mean share of the list that is relevant, counting a list shorter
    /// than `n` as if padded with misses.
    pub precision: f64,
    /// Mean share of the relevant items found in the list.
    pub recall: f64,
    /// Mean normalized discounted cumulative gain: the sum of
    /// `1 / log2(rank + 1)` over hits, divided by that of a list that
    /// starts with `min(relevant, n)` hits.
    pub ndcg: f64,
    /// Mean average precision: the mean over users of the precision at
    /// the rank of each hit, summed and divided by `min(relevant, n)`.
    pub map: f64,
    /// Share of users whose list contains at least one relevant item.
    pub hit_rate: f64,
    /// Share of the training items that appear in at least one list.
    pub coverage: f64,
    /// Distinct items over all lists.
    pub covered_items: usize,
}

/// The default relevance threshold: three quarters of the way up the
/// training rating range, which is 4 on a 1..5 scale.
///
/// The bounds are taken as the decimals they print as and the threshold
/// is computed in `f64`, so that 1 and 7.52 give the `f32` nearest to
/// 5.89, which prints as 5.89, rather than the `f32` sum 5.8899994.
pub fn default_relevance_threshold(model: &Model) -> f32 {
    let (low, high) = model.rating_range;
    three_quarters_up(low, high)
}

fn three_quarters_up(low: f32, high: f32) -> f32 {
    let decimal = |value: f32| {
        value.to_string().parse::<f64>().unwrap_or(f64::from(value))
    };
    let (low, high) = (decimal(low), decimal(high));
    (low + 0.75 * (high - low)) as f32
}

/// Scores of one user's list.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ListScores {
    precision: f64,
    recall: f64,
    ndcg: f64,
    average_precision: f64,
    hit: bool,
}

/// Ranks the top `n` items for each test user with `ranker` and compares
/// them with the test items rated at or above `threshold`.
///
/// A relevant item that the ranker never saw in training still counts
/// towards recall, though no list can contain it.
///
/// Lists contain only the items `items` allows.
///
/// Returns `None` when no known test user has a relevant item or `n` is 0.
pub fn ranking_metrics(
    ranker: &impl Ranker,
    test: &Ratings,
    n: usize,
    threshold: f32,
    items: &MinItemRatings,
) -> Option<RankingMetrics> {
    let allowed = items.allowed.as_deref();
    if n == 0 {
        return None;
    }
    // Relevant items per test user, as ranker item indices where known.
    let mut relevant: Vec<Vec<Option<u32>>> =
        vec![Vec::new(); test.users.len()];
    for rating in &test.entries {
        if rating.value >= threshold {
            let item = ranker.items().get(test.items.id(rating.item));
            relevant[rating.user as usize].push(item);
        }
    }
    let lists: Vec<(ListScores, Vec<u32>)> = relevant
        .par_iter()
        .enumerate()
        .filter(|(_, items)| !items.is_empty())
        .filter_map(|(user, items)| {
            let user = ranker.users().get(test.users.id(user as u32))?;
            let list = ranker.top_n(user, n, allowed);
            let hits: Vec<bool> =
                list.iter().map(|&i| items.contains(&Some(i))).collect();
            Some((list_scores(&hits, items.len(), n), list))
        })
        .collect();
    if lists.is_empty() {
        return None;
    }
    let covered: FxHashSet<u32> = lists
        .iter()
        .flat_map(|(_, list)| list.iter().copied())
        .collect();
    let users = lists.len() as f64;
    let mean = |pick: fn(&ListScores) -> f64| {
        lists.iter().map(|(scores, _)| pick(scores)).sum::<f64>() / users
    };
    let catalogue = ranker.items().len().max(1) as f64;
    Some(RankingMetrics {
        n,
        relevance_threshold: threshold,
        min_item_ratings: items.min,
        users: lists.len(),
        precision: mean(|s| s.precision),
        recall: mean(|s| s.recall),
        ndcg: mean(|s| s.ndcg),
        map: mean(|s| s.average_precision),
        hit_rate: mean(|s| if s.hit { 1.0 } else { 0.0 }),
        coverage: covered.len() as f64 / catalogue,
        covered_items: covered.len(),
    })
}

/// Scores one list, given which of its positions hit and how many items
/// are relevant in all.
fn list_scores(hits: &[bool], relevant: usize, n: usize) -> ListScores {
    let gain = |rank: usize| 1.0 / ((rank + 2) as f64).log2();
    let mut found = 0usize;
    // Sums start from +0.0, because `Sum` for floats starts from -0.0 and
    // a list without hits would score -0.0.
    let (mut dcg, mut precision_sum) = (0.0f64, 0.0f64);
    for (rank, _) in hits.iter().enumerate().filter(|(_, &hit)| hit) {
        found += 1;
        dcg += gain(rank);
        precision_sum += found as f64 / (rank + 1) as f64;
    }
    let ideal_hits = relevant.min(n);
    let ideal: f64 = (0..ideal_hits).map(gain).sum();
    ListScores {
        precision: found as f64 / n as f64,
        recall: found as f64 / relevant as f64,
        ndcg: dcg / ideal,
        average_precision: precision_sum / ideal_hits as f64,
        hit: found > 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_threshold_prints_as_typed() {
        let cases = [
            (1.0, 5.0, "4"),
            (0.5, 5.0, "3.875"),
            (1.0, 7.52, "5.89"),
            (0.1, 0.7, "0.55"),
            (-1.0, 1.0, "0.5"),
            (1.0, 10.0, "7.75"),
            (0.5, 1.1, "0.95"),
            (0.5, 1.2, "1.025"),
        ];
        for (low, high, expected) in cases {
            let found = three_quarters_up(low, high).to_string();
            assert_eq!(found, expected, "{low}..{high}");
        }
        // The same sum in f32 arithmetic prints as 0.95000005.
        let (low, high) = (std::hint::black_box(0.5f32), 1.1f32);
        assert_eq!((low + 0.75 * (high - low)).to_string(), "0.95000005");
    }

    #[test]
    fn list_scores_by_hand() {
        // Hits at ranks 1 and 3 of 4, with 3 relevant items in all.
        let scores = list_scores(&[true, false, true, false], 3, 4);
        assert_eq!(scores.precision, 0.5);
        assert!((scores.recall - 2.0 / 3.0).abs() < 1e-12);
        let dcg = 1.0 + 1.0 / 4f64.log2();
        let ideal = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((scores.ndcg - dcg / ideal).abs() < 1e-12);
        // Precision 1/1 at rank 1 and 2/3 at rank 3, over min(3, 4).
        let average = (1.0 + 2.0 / 3.0) / 3.0;
        assert!((scores.average_precision - average).abs() < 1e-12);
        assert!(scores.hit);
    }

    #[test]
    fn average_precision_caps_at_list_length() {
        // 5 relevant items but a list of 2: one hit at rank 2 gives
        // precision 1/2 there, over min(5, 2) = 2.
        let scores = list_scores(&[false, true], 5, 2);
        assert_eq!(scores.average_precision, 0.25);
        assert_eq!(scores.recall, 0.2);
    }

    #[test]
    fn list_without_hits_scores_positive_zero() {
        let scores = list_scores(&[false, false], 3, 2);
        let values = [
            scores.precision,
            scores.recall,
            scores.ndcg,
            scores.average_precision,
        ];
        for value in values {
            assert_eq!(value, 0.0);
            assert!(value.is_sign_positive(), "{value:?} is -0.0");
        }
        assert!(!scores.hit);
    }

    #[test]
    fn perfect_list_scores_one() {
        let scores = list_scores(&[true, true], 2, 2);
        assert_eq!(scores.precision, 1.0);
        assert_eq!(scores.recall, 1.0);
        assert_eq!(scores.ndcg, 1.0);
        assert_eq!(scores.average_precision, 1.0);
    }
}

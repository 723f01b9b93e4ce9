//! Accuracy of a model on held-out ratings: RMSE and MAE of predicted
//! ratings, and precision, recall and NDCG of top-N lists.

use rayon::prelude::*;
use serde::Serialize;

use crate::data::Ratings;
use crate::model::{Fallback, Model};

/// Held-out rows whose user or item the model had not seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ColdCounts {
    /// Rows whose user is unknown but whose item is known.
    pub unknown_user: usize,
    /// Rows whose item is unknown but whose user is known.
    pub unknown_item: usize,
    /// Rows whose user and item are both unknown.
    pub unknown_both: usize,
}

impl ColdCounts {
    /// All cold rows.
    pub fn total(&self) -> usize {
        self.unknown_user + self.unknown_item + self.unknown_both
    }
}

/// Error of predicted ratings on a test set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatingErrors {
    /// Root mean squared error over all test rows, cold ones included.
    pub rmse: f64,
    /// Mean absolute error over all test rows, cold ones included.
    pub mae: f64,
    /// RMSE over the rows whose user and item are both known, or `None`
    /// when there are none.
    pub warm_rmse: Option<f64>,
    /// Number of test rows.
    pub test_ratings: usize,
    /// Cold rows, scored by the fallbacks of [`Model::predict`].
    pub cold: ColdCounts,
}

/// Scores every test rating with [`Model::predict`] (clipped to the
/// training range, with fallbacks for unknown ids) and measures the error.
///
/// Returns `None` when `test` is empty.
pub fn rating_errors(model: &Model, test: &Ratings) -> Option<RatingErrors> {
    if test.is_empty() {
        return None;
    }
    let users: Vec<Option<u32>> =
        test.users.ids().map(|id| model.users.get(id)).collect();
    let items: Vec<Option<u32>> =
        test.items.ids().map(|id| model.items.get(id)).collect();
    let mut cold = ColdCounts::default();
    let (mut squared, mut absolute) = (0.0f64, 0.0f64);
    let (mut warm_squared, mut warm) = (0.0f64, 0usize);
    for rating in &test.entries {
        let prediction = model.predict_indices(
            users[rating.user as usize],
            items[rating.item as usize],
        );
        let error = f64::from(rating.value) - f64::from(prediction.value);
        squared += error * error;
        absolute += error.abs();
        match prediction.fallback {
            None => {
                warm_squared += error * error;
                warm += 1;
            }
            Some(Fallback::UnknownUser) => cold.unknown_user += 1,
            Some(Fallback::UnknownItem) => cold.unknown_item += 1,
            Some(Fallback::UnknownUserAndItem) => cold.unknown_both += 1,
        }
    }
    let count = test.len() as f64;
    Some(RatingErrors {
        rmse: (squared / count).sqrt(),
        mae: absolute / count,
        warm_rmse: (warm > 0).then(|| (warm_squared / warm as f64).sqrt()),
        test_ratings: test.len(),
        cold,
    })
}

/// Quality of top-N lists against the relevant held-out items.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RankingMetrics {
    /// List length.
    pub n: usize,
    /// A held-out rating at or above this value marks a relevant item.
    pub relevance_threshold: f32,
    /// Users with a training history and at least one relevant test item;
    /// the means below are over them.
    pub users: usize,
    /// Mean share of the list that is relevant.
    pub precision: f64,
    /// Mean share of the relevant items found in the list.
    pub recall: f64,
    /// Mean normalized discounted cumulative gain with binary gains.
    pub ndcg: f64,
}

/// The default relevance threshold: three quarters of the way up the
/// training rating range, which is 4 on a 1..5 scale.
pub fn default_relevance_threshold(model: &Model) -> f32 {
    let (low, high) = model.rating_range;
    low + 0.75 * (high - low)
}

/// Ranks the top `n` unrated items for each test user and compares them
/// with the test items rated at or above `threshold`.
///
/// Returns `None` when no known test user has a relevant item or `n` is 0.
pub fn ranking_metrics(
    model: &Model,
    test: &Ratings,
    n: usize,
    threshold: f32,
) -> Option<RankingMetrics> {
    if n == 0 {
        return None;
    }
    let mut relevant: Vec<Vec<&str>> = vec![Vec::new(); test.users.len()];
    for rating in &test.entries {
        if rating.value >= threshold {
            relevant[rating.user as usize].push(test.items.id(rating.item));
        }
    }
    let per_user: Vec<(f64, f64, f64)> = relevant
        .par_iter()
        .enumerate()
        .filter(|(_, items)| !items.is_empty())
        .filter_map(|(user, items)| {
            let list = model.recommend(test.users.id(user as u32), n).ok()?;
            let hits: Vec<bool> = list
                .iter()
                .map(|s| items.contains(&model.items.id(s.item)))
                .collect();
            Some(list_scores(&hits, items.len(), n))
        })
        .collect();
    if per_user.is_empty() {
        return None;
    }
    let users = per_user.len() as f64;
    let mean = |pick: fn(&(f64, f64, f64)) -> f64| {
        per_user.iter().map(pick).sum::<f64>() / users
    };
    Some(RankingMetrics {
        n,
        relevance_threshold: threshold,
        users: per_user.len(),
        precision: mean(|s| s.0),
        recall: mean(|s| s.1),
        ndcg: mean(|s| s.2),
    })
}

/// Precision, recall and NDCG of one list, given which positions hit.
fn list_scores(hits: &[bool], relevant: usize, n: usize) -> (f64, f64, f64) {
    let found = hits.iter().filter(|&&hit| hit).count() as f64;
    let gain = |rank: usize| 1.0 / ((rank + 2) as f64).log2();
    // A fold from +0.0, because `Sum` for floats starts from -0.0 and a
    // list without hits would score -0.0.
    let dcg = hits
        .iter()
        .enumerate()
        .filter(|(_, &hit)| hit)
        .fold(0.0, |total, (rank, _)| total + gain(rank));
    let ideal: f64 = (0..relevant.min(n)).map(gain).sum();
    (found / n as f64, found / relevant as f64, dcg / ideal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_scores_by_hand() {
        // Hits at ranks 1 and 3 of 4, with 3 relevant items in all.
        let (precision, recall, ndcg) =
            list_scores(&[true, false, true, false], 3, 4);
        assert_eq!(precision, 0.5);
        assert!((recall - 2.0 / 3.0).abs() < 1e-12);
        let dcg = 1.0 + 1.0 / 4f64.log2();
        let ideal = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((ndcg - dcg / ideal).abs() < 1e-12);
    }

    #[test]
    fn list_without_hits_scores_positive_zero() {
        let (precision, recall, ndcg) = list_scores(&[false, false], 3, 2);
        for value in [precision, recall, ndcg] {
            assert_eq!(value, 0.0);
            assert!(value.is_sign_positive(), "{value:?} is -0.0");
        }
    }

    #[test]
    fn perfect_list_scores_one() {
        let (precision, recall, ndcg) = list_scores(&[true, true], 2, 2);
        assert_eq!((precision, recall, ndcg), (1.0, 1.0, 1.0));
    }
}

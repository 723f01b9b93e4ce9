//! Accuracy of a model on held-out ratings, next to simple baselines.
//!
//! - [`rating_errors`]: RMSE and MAE of predicted ratings, cold rows
//!   included.
//! - [`ranking`]: precision, recall, NDCG, MAP, hit rate and catalogue
//!   coverage of top-N lists that leave out each user's training items.
//! - [`baseline`]: the global mean, damped user and item biases, and the
//!   most popular items, which give every figure a point of comparison.
//! - [`report`]: trains on one split and measures the model and the
//!   baselines; [`parallel`] runs several such jobs at once.
//! - [`early_stop`]: training that records a per-epoch curve and can stop
//!   when validation RMSE stops improving; [`curve`] writes the curve as
//!   CSV, JSON or an SVG plot.
//! - [`tune`]: grid and random search over training settings with k-fold
//!   cross-validation.

pub mod baseline;
pub mod curve;
pub mod early_stop;
pub mod parallel;
pub mod ranking;
pub mod report;
pub mod tune;

use serde::Serialize;

use crate::data::{IdMap, Ratings};
use crate::model::{Fallback, Model, Prediction};

pub use ranking::{
    default_relevance_threshold, ranking_metrics, MinItemRatings, Ranker,
    RankingMetrics,
};

/// A model or baseline with the id maps of its training data.
pub trait Indexed {
    /// Training user ids.
    fn users(&self) -> &IdMap;
    /// Training item ids.
    fn items(&self) -> &IdMap;
}

/// Something that predicts ratings from training indices, with fallbacks
/// for ids absent from training.
pub trait Predictor: Indexed {
    /// Predicts the rating of `item` by `user`, either of which may be
    /// unknown.
    fn predict_indices(
        &self,
        user: Option<u32>,
        item: Option<u32>,
    ) -> Prediction;
}

impl Indexed for Model {
    fn users(&self) -> &IdMap {
        &self.users
    }

    fn items(&self) -> &IdMap {
        &self.items
    }
}

impl Predictor for Model {
    fn predict_indices(
        &self,
        user: Option<u32>,
        item: Option<u32>,
    ) -> Prediction {
        Model::predict_indices(self, user, item)
    }
}

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
    /// Cold rows, scored by the predictor's fallbacks.
    pub cold: ColdCounts,
}

/// Scores every test rating with `predictor` (for a [`Model`], clipped to
/// the training range, with fallbacks for unknown ids) and measures the
/// error.
///
/// Returns `None` when `test` is empty.
pub fn rating_errors(
    predictor: &impl Predictor,
    test: &Ratings,
) -> Option<RatingErrors> {
    if test.is_empty() {
        return None;
    }
    let users: Vec<Option<u32>> = test
        .users
        .ids()
        .map(|id| predictor.users().get(id))
        .collect();
    let items: Vec<Option<u32>> = test
        .items
        .ids()
        .map(|id| predictor.items().get(id))
        .collect();
    let mut cold = ColdCounts::default();
    let (mut squared, mut absolute) = (0.0f64, 0.0f64);
    let (mut warm_squared, mut warm) = (0.0f64, 0usize);
    for rating in &test.entries {
        let prediction = predictor.predict_indices(
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

/// Mean and sample standard deviation of a figure over folds or runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation, dividing by `count - 1`; 0 for a single
    /// value.
    pub std: f64,
    /// Number of values.
    pub count: usize,
}

impl Spread {
    /// Summarizes `values`; returns `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let count = values.len();
        let mean = values.iter().sum::<f64>() / count as f64;
        let std = if count > 1 {
            let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
            (squares / (count - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Spread { mean, std, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_by_hand() {
        let spread = Spread::of(&[1.0, 2.0, 4.0]).unwrap();
        assert!((spread.mean - 7.0 / 3.0).abs() < 1e-12);
        // Squared deviations 16/9, 1/9 and 25/9 sum to 42/9; over 2.
        assert!((spread.std - (21.0f64 / 9.0).sqrt()).abs() < 1e-12);
        assert_eq!(spread.count, 3);
        assert_eq!(Spread::of(&[5.0]).unwrap().std, 0.0);
        assert_eq!(Spread::of(&[]), None);
    }
}

//! Trains on one train/test split and measures the model next to the
//! baselines.

use serde::Serialize;

use super::baseline::{
    BaselineErrors, BiasBaseline, Popularity, ITEM_DAMPING, USER_DAMPING,
};
use super::early_stop::{train_tracked, EarlyStop, EpochPoint, StopReport};
use super::ranking::{
    default_relevance_threshold, ranking_metrics, MinItemRatings,
};
use super::{rating_errors, RankingMetrics, RatingErrors};
use crate::data::Ratings;
use crate::error::{Error, Result};
use crate::model::params::TrainParams;
use crate::model::Model;

/// Measurement settings beyond RMSE and MAE.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalSettings {
    /// Length of the top-N lists.
    pub n: usize,
    /// Test ratings at or above this value are relevant; `None` uses
    /// [`default_relevance_threshold`].
    pub relevance_threshold: Option<f32>,
    /// Top-N lists leave out items with fewer training ratings than this;
    /// 1 keeps every item.
    pub min_item_ratings: u32,
    /// Early stopping on a validation share of the training ratings.
    pub early_stop: Option<EarlyStop>,
    /// Whether to measure test RMSE after every epoch for the curve. It
    /// never affects training.
    pub track_test: bool,
}

impl Default for EvalSettings {
    fn default() -> Self {
        EvalSettings {
            n: 10,
            relevance_threshold: None,
            min_item_ratings: 1,
            early_stop: None,
            track_test: false,
        }
    }
}

/// The baselines measured on the same test ratings as a model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Baselines {
    /// The training mean, clipped to the training range, for every pair.
    pub global_mean: BaselineErrors,
    /// [`BiasBaseline`] with [`USER_DAMPING`] and [`ITEM_DAMPING`];
    /// `None` without training ratings, as for a saved model.
    pub bias: Option<BaselineErrors>,
    /// The most-rated training items each user has not rated, scored like
    /// the model's lists; `None` when no test user has a relevant item.
    pub popularity: Option<RankingMetrics>,
}

/// Accuracy of a model on one split, with the baselines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitReport {
    /// Training ratings the model was fitted on.
    pub train_ratings: usize,
    /// RMSE and MAE of the model.
    pub errors: RatingErrors,
    /// Top-N metrics of the model; `None` when no test user has a
    /// relevant item.
    pub ranking: Option<RankingMetrics>,
    /// The baselines on the same test ratings.
    pub baselines: Baselines,
    /// Training time, set-up included; `None` for a saved model.
    pub train_seconds: Option<f64>,
    /// Outcome of early stopping, when it was used.
    pub early_stop: Option<StopReport>,
    /// RMSE after each epoch.
    #[serde(skip)]
    pub curve: Vec<EpochPoint>,
}

/// Measures `model` and the baselines on `test`. `train` is the training
/// data of the model, needed only for the bias baseline.
///
/// # Errors
///
/// Fails when `test` is empty.
pub fn measure(
    model: &Model,
    train: Option<&Ratings>,
    test: &Ratings,
    settings: &EvalSettings,
) -> Result<SplitReport> {
    let errors = rating_errors(model, test)
        .ok_or_else(|| Error::Invalid("no test ratings to measure".into()))?;
    let threshold = settings
        .relevance_threshold
        .unwrap_or_else(|| default_relevance_threshold(model));
    let items = MinItemRatings::new(model, settings.min_item_ratings);
    let ranking = ranking_metrics(model, test, settings.n, threshold, &items);
    let popularity = ranking_metrics(
        &Popularity::new(model),
        test,
        settings.n,
        threshold,
        &items,
    );
    // A saved model stores its training mean and range, so the
    // global-mean baseline needs no training ratings.
    let (mean, range) = match train {
        Some(train) => {
            let baseline = BiasBaseline::global_mean(train)?;
            (baseline.global_mean, baseline.rating_range)
        }
        None => (f64::from(model.global_mean), model.rating_range),
    };
    let global_mean = mean_errors(mean, range, test);
    let bias = match train {
        Some(train) => {
            let baseline =
                BiasBaseline::fit(train, USER_DAMPING, ITEM_DAMPING)?;
            let errors = rating_errors(&baseline, test)
                .expect("test is not empty, checked above");
            Some(BaselineErrors {
                rmse: errors.rmse,
                mae: errors.mae,
                user_damping: Some(baseline.user_damping),
                item_damping: Some(baseline.item_damping),
            })
        }
        None => None,
    };
    Ok(SplitReport {
        train_ratings: model.train_ratings(),
        errors,
        ranking,
        baselines: Baselines {
            global_mean,
            bias,
            popularity,
        },
        train_seconds: None,
        early_stop: None,
        curve: Vec::new(),
    })
}

/// Errors of predicting `mean`, clipped to `range`, for every test row.
fn mean_errors(mean: f64, range: (f32, f32), test: &Ratings) -> BaselineErrors {
    let prediction = mean.clamp(f64::from(range.0), f64::from(range.1));
    let (mut squared, mut absolute) = (0.0f64, 0.0f64);
    for rating in &test.entries {
        let error = f64::from(rating.value) - prediction;
        squared += error * error;
        absolute += error.abs();
    }
    let count = test.len().max(1) as f64;
    BaselineErrors {
        rmse: (squared / count).sqrt(),
        mae: absolute / count,
        user_damping: None,
        item_damping: None,
    }
}

/// Trains on `train` and measures the model and the baselines on `test`.
///
/// Training runs on the current rayon pool, as [`train_tracked`] does.
/// `observer` receives each epoch's point.
///
/// # Errors
///
/// As [`train_tracked`] and [`measure`].
pub fn train_and_measure(
    train: &Ratings,
    test: &Ratings,
    params: &TrainParams,
    settings: &EvalSettings,
    observer: &mut dyn FnMut(&EpochPoint),
) -> Result<(Model, SplitReport)> {
    let tracked_test = settings.track_test.then_some(test);
    let tracked = train_tracked(
        train,
        params,
        settings.early_stop.as_ref(),
        tracked_test,
        observer,
    )?;
    let mut report = measure(&tracked.model, Some(train), test, settings)?;
    report.train_seconds = Some(tracked.seconds);
    report.early_stop = tracked.stop;
    report.curve = tracked.curve;
    Ok((tracked.model, report))
}

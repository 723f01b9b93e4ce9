//! Training that records RMSE after every epoch and can stop early.
//!
//! Early stopping holds out a seeded share of the training ratings as a
//! validation set, trains on the rest, and stops once validation RMSE has
//! not improved for `patience` epochs in a row. The best epoch count found
//! that way is then trained again on all the training ratings, so the
//! model contains every user and item it was given. Test ratings,
//! when given, are only measured for the curve and never affect when
//! training stops.

use std::time::Instant;

use serde::Serialize;

use crate::data::split::validation_split;
use crate::data::Ratings;
use crate::error::{Error, Result};
use crate::model::params::TrainParams;
use crate::model::train::{HeldOut, Trainer};
use crate::model::Model;

/// Mixed into the training seed to draw the validation set, so that it
/// does not follow the same permutation as a test split drawn with the
/// seed itself.
pub const VALIDATION_SEED_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// Settings of early stopping.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EarlyStop {
    /// Share of the training ratings held out for validation, strictly
    /// between 0 and 1. Default 0.1.
    pub validation_fraction: f64,
    /// Epochs without a lower validation RMSE after which training stops,
    /// at least 1. Default 3.
    pub patience: usize,
}

impl Default for EarlyStop {
    fn default() -> Self {
        EarlyStop {
            validation_fraction: 0.1,
            patience: 3,
        }
    }
}

/// RMSE after one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EpochPoint {
    /// Cross-validation fold, counted from 1, or `None` outside
    /// cross-validation.
    pub fold: Option<usize>,
    /// Epoch just finished, counted from 1.
    pub epoch: usize,
    /// RMSE of the errors seen during the epoch's pass, each taken just
    /// before the update of its rating.
    pub train_rmse: f64,
    /// RMSE on the validation ratings after the epoch, with early
    /// stopping.
    pub validation_rmse: Option<f64>,
    /// RMSE on the test ratings whose user and item are in training, when
    /// test ratings were given.
    pub test_rmse: Option<f64>,
    /// Factor step size of the epoch, before any AdaGrad scaling.
    pub learning_rate: f32,
    /// Seconds since training started, set-up included.
    pub elapsed_seconds: f64,
}

/// Outcome of early stopping.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StopReport {
    /// The epoch whose model was kept, counted from 1.
    pub best_epoch: usize,
    /// Epochs run before stopping.
    pub epochs_run: usize,
    /// The epoch limit, `TrainParams::epochs`.
    pub max_epochs: usize,
    /// Validation RMSE after the best epoch.
    pub best_validation_rmse: f64,
    /// Training ratings fitted while searching for the best epoch.
    pub fit_ratings: usize,
    /// Training ratings held out for validation during the search.
    pub validation_ratings: usize,
    /// Seconds of the final training on all the training ratings.
    pub refit_seconds: f64,
    /// The settings used.
    pub settings: EarlyStop,
}

/// A trained model with its per-epoch record.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// The model after the last epoch. With early stopping, the model
    /// trained on all the training ratings for the best epoch count, which
    /// is then `params.epochs`.
    pub model: Model,
    /// One point per epoch run; with early stopping, of the search on the
    /// ratings that were not held out.
    pub curve: Vec<EpochPoint>,
    /// Present with early stopping.
    pub stop: Option<StopReport>,
    /// Training time, set-up included.
    pub seconds: f64,
}

/// Trains on `train`, measuring RMSE after every epoch, and stops early
/// when `early_stop` is given. `observer` receives no points of the final
/// training that follows early stopping.
///
/// Epochs run on the current rayon pool (see [`Trainer`]); wrap the call
/// in `ThreadPool::install` to choose the thread count. `observer`
/// receives each point as it is recorded.
///
/// # Errors
///
/// Fails when a setting is invalid, when the validation set has no rating
/// whose user and item remain in the rest of the training data, or when
/// training diverges.
pub fn train_tracked(
    train: &Ratings,
    params: &TrainParams,
    early_stop: Option<&EarlyStop>,
    test: Option<&Ratings>,
    observer: &mut dyn FnMut(&EpochPoint),
) -> Result<Tracked> {
    params.validate()?;
    let started = Instant::now();
    let Some(settings) = early_stop else {
        let mut trainer = Trainer::new(train, params)?;
        let test = test.map(|t| trainer.map_held_out(t));
        let mut curve = Vec::with_capacity(params.epochs);
        for _ in 0..params.epochs {
            let point =
                run_epoch(&mut trainer, params, None, test.as_ref(), started)?;
            observer(&point);
            curve.push(point);
        }
        return Ok(Tracked {
            model: trainer.into_model(),
            curve,
            stop: None,
            seconds: started.elapsed().as_secs_f64(),
        });
    };

    if settings.patience == 0 {
        return Err(Error::InvalidParameter {
            name: "--patience",
            value: "0".into(),
            reason: "must be at least 1".into(),
        });
    }
    let seed = params.seed ^ VALIDATION_SEED_MIX;
    let split =
        validation_split(train.len(), settings.validation_fraction, seed)?;
    let fit = train.subset(&split.train);
    let validation = train.subset(&split.test);
    let mut trainer = Trainer::new(&fit, params)?;
    let validation_len = validation.len();
    let validation = trainer.map_held_out(&validation);
    let test = test.map(|t| trainer.map_held_out(t));
    if validation.is_empty() {
        return Err(Error::Invalid(format!(
            "none of the {} validation ratings has a user and an item left \
             in the other {} training ratings; raise \
             --validation-fraction or train without --early-stop",
            validation_len,
            fit.len()
        )));
    }

    let mut curve = Vec::new();
    let mut best: Option<(f64, usize)> = None;
    let mut stale = 0;
    for _ in 0..params.epochs {
        let point = run_epoch(
            &mut trainer,
            params,
            Some(&validation),
            test.as_ref(),
            started,
        )?;
        observer(&point);
        curve.push(point);
        let rmse = point.validation_rmse.expect("measured above");
        if best.is_none_or(|(lowest, _)| rmse < lowest) {
            best = Some((rmse, point.epoch));
            stale = 0;
        } else {
            stale += 1;
            if stale >= settings.patience {
                break;
            }
        }
    }
    let (best_rmse, best_epoch) =
        best.expect("params.validate() ensures at least one epoch");
    drop(trainer);

    // The same settings and seed on all the ratings, so the model equals
    // that of a training run with `--epochs best_epoch`.
    let refit_started = Instant::now();
    let refit_params = TrainParams {
        epochs: best_epoch,
        ..params.clone()
    };
    let mut trainer = Trainer::new(train, &refit_params)?;
    for _ in 0..best_epoch {
        trainer.epoch()?;
    }
    let model = trainer.into_model();
    Ok(Tracked {
        model,
        stop: Some(StopReport {
            best_epoch,
            epochs_run: curve.len(),
            max_epochs: params.epochs,
            best_validation_rmse: best_rmse,
            fit_ratings: fit.len(),
            validation_ratings: validation_len,
            refit_seconds: refit_started.elapsed().as_secs_f64(),
            settings: *settings,
        }),
        curve,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn run_epoch(
    trainer: &mut Trainer,
    params: &TrainParams,
    validation: Option<&HeldOut>,
    test: Option<&HeldOut>,
    started: Instant,
) -> Result<EpochPoint> {
    let train_rmse = trainer.epoch()?;
    let epoch = trainer.epochs_run();
    Ok(EpochPoint {
        fold: None,
        epoch,
        train_rmse,
        validation_rmse: validation.and_then(|v| trainer.rmse_on_held_out(v)),
        test_rmse: test.and_then(|t| trainer.rmse_on_held_out(t)),
        learning_rate: params.learning_rate
            * params.decay.powi(epoch as i32 - 1),
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

//! The fit loop: epochs, a report per epoch to an observer, and the check
//! that training stayed finite.

use std::time::{Duration, Instant};

use crate::data::{matrix, IdMap, Ratings};
use crate::error::{Error, Result};
use crate::model::params::TrainParams;
use crate::model::sgd::{Engine, Trained};
use crate::model::Model;

/// Progress after one epoch.
#[derive(Debug, Clone)]
pub struct EpochReport {
    /// Epoch just finished, counted from 1.
    pub epoch: usize,
    /// Epochs in the whole run.
    pub epochs: usize,
    /// RMSE of the errors seen during the epoch's pass, each taken just
    /// before the update of its rating.
    pub train_rmse: f64,
    /// RMSE on the validation ratings after the epoch, with predictions
    /// clipped to the training range; `None` without validation data.
    pub validation_rmse: Option<f64>,
    /// Factor step size of the epoch, before any AdaGrad scaling.
    pub learning_rate: f32,
    /// Time since training started, set-up included.
    pub elapsed: Duration,
}

/// Trains a model on `ratings` with `params`.
///
/// # Errors
///
/// Fails when a setting is invalid, when there are no ratings, or when
/// training diverges (the loss or a factor becomes infinite or NaN).
///
/// # Example
///
/// ```
/// use descent::{data::Ratings, fit, TrainParams};
///
/// let mut ratings = Ratings::default();
/// for (user, item, value) in [("1", "a", 4.0), ("1", "b", 2.0), ("2", "a", 5.0)] {
///     let user = ratings.users.intern(user);
///     let item = ratings.items.intern(item);
///     ratings.entries.push(descent::data::Rating { user, item, value });
/// }
/// let params = TrainParams { epochs: 5, ..TrainParams::default() };
/// let model = fit(&ratings, &params).unwrap();
/// assert!(model.predict("2", "b").value.is_finite());
///
/// let bad = TrainParams { learning_rate: -1.0, ..params };
/// assert!(fit(&ratings, &bad).is_err());
/// ```
pub fn fit(ratings: &Ratings, params: &TrainParams) -> Result<Model> {
    fit_with(ratings, params, None, &mut |_| {})
}

/// Trains like [`fit`], reporting each epoch to `observer` and measuring
/// RMSE on `validation` after each epoch. Validation ratings of users or
/// items absent from `ratings` are left out of that RMSE.
///
/// # Errors
///
/// As [`fit`].
pub fn fit_with(
    ratings: &Ratings,
    params: &TrainParams,
    validation: Option<&Ratings>,
    observer: &mut (dyn FnMut(&EpochReport) + Send),
) -> Result<Model> {
    params.validate()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(params.thread_count())
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start threads: {e}")))?;
    pool.install(|| train_in_pool(ratings, params, validation, observer))
}

fn train_in_pool(
    ratings: &Ratings,
    params: &TrainParams,
    validation: Option<&Ratings>,
    observer: &mut (dyn FnMut(&EpochReport) + Send),
) -> Result<Model> {
    let started = Instant::now();
    let mut trainer = Trainer::new(ratings, params)?;
    let held_out = validation.map(|v| trainer.map_held_out(v));
    for _ in 0..params.epochs {
        let train_rmse = trainer.epoch()?;
        let validation_rmse = held_out
            .as_ref()
            .and_then(|held_out| trainer.rmse_on_held_out(held_out));
        observer(&EpochReport {
            epoch: trainer.epoch,
            epochs: params.epochs,
            train_rmse,
            validation_rmse,
            learning_rate: trainer.last_learning_rate,
            elapsed: started.elapsed(),
        });
    }
    Ok(trainer.into_model())
}

/// Held-out ratings mapped once into the user and item indices of the
/// training data, so that scoring them after every epoch looks up no ids.
///
/// Made by [`Trainer::map_held_out`] and valid for any [`Trainer`] built
/// from the same training ratings.
#[derive(Debug, Clone)]
pub struct HeldOut {
    /// (user index, item index, rating) in the training index space.
    triples: Vec<(u32, u32, f32)>,
    /// Numbers of users and items in the training data that the indices
    /// refer to.
    shape: (usize, usize),
}

impl HeldOut {
    /// Number of ratings kept, those whose user and item are in training.
    pub fn len(&self) -> usize {
        self.triples.len()
    }

    /// Returns whether no rating was kept.
    pub fn is_empty(&self) -> bool {
        self.triples.is_empty()
    }
}

/// Training RMSE, in multiples of the rating spread (largest minus
/// smallest rating, at least 1), above which training counts as diverged.
const RUNAWAY_SPREADS: f64 = 10.0;

/// Training state between epochs, for callers that drive the epochs
/// themselves (benchmarks, early stopping).
///
/// Epochs run on the calling thread and rayon's global pool; [`fit`]
/// instead runs them on a pool of `params.threads` threads.
pub struct Trainer {
    params: TrainParams,
    users: IdMap,
    items: IdMap,
    /// Training ratings, repeats removed.
    len: usize,
    /// CSR structure of the training matrix, kept for the model.
    rated_indptr: Vec<usize>,
    rated_items: Vec<u32>,
    global_mean: f32,
    range: (f32, f32),
    engine: Engine,
    epoch: usize,
    learning_rate: f32,
    last_learning_rate: f32,
}

impl Trainer {
    /// Lays out `ratings` for training and draws the initial factors.
    ///
    /// # Errors
    ///
    /// Fails when a setting is invalid or there are no ratings.
    pub fn new(ratings: &Ratings, params: &TrainParams) -> Result<Trainer> {
        params.validate()?;
        if ratings.is_empty() {
            return Err(Error::Invalid("no ratings to train on".into()));
        }
        let (users, items) = (ratings.users.len(), ratings.items.len());
        // Loaded files have no repeated pairs, so the copy is rare.
        let deduplicated;
        let (ratings, rated) =
            match matrix::try_rated(&ratings.entries, users, items) {
                Some(rated) => (ratings, rated),
                None => {
                    let mut copy = ratings.clone();
                    copy.remove_duplicates();
                    deduplicated = copy;
                    let entries = &deduplicated.entries;
                    let rated = matrix::try_rated(entries, users, items)
                        .expect("repeated pairs were removed");
                    (&deduplicated, rated)
                }
            };
        let global_mean = ratings.mean().expect("ratings are not empty") as f32;
        let range = ratings.range().expect("ratings are not empty");
        check_factor_memory(users, items, params.factors)?;
        let params_learning_rate = params.learning_rate;
        let engine = Engine::new(&ratings.entries, &rated, global_mean, params);
        // The model depends on the band count, so the saved settings
        // record the count used rather than 0 for automatic.
        let params = TrainParams {
            blocks: engine.band_count(),
            ..params.clone()
        };
        let (rated_indptr, rated_items, _) = rated.into_raw_storage();
        Ok(Trainer {
            params,
            users: ratings.users.clone(),
            items: ratings.items.clone(),
            len: rated_items.len(),
            rated_indptr,
            rated_items,
            global_mean,
            range,
            engine,
            epoch: 0,
            learning_rate: params_learning_rate,
            last_learning_rate: params_learning_rate,
        })
    }

    /// Number of training ratings, repeats removed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no training ratings (never true once built).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Runs one more epoch and returns the RMSE of the errors seen during
    /// it.
    ///
    /// # Errors
    ///
    /// Fails with [`Error::Diverged`] when the loss or a factor stops being
    /// finite.
    pub fn epoch(&mut self) -> Result<f64> {
        self.epoch += 1;
        self.last_learning_rate = self.learning_rate;
        let shrink = self.params.decay.powi(self.epoch as i32 - 1);
        let bias_learning_rate = self.params.bias_learning_rate * shrink;
        let squared_error = self.engine.epoch(
            self.learning_rate,
            bias_learning_rate,
            &self.params,
        );
        self.learning_rate *= self.params.decay;
        let train_rmse = (squared_error / self.len as f64).sqrt();
        if !train_rmse.is_finite() || !self.engine.is_finite() {
            return Err(Error::Diverged {
                epoch: self.epoch,
                what: "training loss",
                value: train_rmse,
                learning_rate: self.params.learning_rate,
            });
        }
        // Finite but far beyond the ratings' spread: the steps overshoot
        // (as with a penalty times learning rate above 2), and the model
        // would predict worse than the global mean.
        let spread = f64::from(self.range.1 - self.range.0).max(1.0);
        if train_rmse > RUNAWAY_SPREADS * spread {
            return Err(Error::Diverged {
                epoch: self.epoch,
                what: "training RMSE, over 10 times the rating spread,",
                value: train_rmse,
                learning_rate: self.params.learning_rate,
            });
        }
        Ok(train_rmse)
    }

    /// Epochs run so far.
    pub fn epochs_run(&self) -> usize {
        self.epoch
    }

    /// RMSE on `ratings` of the current factors, with predictions clipped
    /// to the training range. Ratings of users or items absent from
    /// training are left out; returns `None` when none are left.
    ///
    /// Looks up every id on each call; to score the same ratings after
    /// every epoch, map them once with [`Trainer::map_held_out`] and use
    /// [`Trainer::rmse_on_held_out`].
    pub fn rmse_on(&self, ratings: &Ratings) -> Option<f64> {
        self.rmse_on_held_out(&self.map_held_out(ratings))
    }

    /// Maps `ratings` into the user and item indices of the training data,
    /// leaving out ratings of users or items absent from training.
    pub fn map_held_out(&self, ratings: &Ratings) -> HeldOut {
        HeldOut {
            triples: known_triples(ratings, &self.users, &self.items),
            shape: (self.users.len(), self.items.len()),
        }
    }

    /// RMSE on `held_out` of the current factors, with predictions clipped
    /// to the training range; `None` when `held_out` is empty.
    ///
    /// # Panics
    ///
    /// Panics when `held_out` was mapped for training data with other
    /// user or item counts.
    pub fn rmse_on_held_out(&self, held_out: &HeldOut) -> Option<f64> {
        assert_eq!(
            held_out.shape,
            (self.users.len(), self.items.len()),
            "held-out ratings were mapped for other training data"
        );
        (!held_out.is_empty())
            .then(|| self.engine.rmse(&held_out.triples, self.range))
    }

    /// Returns the model as trained by the epochs run so far, leaving
    /// the trainer free to go on.
    pub fn snapshot(&self) -> Model {
        self.model_from(self.engine.trained())
    }

    /// Finishes training and returns the model.
    pub fn into_model(self) -> Model {
        let trained = self.engine.trained();
        self.model_from(trained)
    }

    fn model_from(&self, trained: Trained) -> Model {
        Model {
            params: self.params.clone(),
            global_mean: self.global_mean,
            rating_range: self.range,
            users: self.users.clone(),
            items: self.items.clone(),
            user_factors: trained.user_factors,
            item_factors: trained.item_factors,
            user_bias: trained.user_bias,
            item_bias: trained.item_bias,
            rated_indptr: self.rated_indptr.clone(),
            rated_items: self.rated_items.clone(),
        }
    }
}

/// Maps `validation` into the index space of `users` and `items`, dropping
/// ratings of users or items that they do not have.
fn known_triples(
    validation: &Ratings,
    users: &IdMap,
    items: &IdMap,
) -> Vec<(u32, u32, f32)> {
    validation
        .entries
        .iter()
        .filter_map(|r| {
            let user = users.get(validation.users.id(r.user))?;
            let item = items.get(validation.items.id(r.item))?;
            Some((user, item, r.value))
        })
        .collect()
}

/// Fails with a clear message, instead of aborting the process, when the
/// factor matrices of `users` and `items` rows cannot be allocated.
fn check_factor_memory(
    users: usize,
    items: usize,
    factors: usize,
) -> Result<()> {
    let floats = users
        .checked_add(items)
        .and_then(|rows| rows.checked_mul(factors));
    let mut probe: Vec<f32> = Vec::new();
    let fits = floats.is_some_and(|n| probe.try_reserve_exact(n).is_ok());
    if fits {
        return Ok(());
    }
    let bytes = (users as f64 + items as f64) * factors as f64 * 4.0;
    Err(Error::InvalidParameter {
        name: "--factors",
        value: factors.to_string(),
        reason: format!(
            "the factors of {} and {} would take {:.1} GB, more than can \
             be allocated; use fewer factors",
            crate::plural::count(users, "user"),
            crate::plural::count(items, "item"),
            bytes / 1e9
        ),
    })
}

//! Grid and random search over training settings, scored by k-fold
//! cross-validation.
//!
//! The searched settings are the factor count, epochs, learning rate,
//! regularization and regularization exponent; every other setting is
//! fixed. Each (settings, fold) pair is one task, and tasks run in
//! parallel with one training thread each (see
//! [`run_tasks`](super::parallel::run_tasks)).
//!
//! Candidates that differ only in their epoch count share one training
//! run per fold. The model after `e` epochs of a longer run is the model
//! of an `e`-epoch run, because the step size of epoch `e` and the random
//! draws before it do not depend on the total. Every result depends only
//! on the data, the settings and the seed, not on the order in which tasks
//! finish.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use super::parallel::run_tasks;
use super::ranking::{
    default_relevance_threshold, ranking_metrics, MinItemRatings,
};
use super::{rating_errors, RankingMetrics, Spread};
use crate::data::split::k_folds;
use crate::data::Ratings;
use crate::error::{Error, Result};
use crate::model::params::TrainParams;
use crate::model::train::Trainer;
use crate::model::Model;

/// Values to try for one setting.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice<T> {
    /// These values; grid search tries each, random search draws one.
    List(Vec<T>),
    /// A closed range for random search, drawn uniformly, or uniformly in
    /// the logarithm when `log` is set. Real values are rounded to 3
    /// significant digits and integers to the nearest whole number.
    Range {
        /// Lowest value.
        low: T,
        /// Highest value.
        high: T,
        /// Draw uniformly in `ln(value)`, for scales such as the
        /// learning rate.
        log: bool,
    },
}

impl<T: Copy + PartialOrd + std::fmt::Display> Choice<T> {
    fn describe(&self) -> String {
        match self {
            Choice::List(values) => values
                .iter()
                .map(T::to_string)
                .collect::<Vec<_>>()
                .join(","),
            Choice::Range { low, high, .. } => format!("{low}..{high}"),
        }
    }

    fn list(&self, name: &'static str) -> Result<&[T]> {
        match self {
            Choice::List(values) if !values.is_empty() => Ok(values),
            Choice::List(_) => {
                Err(invalid(name, "", "needs at least one value"))
            }
            Choice::Range { .. } => Err(invalid(
                name,
                self.describe(),
                "a range needs --search random; grid search takes a list \
                 such as 0.005,0.01",
            )),
        }
    }
}

fn invalid(name: &'static str, value: impl ToString, reason: &str) -> Error {
    Error::InvalidParameter {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// The settings to search over.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSpace {
    /// Length of the factor vectors.
    pub factors: Choice<usize>,
    /// Passes over the training ratings.
    pub epochs: Choice<usize>,
    /// SGD step size in the first epoch.
    pub learning_rate: Choice<f32>,
    /// L2 penalty on factors.
    pub regularization: Choice<f32>,
    /// Exponent of the factor penalty's scaling with a row's rating count.
    pub regularization_exponent: Choice<f32>,
}

/// Method of choosing candidates from the [`SearchSpace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// Every combination of the listed values.
    Grid,
    /// This many draws, each setting drawn independently; repeated draws
    /// are tried once.
    Random {
        /// Number of draws.
        trials: usize,
    },
}

/// The figure that ranks candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// RMSE, lower is better.
    Rmse,
    /// MAE, lower is better.
    Mae,
    /// Precision at N, higher is better.
    Precision,
    /// Recall at N, higher is better.
    Recall,
    /// NDCG at N, higher is better.
    Ndcg,
    /// Mean average precision at N, higher is better.
    Map,
    /// Hit rate at N, higher is better.
    HitRate,
}

impl Metric {
    /// Name as in the results table.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Rmse => "rmse",
            Metric::Mae => "mae",
            Metric::Precision => "precision",
            Metric::Recall => "recall",
            Metric::Ndcg => "ndcg",
            Metric::Map => "map",
            Metric::HitRate => "hit_rate",
        }
    }

    /// Returns whether a lower value is better.
    pub fn lower_is_better(self) -> bool {
        matches!(self, Metric::Rmse | Metric::Mae)
    }

    fn is_ranking(self) -> bool {
        !self.lower_is_better()
    }

    fn pick(self, ranking: &RankingMetrics) -> f64 {
        match self {
            Metric::Precision => ranking.precision,
            Metric::Recall => ranking.recall,
            Metric::Ndcg => ranking.ndcg,
            Metric::Map => ranking.map,
            Metric::HitRate => ranking.hit_rate,
            Metric::Rmse | Metric::Mae => unreachable!("not a ranking metric"),
        }
    }
}

/// Settings of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneSettings {
    /// Every setting outside the search space, and the seed of the folds,
    /// the random draws and training.
    pub base: TrainParams,
    /// The values to search.
    pub space: SearchSpace,
    /// Grid or random search.
    pub search: Search,
    /// Cross-validation folds, at least 2.
    pub folds: usize,
    /// The figure that ranks candidates.
    pub metric: Metric,
    /// List length for ranking metrics.
    pub n: usize,
    /// Relevance threshold for ranking metrics; `None` uses
    /// [`default_relevance_threshold`].
    pub relevance_threshold: Option<f32>,
    /// Lists behind ranking metrics leave out items with fewer training
    /// ratings than this; 1 keeps every item.
    pub min_item_ratings: u32,
    /// Tasks run at once, each with one training thread.
    pub at_once: usize,
}

/// Maximum trial count of a random search. Each trial trains a model per
/// fold, so a larger count could never finish.
pub const MAX_TRIALS: usize = 100_000;

/// The cross-validated figures of one candidate.
///
/// As JSON, each figure appears once: `rmse` and `mae`, and for a ranking
/// metric its `score` under the metric's name, such as `ndcg`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialResult {
    /// Place in the ranking, 1 for the best.
    pub rank: usize,
    /// Position in the order candidates were generated, from 0.
    pub candidate: usize,
    /// Length of the factor vectors.
    pub factors: usize,
    /// Passes over the training ratings.
    pub epochs: usize,
    /// SGD step size in the first epoch.
    pub learning_rate: f32,
    /// L2 penalty on factors.
    pub regularization: f32,
    /// Exponent of the count-scaled penalty.
    pub regularization_exponent: f32,
    /// RMSE over the folds.
    pub rmse: Spread,
    /// MAE over the folds.
    pub mae: Spread,
    /// The metric that ranks the candidates.
    pub metric: Metric,
    /// The ranking figure over the folds; equal to `rmse` or `mae` when
    /// that is the metric.
    pub score: Spread,
    /// The ranking figure of each fold, fold 1 first.
    pub fold_scores: Vec<f64>,
    /// Mean training time per fold of the run that produced this
    /// candidate, shared with candidates that differ only in epochs.
    pub train_seconds: f64,
}

impl Serialize for TrialResult {
    fn serialize<S: Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("rank", &self.rank)?;
        map.serialize_entry("candidate", &self.candidate)?;
        map.serialize_entry("factors", &self.factors)?;
        map.serialize_entry("epochs", &self.epochs)?;
        map.serialize_entry("learning_rate", &self.learning_rate)?;
        map.serialize_entry("regularization", &self.regularization)?;
        map.serialize_entry(
            "regularization_exponent",
            &self.regularization_exponent,
        )?;
        map.serialize_entry("rmse", &self.rmse)?;
        map.serialize_entry("mae", &self.mae)?;
        if self.metric.is_ranking() {
            map.serialize_entry(self.metric.name(), &self.score)?;
        }
        map.serialize_entry("fold_scores", &self.fold_scores)?;
        map.serialize_entry("train_seconds", &self.train_seconds)?;
        map.end()
    }
}

impl TrialResult {
    /// Returns the training settings of this candidate on top of `base`.
    pub fn params(&self, base: &TrainParams) -> TrainParams {
        TrainParams {
            factors: self.factors,
            epochs: self.epochs,
            learning_rate: self.learning_rate,
            regularization: self.regularization,
            regularization_exponent: self.regularization_exponent,
            ..base.clone()
        }
    }
}

/// The fold and epoch at which a training run stopped being finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Divergence {
    /// Fold, counted from 0.
    pub fold: usize,
    /// Epoch, counted from 1.
    pub epoch: usize,
    /// The quantity that became non-finite: the `what` of
    /// [`Error::Diverged`], such as `training loss`, or `test RMSE`.
    pub quantity: &'static str,
    /// The non-finite value.
    pub value: f64,
}

/// A candidate whose training diverged on at least one fold.
#[derive(Debug, Clone, PartialEq)]
pub struct DivergedTrial {
    /// Place in the ranking, after every finished candidate.
    pub rank: usize,
    /// Position in the order candidates were generated, from 0.
    pub candidate: usize,
    /// The candidate's settings.
    pub params: TrainParams,
    /// The divergence on the lowest fold whose run diverged within this
    /// candidate's epoch count.
    pub divergence: Divergence,
}

/// The outcome of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneOutcome {
    /// One row per candidate that finished on every fold, best first.
    /// Empty when every candidate diverged.
    pub results: Vec<TrialResult>,
    /// The candidates that diverged, in the order they were generated and
    /// ranked after `results`.
    pub diverged: Vec<DivergedTrial>,
    /// Fixed settings, with `blocks` resolved to a number so that the
    /// best settings train the same model on any machine.
    pub base: TrainParams,
    /// Training runs: candidate groups times folds.
    pub trainings: usize,
    /// Wall time of the whole search.
    pub seconds: f64,
}

impl TuneOutcome {
    /// Returns the settings of the best candidate.
    ///
    /// # Panics
    ///
    /// Panics when every candidate diverged, so `results` is empty.
    pub fn best(&self) -> TrainParams {
        self.results[0].params(&self.base)
    }
}

/// Lists the candidates of `settings` in a fixed order.
///
/// # Errors
///
/// Fails when a list is empty, grid search is given a range, a range is
/// reversed or not finite, random search has no trials, or a candidate
/// fails [`TrainParams::validate`].
pub fn candidates(settings: &TuneSettings) -> Result<Vec<TrainParams>> {
    let space = &settings.space;
    let base = &settings.base;
    let mut out: Vec<TrainParams> = Vec::new();
    match settings.search {
        Search::Grid => {
            let factors = space.factors.list("--factors")?;
            let epochs = space.epochs.list("--epochs")?;
            let rates = space.learning_rate.list("--learning-rate")?;
            let penalties = space.regularization.list("--regularization")?;
            let exponents = space
                .regularization_exponent
                .list("--regularization-exponent")?;
            for &factors in factors {
                for &learning_rate in rates {
                    for &regularization in penalties {
                        for &regularization_exponent in exponents {
                            for &epochs in epochs {
                                out.push(TrainParams {
                                    factors,
                                    epochs,
                                    learning_rate,
                                    regularization,
                                    regularization_exponent,
                                    ..base.clone()
                                });
                            }
                        }
                    }
                }
            }
        }
        Search::Random { trials } => {
            if trials == 0 {
                return Err(invalid("--trials", 0, "must be at least 1"));
            }
            if trials > MAX_TRIALS {
                return Err(invalid(
                    "--trials",
                    trials,
                    &format!("must be at most {MAX_TRIALS}"),
                ));
            }
            let mut rng = ChaCha8Rng::seed_from_u64(base.seed);
            for _ in 0..trials {
                let candidate = TrainParams {
                    factors: draw_count(&space.factors, "--factors", &mut rng)?,
                    epochs: draw_count(&space.epochs, "--epochs", &mut rng)?,
                    learning_rate: draw_real(
                        &space.learning_rate,
                        "--learning-rate",
                        &mut rng,
                    )?,
                    regularization: draw_real(
                        &space.regularization,
                        "--regularization",
                        &mut rng,
                    )?,
                    regularization_exponent: draw_real(
                        &space.regularization_exponent,
                        "--regularization-exponent",
                        &mut rng,
                    )?,
                    ..base.clone()
                };
                if !out.contains(&candidate) {
                    out.push(candidate);
                }
            }
        }
    }
    for candidate in &out {
        candidate.validate()?;
    }
    Ok(out)
}

fn draw_count(
    choice: &Choice<usize>,
    name: &'static str,
    rng: &mut ChaCha8Rng,
) -> Result<usize> {
    match choice {
        Choice::List(values) if !values.is_empty() => {
            Ok(values[rng.random_range(0..values.len())])
        }
        Choice::List(_) => Err(invalid(name, "", "needs at least one value")),
        &Choice::Range { low, high, log } => {
            if low > high || (log && low == 0) {
                return Err(invalid(
                    name,
                    choice.describe(),
                    "a range must run from low to high, above 0 on a log \
                     scale",
                ));
            }
            if log {
                let (ln_low, ln_high) = ((low as f64).ln(), (high as f64).ln());
                let value = rng.random_range(ln_low..=ln_high).exp().round();
                Ok((value as usize).clamp(low, high))
            } else {
                Ok(rng.random_range(low..=high))
            }
        }
    }
}

fn draw_real(
    choice: &Choice<f32>,
    name: &'static str,
    rng: &mut ChaCha8Rng,
) -> Result<f32> {
    match choice {
        Choice::List(values) if !values.is_empty() => {
            Ok(values[rng.random_range(0..values.len())])
        }
        Choice::List(_) => Err(invalid(name, "", "needs at least one value")),
        &Choice::Range { low, high, log } => {
            let ordered = low.is_finite() && high.is_finite() && low <= high;
            if !ordered || (log && low <= 0.0) {
                return Err(invalid(
                    name,
                    choice.describe(),
                    "a range must run from low to high, above 0 on a log \
                     scale",
                ));
            }
            let (low64, high64) = (f64::from(low), f64::from(high));
            let value = if log {
                rng.random_range(low64.ln()..=high64.ln()).exp()
            } else {
                rng.random_range(low64..=high64)
            };
            Ok((significant(value, 3) as f32).clamp(low, high))
        }
    }
}

/// Rounds `value` to `digits` significant digits, so that drawn settings
/// read as 0.0296 rather than 0.02959943 in tables and flags.
fn significant(value: f64, digits: i32) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(digits - 1 - value.abs().log10().floor() as i32);
    (value * scale).round() / scale
}

/// Candidates that differ only in epochs, trained once per fold.
struct Group {
    /// Indices into the candidate list, with their epoch counts.
    members: Vec<(usize, usize)>,
    /// The settings with the largest epoch count of the group.
    params: TrainParams,
}

fn group_by_settings(candidates: &[TrainParams]) -> Vec<Group> {
    let mut groups: BTreeMap<[u64; 4], Group> = BTreeMap::new();
    let mut order: Vec<[u64; 4]> = Vec::new();
    for (index, candidate) in candidates.iter().enumerate() {
        let key = [
            candidate.factors as u64,
            u64::from(candidate.learning_rate.to_bits()),
            u64::from(candidate.regularization.to_bits()),
            u64::from(candidate.regularization_exponent.to_bits()),
        ];
        let group = groups.entry(key).or_insert_with(|| {
            order.push(key);
            Group {
                members: Vec::new(),
                params: candidate.clone(),
            }
        });
        group.members.push((index, candidate.epochs));
        group.params.epochs = group.params.epochs.max(candidate.epochs);
    }
    order
        .into_iter()
        .map(|key| groups.remove(&key).expect("every key was inserted"))
        .collect()
}

/// Figures of one candidate on one fold.
#[derive(Debug, Clone, Copy)]
struct FoldFigures {
    rmse: f64,
    mae: f64,
    score: f64,
}

/// One group trained on one fold.
struct GroupRun {
    /// Figures of each member, in member order, or `None` for a member
    /// whose epoch count the run did not finish because it diverged.
    figures: Vec<Option<FoldFigures>>,
    diverged: Option<Divergence>,
    /// Training time in seconds, measurement left out.
    seconds: f64,
}

/// Runs the search on `ratings`: builds the folds, trains every candidate
/// group on every fold, and ranks the candidates by the mean of the
/// metric over the folds, ties going to the earlier candidate.
///
/// A run diverges when its training loss, a factor or its test RMSE is not
/// finite. That does not stop the search: each candidate whose epoch count
/// the diverged run did not finish goes to [`TuneOutcome::diverged`], and
/// the candidates with fewer epochs that share the run are measured as
/// usual.
///
/// `progress(finished, total)` is called after each task, from the thread
/// that ran it.
///
/// # Errors
///
/// As [`candidates`] and [`k_folds`], when training fails for a reason
/// other than divergence, and when a fold has no test user with a
/// relevant item for a ranking metric.
pub fn tune(
    ratings: &Ratings,
    settings: &TuneSettings,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<TuneOutcome> {
    let started = Instant::now();
    let mut base = settings.base.clone();
    base.validate()?;
    // The band count decides the model; fixing it keeps the results and
    // the printed flags independent of the threads used to train.
    base.blocks = base.band_count();
    let settings = TuneSettings {
        base: base.clone(),
        ..settings.clone()
    };
    let candidates = candidates(&settings)?;
    let groups = group_by_settings(&candidates);
    let splits = k_folds(ratings.len(), settings.folds, base.seed)?;
    let folds: Vec<(Ratings, Ratings)> = splits
        .iter()
        .map(|s| (ratings.subset(&s.train), ratings.subset(&s.test)))
        .collect();

    let total = groups.len() * folds.len();
    let finished = std::sync::atomic::AtomicUsize::new(0);
    let task = |index: usize| {
        let (group, fold) = (&groups[index / folds.len()], index % folds.len());
        let (train, test) = &folds[fold];
        run_group(group, train, test, fold, &settings)
    };
    let done = |_: usize, _: &Result<GroupRun>| {
        let count =
            finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress(count, total);
    };
    let runs = run_tasks(settings.at_once, 1, total, task, done)?;

    let mut per_candidate: Vec<Vec<FoldFigures>> =
        vec![Vec::new(); candidates.len()];
    let mut divergences: Vec<Option<Divergence>> = vec![None; candidates.len()];
    let mut seconds = vec![0.0f64; candidates.len()];
    // Runs come in fold order within a group, so the divergence kept for a
    // candidate is that of its lowest diverged fold.
    for (index, run) in runs.into_iter().enumerate() {
        let group = &groups[index / folds.len()];
        for (&(candidate, _), figure) in group.members.iter().zip(run.figures) {
            seconds[candidate] += run.seconds / folds.len() as f64;
            match figure {
                Some(figure) => per_candidate[candidate].push(figure),
                None => {
                    divergences[candidate] =
                        divergences[candidate].or(run.diverged);
                }
            }
        }
    }

    let mut results = Vec::new();
    let mut diverged = Vec::new();
    for (index, params) in candidates.iter().enumerate() {
        match divergences[index] {
            Some(divergence) => diverged.push(DivergedTrial {
                rank: 0,
                candidate: index,
                params: params.clone(),
                divergence,
            }),
            None => results.push(trial_result(
                index,
                params,
                &per_candidate[index],
                seconds[index],
                settings.metric,
            )),
        }
    }
    let lower = settings.metric.lower_is_better();
    results.sort_by(|a, b| {
        let order = a.score.mean.total_cmp(&b.score.mean);
        let order = if lower { order } else { order.reverse() };
        order.then(a.candidate.cmp(&b.candidate))
    });
    for (rank, result) in results.iter_mut().enumerate() {
        result.rank = rank + 1;
    }
    for (rank, trial) in diverged.iter_mut().enumerate() {
        trial.rank = results.len() + rank + 1;
    }
    Ok(TuneOutcome {
        results,
        diverged,
        base,
        trainings: total,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Summarizes the figures of a candidate that finished on every fold,
/// unranked.
fn trial_result(
    index: usize,
    params: &TrainParams,
    figures: &[FoldFigures],
    train_seconds: f64,
    metric: Metric,
) -> TrialResult {
    let values = |pick: fn(&FoldFigures) -> f64| -> Vec<f64> {
        figures.iter().map(pick).collect()
    };
    let spread = |pick| Spread::of(&values(pick)).expect("k >= 2");
    TrialResult {
        rank: 0,
        candidate: index,
        factors: params.factors,
        epochs: params.epochs,
        learning_rate: params.learning_rate,
        regularization: params.regularization,
        regularization_exponent: params.regularization_exponent,
        rmse: spread(|f| f.rmse),
        mae: spread(|f| f.mae),
        metric,
        score: spread(|f| f.score),
        fold_scores: values(|f| f.score),
        train_seconds,
    }
}

/// Trains one group on one fold and measures each member at its epoch
/// count, until the run ends or diverges.
fn run_group(
    group: &Group,
    train: &Ratings,
    test: &Ratings,
    fold: usize,
    settings: &TuneSettings,
) -> Result<GroupRun> {
    let started = Instant::now();
    let mut trainer = Trainer::new(train, &group.params)?;
    let mut run = GroupRun {
        figures: vec![None; group.members.len()],
        diverged: None,
        seconds: started.elapsed().as_secs_f64(),
    };
    for epoch in 1..=group.params.epochs {
        let epoch_started = Instant::now();
        let step = trainer.epoch();
        run.seconds += epoch_started.elapsed().as_secs_f64();
        match step {
            Ok(_) => {}
            Err(Error::Diverged {
                epoch, what, value, ..
            }) => {
                run.diverged = Some(Divergence {
                    fold,
                    epoch,
                    quantity: what,
                    value,
                });
                break;
            }
            Err(error) => return Err(error),
        }
        if !group.members.iter().any(|&(_, epochs)| epochs == epoch) {
            continue;
        }
        let figures = measure(&trainer.snapshot(), test, fold, settings)?;
        // Finite factors can still overflow in a dot product. Opposite
        // infinities then sum to a NaN prediction, which makes the RMSE NaN.
        if !figures.rmse.is_finite() {
            run.diverged = Some(Divergence {
                fold,
                epoch,
                quantity: "test RMSE",
                value: figures.rmse,
            });
            break;
        }
        for (member, &(_, epochs)) in group.members.iter().enumerate() {
            if epochs == epoch {
                run.figures[member] = Some(figures);
            }
        }
    }
    Ok(run)
}

fn measure(
    model: &Model,
    test: &Ratings,
    fold: usize,
    settings: &TuneSettings,
) -> Result<FoldFigures> {
    let errors =
        rating_errors(model, test).expect("k-fold test parts are not empty");
    let score = match settings.metric {
        Metric::Rmse => errors.rmse,
        Metric::Mae => errors.mae,
        metric => {
            let threshold = settings
                .relevance_threshold
                .unwrap_or_else(|| default_relevance_threshold(model));
            let items = MinItemRatings::new(model, settings.min_item_ratings);
            let ranking =
                ranking_metrics(model, test, settings.n, threshold, &items)
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                    "fold {} has no test user with a rating of at least \
                         {threshold}, so --metric {} cannot be measured; \
                         lower --relevance-threshold",
                    fold + 1,
                    metric.name()
                ))
                    })?;
            metric.pick(&ranking)
        }
    };
    Ok(FoldFigures {
        rmse: errors.rmse,
        mae: errors.mae,
        score,
    })
}

/// Lists the `descent train` options that reproduce `params`, every
/// training setting included so that later changes of the defaults do
/// not matter. `--threads` is left out because it does not change the model once
/// `--blocks` is fixed.
pub fn train_flags(params: &TrainParams) -> Vec<String> {
    let pairs = [
        ("--factors", params.factors.to_string()),
        ("--epochs", params.epochs.to_string()),
        ("--learning-rate", params.learning_rate.to_string()),
        ("--adagrad", params.adagrad.to_string()),
        (
            "--adagrad-initial-accumulator",
            params.adagrad_initial_accumulator.to_string(),
        ),
        (
            "--bias-learning-rate",
            params.bias_learning_rate.to_string(),
        ),
        ("--decay", params.decay.to_string()),
        ("--regularization", params.regularization.to_string()),
        (
            "--regularization-exponent",
            params.regularization_exponent.to_string(),
        ),
        (
            "--bias-regularization",
            params.bias_regularization.to_string(),
        ),
        ("--init-std", params.init_std.to_string()),
        ("--seed", params.seed.to_string()),
        ("--blocks", params.blocks.to_string()),
    ];
    pairs
        .into_iter()
        .flat_map(|(name, value)| [name.to_string(), value])
        .collect()
}

/// Renders the results table as CSV: one row per candidate, best first,
/// with the mean and standard deviation of RMSE, MAE and the metric, and the
/// metric on each fold. Diverged candidates follow with empty figures.
/// Every row ends in `diverged`, `diverged_fold` (from 1) and
/// `diverged_epoch`. The fold columns are counted from the best finished
/// candidate, so there are none when every candidate diverged.
pub fn results_csv(outcome: &TuneOutcome, metric: Metric) -> Vec<u8> {
    let folds = outcome.results.first().map_or(0, |r| r.fold_scores.len());
    let mut header: Vec<String> = [
        "rank",
        "factors",
        "epochs",
        "learning_rate",
        "regularization",
        "regularization_exponent",
        "rmse_mean",
        "rmse_std",
        "mae_mean",
        "mae_std",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if metric.is_ranking() {
        header.push(format!("{}_mean", metric.name()));
        header.push(format!("{}_std", metric.name()));
    }
    for fold in 1..=folds {
        header.push(format!("fold_{fold}_{}", metric.name()));
    }
    header.push("train_seconds".into());
    // Columns after the rank and the five searched settings.
    let figure_columns = header.len() - 6;
    header.extend(
        ["diverged", "diverged_fold", "diverged_epoch"].map(String::from),
    );

    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(&header)
        .expect("writing to memory cannot fail");
    for result in &outcome.results {
        let mut row = vec![
            result.rank.to_string(),
            result.factors.to_string(),
            result.epochs.to_string(),
            result.learning_rate.to_string(),
            result.regularization.to_string(),
            result.regularization_exponent.to_string(),
            result.rmse.mean.to_string(),
            result.rmse.std.to_string(),
            result.mae.mean.to_string(),
            result.mae.std.to_string(),
        ];
        if metric.is_ranking() {
            row.push(result.score.mean.to_string());
            row.push(result.score.std.to_string());
        }
        row.extend(result.fold_scores.iter().map(f64::to_string));
        row.push(format!("{:.3}", result.train_seconds));
        row.extend(["false", "", ""].map(String::from));
        writer
            .write_record(&row)
            .expect("writing to memory cannot fail");
    }
    for trial in &outcome.diverged {
        let params = &trial.params;
        let mut row = vec![
            trial.rank.to_string(),
            params.factors.to_string(),
            params.epochs.to_string(),
            params.learning_rate.to_string(),
            params.regularization.to_string(),
            params.regularization_exponent.to_string(),
        ];
        row.extend(std::iter::repeat_n(String::new(), figure_columns));
        row.push("true".into());
        row.push((trial.divergence.fold + 1).to_string());
        row.push(trial.divergence.epoch.to_string());
        writer
            .write_record(&row)
            .expect("writing to memory cannot fail");
    }
    writer.into_inner().expect("writing to memory cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(search: Search, space: SearchSpace) -> TuneSettings {
        TuneSettings {
            base: TrainParams::default(),
            space,
            search,
            folds: 3,
            metric: Metric::Rmse,
            n: 10,
            relevance_threshold: None,
            min_item_ratings: 1,
            at_once: 1,
        }
    }

    fn grid_space() -> SearchSpace {
        SearchSpace {
            factors: Choice::List(vec![8, 16]),
            epochs: Choice::List(vec![5, 10]),
            learning_rate: Choice::List(vec![0.01]),
            regularization: Choice::List(vec![0.05, 0.1]),
            regularization_exponent: Choice::List(vec![0.75]),
        }
    }

    #[test]
    fn grid_lists_every_combination() {
        let all = candidates(&settings(Search::Grid, grid_space())).unwrap();
        assert_eq!(all.len(), 8);
        // Epochs vary fastest, so neighbours share a training run.
        assert_eq!((all[0].factors, all[0].epochs), (8, 5));
        assert_eq!((all[1].factors, all[1].epochs), (8, 10));
        assert_eq!(all[2].regularization, 0.1);
        let groups = group_by_settings(&all);
        assert_eq!(groups.len(), 4);
        assert_eq!(groups[0].members, vec![(0, 5), (1, 10)]);
        assert_eq!(groups[0].params.epochs, 10);
    }

    #[test]
    fn grid_rejects_ranges() {
        let mut space = grid_space();
        space.learning_rate = Choice::Range {
            low: 0.001,
            high: 0.1,
            log: true,
        };
        let error = candidates(&settings(Search::Grid, space)).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("invalid --learning-rate 0.001..0.1"),
            "{message}"
        );
        assert!(message.contains("--search random"), "{message}");
    }

    #[test]
    fn random_draws_stay_in_range_and_repeat() {
        let space = SearchSpace {
            factors: Choice::Range {
                low: 4,
                high: 64,
                log: true,
            },
            epochs: Choice::Range {
                low: 5,
                high: 30,
                log: false,
            },
            learning_rate: Choice::Range {
                low: 0.001,
                high: 0.05,
                log: true,
            },
            regularization: Choice::List(vec![0.02, 0.1]),
            regularization_exponent: Choice::Range {
                low: 0.0,
                high: 1.0,
                log: false,
            },
        };
        let settings = settings(Search::Random { trials: 50 }, space);
        let first = candidates(&settings).unwrap();
        assert_eq!(first, candidates(&settings).unwrap());
        assert_eq!(first.len(), 50);
        for c in &first {
            assert!((4..=64).contains(&c.factors), "{}", c.factors);
            assert!((5..=30).contains(&c.epochs), "{}", c.epochs);
            assert!((0.001..=0.05).contains(&c.learning_rate));
            assert!([0.02, 0.1].contains(&c.regularization));
            assert!((0.0..=1.0).contains(&c.regularization_exponent));
        }
    }

    #[test]
    fn significant_digits_by_hand() {
        assert_eq!(significant(0.02959943, 3), 0.0296);
        assert_eq!(significant(123.456, 3), 123.0);
        assert_eq!(significant(0.7371561, 3), 0.737);
        assert_eq!(significant(0.0, 3), 0.0);
    }

    #[test]
    fn flags_name_every_setting() {
        let flags = train_flags(&TrainParams {
            blocks: 8,
            ..TrainParams::default()
        });
        let text = flags.join(" ");
        assert!(text.starts_with("--factors 128 --epochs 60"), "{text}");
        assert!(text.contains("--learning-rate 0.0175"), "{text}");
        assert!(text.contains("--adagrad true"), "{text}");
        assert!(
            text.contains("--adagrad-initial-accumulator 0.01"),
            "{text}"
        );
        assert!(text.ends_with("--seed 42 --blocks 8"), "{text}");
    }
}

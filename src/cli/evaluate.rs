//! `descent evaluate`: train on one part of the data, measure on the rest,
//! and print the figures next to the baselines.

use std::path::Path;

use descent::data::split::{
    k_folds, temporal_split, user_split, HoldoutOrder, HoldoutSize, Split,
    TemporalCutoff, UserHoldout,
};
use descent::eval::baseline::{ITEM_DAMPING, USER_DAMPING};
use descent::eval::curve::{
    check_plot_path, write_curve, write_plot, BestEpoch, CurveFormat,
};
use descent::eval::early_stop::{
    train_tracked, EarlyStop, EpochPoint, Tracked,
};
use descent::eval::parallel::{
    available_memory, pool, run_tasks, tasks_at_once,
};
use descent::eval::report::{
    measure, train_and_measure, EvalSettings, SplitReport,
};
use descent::eval::{RankingMetrics, Spread};
use serde_json::{Map, Value};

use super::values::{whole, Fraction, Real, MAX_COUNT};
use super::*;

/// Maximum --folds of `evaluate` and `tune`. Each fold trains a model, and
/// with 100 folds each test part is already 1% of the ratings.
pub(super) const MAX_FOLDS: u64 = 100;

/// Maximum --holdout and --min-train-ratings, counts of one user's
/// ratings.
const MAX_PER_USER: u64 = 1_000_000;

/// Rule for splitting `--ratings` into training and test parts.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SplitArg {
    /// Rows drawn at random, --test-fraction of them for testing.
    Random,
    /// Part of each user's ratings drawn at random: --test-fraction of
    /// them, or --holdout of them.
    User,
    /// Each user's latest ratings by timestamp: --test-fraction of them,
    /// or the last --holdout.
    UserLast,
    /// The latest --test-fraction of all ratings by timestamp, or those
    /// at or after --cutoff.
    Temporal,
}

impl SplitArg {
    fn name(self) -> &'static str {
        match self {
            SplitArg::Random => "random",
            SplitArg::User => "user",
            SplitArg::UserLast => "user-last",
            SplitArg::Temporal => "temporal",
        }
    }

    fn needs_timestamps(self) -> bool {
        matches!(self, SplitArg::UserLast | SplitArg::Temporal)
    }
}

/// Options of the top-N lists that ranking metrics score, shared by
/// `evaluate` and `tune`.
#[derive(Args, Debug)]
pub(super) struct ListArgs {
    /// Leave items with fewer than this many training ratings out of the
    /// top-N lists of the model and of the popularity baseline, as
    /// `recommend --min-item-ratings` does, 1 to 4294967295. RMSE and MAE
    /// are unchanged. The default, 1, lists every item.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = whole(1, u64::from(u32::MAX))
    )]
    min_item_ratings: usize,
}

impl ListArgs {
    /// Returns --min-item-ratings, which its parser keeps within `u32`.
    pub(super) fn min_item_ratings(&self) -> u32 {
        self.min_item_ratings as u32
    }
}

/// Early stopping options, shared by `train` and `evaluate`.
#[derive(Args, Debug)]
pub(super) struct EarlyStopArgs {
    /// Hold out --validation-fraction of the training ratings, stop once
    /// validation RMSE has not improved for --patience epochs, then train
    /// the best epoch count again on all the training ratings. --epochs
    /// is the limit. Test ratings never take part.
    #[arg(long)]
    early_stop: bool,
    /// Share of the training ratings held out for validation by
    /// --early-stop, drawn at random from --seed; above 0 and below 1.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 0.1,
        value_parser = Fraction
    )]
    validation_fraction: f64,
    /// Epochs in a row without a lower validation RMSE after which
    /// --early-stop stops training, 1 to 10000.
    #[arg(
        long,
        default_value_t = 3,
        value_parser = whole(1, TrainParams::MAX_EPOCHS as u64)
    )]
    patience: usize,
}

impl EarlyStopArgs {
    /// Returns the settings when --early-stop is given, or `None`.
    pub(super) fn settings(&self) -> Result<Option<EarlyStop>> {
        if !self.early_stop {
            return Ok(None);
        }
        // The value parsers have checked the ranges.
        Ok(Some(EarlyStop {
            validation_fraction: self.validation_fraction,
            patience: self.patience,
        }))
    }
}

/// Learning curve outputs, shared by `train` and `evaluate`.
#[derive(Args, Debug)]
pub(super) struct CurveArgs {
    /// Write RMSE after every epoch (training, and validation with
    /// --early-stop, and test for evaluate) to this file: CSV or JSON by
    /// its extension.
    #[arg(long)]
    curve: Option<PathBuf>,
    /// Draw the same RMSE curves as an SVG plot into this file.
    #[arg(long)]
    plot: Option<PathBuf>,
}

impl CurveArgs {
    pub(super) fn requested(&self) -> bool {
        self.curve.is_some() || self.plot.is_some()
    }

    /// Returns the output files given, each with its option's name.
    pub(super) fn named_paths(&self) -> Vec<(&'static str, &Path)> {
        let curve = self.curve.as_deref().map(|path| ("--curve", path));
        let plot = self.plot.as_deref().map(|path| ("--plot", path));
        curve.into_iter().chain(plot).collect()
    }

    /// Checks the file names before any work, so that a mistake is
    /// reported before training rather than after it.
    pub(super) fn check(&self, replace: bool) -> Result<()> {
        if let Some(path) = &self.curve {
            CurveFormat::from_path(path)?;
            check_new_file(path, replace)?;
        }
        if let Some(path) = &self.plot {
            check_plot_path(path)?;
            check_new_file(path, replace)?;
        }
        Ok(())
    }

    pub(super) fn write(
        &self,
        points: &[EpochPoint],
        best: &[BestEpoch],
        title: &str,
        replace: bool,
    ) -> Result<()> {
        if let Some(path) = &self.curve {
            write_curve(path, points, best, replace)?;
        }
        if let Some(path) = &self.plot {
            write_plot(path, points, best, title, replace)?;
        }
        Ok(())
    }
}

/// Fails when `path` exists and may not be replaced, or its folder is
/// missing.
pub(super) fn check_new_file(path: &Path, replace: bool) -> Result<()> {
    check_output_folder(path)?;
    if !replace && path.exists() {
        return Err(Error::AlreadyExists {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
#[command(group(clap::ArgGroup::new("source").required(true)
    .args(["ratings", "train", "model"])))]
pub(super) struct EvaluateCommand {
    /// Training ratings; evaluated on --test.
    #[arg(long, requires = "test")]
    train: Option<PathBuf>,
    /// Test ratings, for --train or --model.
    #[arg(long)]
    test: Option<PathBuf>,
    /// A saved model to evaluate on --test instead of training one.
    #[arg(
        long,
        requires = "test",
        conflicts_with_all = ["early_stop", "curve", "plot"]
    )]
    model: Option<PathBuf>,
    /// All ratings, in one or more files read as one set, split into
    /// training and test parts by --split or cut into --folds. With the
    /// default random split each row is drawn alone, so users and items
    /// whose rows all land in the test part are cold there. Of a (user,
    /// item) pair repeated across files, the row of the last file is kept.
    #[arg(
        long,
        num_args = 1..,
        conflicts_with_all = ["train", "test", "model"]
    )]
    ratings: Vec<PathBuf>,
    /// Rule for splitting --ratings into training and test parts.
    #[arg(
        long,
        value_enum,
        default_value = "random",
        conflicts_with_all = ["train", "model"]
    )]
    split: SplitArg,
    /// Share of the ratings of --ratings held out for testing: of all
    /// rows for --split random and temporal (the latest rows), of each
    /// user's rows for user and user-last; above 0 and below 1.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = 0.2,
        value_parser = Fraction
    )]
    test_fraction: f64,
    /// Ratings of each user held out for --split user or user-last, in
    /// place of --test-fraction; 1 to 1000000.
    #[arg(
        long,
        conflicts_with = "test_fraction",
        value_parser = whole(1, MAX_PER_USER)
    )]
    holdout: Option<usize>,
    /// Ratings a user must keep in training under --split user or
    /// user-last, 0 to 1000000. A user who would keep fewer keeps all
    /// ratings in training and has none in the test part.
    #[arg(long, default_value_t = 1, value_parser = whole(0, MAX_PER_USER))]
    min_train_ratings: usize,
    /// For --split temporal: ratings at or after this time, in seconds
    /// since the Unix epoch, are the test part, in place of
    /// --test-fraction.
    #[arg(long, allow_hyphen_values = true, conflicts_with = "test_fraction")]
    cutoff: Option<i64>,
    /// Cross-validate: cut --ratings into this many random folds of rows
    /// (seeded by --seed), train once per fold on the other folds, and
    /// report each fold, the mean and the standard deviation; 2 to 100.
    #[arg(
        long,
        conflicts_with_all = [
            "train", "model", "split", "test_fraction", "holdout", "cutoff"
        ],
        value_parser = whole(2, MAX_FOLDS)
    )]
    folds: Option<usize>,
    /// Folds trained at once, 0 to 1024, each on one thread; 1 trains them
    /// one after another on --threads threads; 0 trains one fold per core
    /// at once while the memory estimate fits in half the available
    /// memory.
    #[arg(
        long,
        default_value_t = 0,
        value_parser = whole(0, MAX_THREADS as u64)
    )]
    parallel_folds: usize,
    /// Length of the top-N lists behind precision, recall, NDCG, MAP, hit
    /// rate and coverage, 1 to 100000.
    #[arg(
        short = 'n',
        long = "count",
        default_value_t = 10,
        value_parser = whole(1, MAX_COUNT as u64)
    )]
    n: usize,
    /// A test rating at or above this value, a finite number, marks a
    /// relevant item [default: three quarters of the way up the training
    /// rating range, 4 on a 1..5 scale].
    #[arg(long, allow_hyphen_values = true, value_parser = Real)]
    relevance_threshold: Option<f32>,
    #[command(flatten)]
    lists: ListArgs,
    /// Print exactly one JSON object.
    #[arg(long)]
    json: bool,
    /// Replace existing --curve and --plot files.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    early_stop: EarlyStopArgs,
    #[command(flatten)]
    curve: CurveArgs,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    training: TrainingArgs,
}

/// Fails unless --relevance-threshold, when given, is a finite number.
pub(super) fn check_threshold(threshold: Option<f32>) -> Result<()> {
    match threshold {
        Some(value) if !value.is_finite() => Err(Error::InvalidParameter {
            name: "--relevance-threshold",
            value: value.to_string(),
            reason: "must be a finite number".into(),
        }),
        _ => Ok(()),
    }
}

impl EvaluateCommand {
    fn settings(&self) -> Result<EvalSettings> {
        check_threshold(self.relevance_threshold)?;
        Ok(EvalSettings {
            n: self.n,
            relevance_threshold: self.relevance_threshold,
            min_item_ratings: self.lists.min_item_ratings(),
            early_stop: self.early_stop.settings()?,
            // Test RMSE after every epoch costs a pass over the test
            // ratings, so it is measured only where it is shown: in the
            // per-epoch lines of a single split and in curve files.
            track_test: self.curve.requested()
                || (self.folds.is_none() && !self.training.quiet),
        })
    }

    /// Rejects options that do not apply to the chosen split.
    fn check_split_options(&self) -> Result<()> {
        let per_user =
            matches!(self.split, SplitArg::User | SplitArg::UserLast);
        if let Some(holdout) = self.holdout {
            if !per_user {
                return Err(Error::InvalidParameter {
                    name: "--holdout",
                    value: holdout.to_string(),
                    reason: format!(
                        "applies to --split user or user-last, not {}",
                        self.split.name()
                    ),
                });
            }
        }
        if let Some(cutoff) = self.cutoff {
            if self.split != SplitArg::Temporal {
                return Err(Error::InvalidParameter {
                    name: "--cutoff",
                    value: cutoff.to_string(),
                    reason: format!(
                        "applies to --split temporal, not {}",
                        self.split.name()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Splits `all` by --split and returns the split with its description.
    fn split(&self, all: &Ratings, seed: u64) -> Result<(Split, Value)> {
        let mut info = Map::new();
        info.insert("method".into(), self.split.name().into());
        let split = match self.split {
            SplitArg::Random => {
                info.insert("test_fraction".into(), self.test_fraction.into());
                info.insert("seed".into(), seed.into());
                random_split(all.len(), self.test_fraction, seed)?
            }
            SplitArg::User | SplitArg::UserLast => {
                let size = match self.holdout {
                    Some(count) => {
                        info.insert("holdout".into(), count.into());
                        HoldoutSize::Count(count)
                    }
                    None => {
                        let fraction = self.test_fraction;
                        info.insert("test_fraction".into(), fraction.into());
                        HoldoutSize::Fraction(fraction)
                    }
                };
                let order = if self.split == SplitArg::User {
                    info.insert("seed".into(), seed.into());
                    HoldoutOrder::Random
                } else {
                    HoldoutOrder::Latest
                };
                info.insert(
                    "min_train_ratings".into(),
                    self.min_train_ratings.into(),
                );
                let holdout = UserHoldout {
                    size,
                    order,
                    min_train: self.min_train_ratings,
                };
                user_split(all, &holdout, seed)?
            }
            SplitArg::Temporal => {
                let cutoff = match self.cutoff {
                    Some(time) => {
                        info.insert("cutoff".into(), time.into());
                        TemporalCutoff::Time(time)
                    }
                    None => {
                        let fraction = self.test_fraction;
                        info.insert("test_fraction".into(), fraction.into());
                        TemporalCutoff::Fraction(fraction)
                    }
                };
                temporal_split(all, cutoff)?
            }
        };
        Ok((split, Value::Object(info)))
    }
}

/// Reads every file of `paths` and joins them into one rating set. Of a
/// pair repeated across files, the row of the later file is kept. Files
/// without timestamps make the set have none.
pub(super) fn load_many(
    paths: &[PathBuf],
    input: &InputArgs,
    show: bool,
) -> Result<(Ratings, Vec<(PathBuf, bool)>)> {
    let mut parts = Vec::with_capacity(paths.len());
    for path in paths {
        let (ratings, report) = load(path, input)?;
        if show {
            eprintln!("{}", describe_load(&ratings, &report));
        }
        parts.push(ratings);
    }
    let timestamped: Vec<(PathBuf, bool)> = paths
        .iter()
        .zip(&parts)
        .map(|(path, part)| (path.clone(), !part.timestamps.is_empty()))
        .collect();
    if parts.len() == 1 {
        return Ok((parts.pop().expect("one part"), timestamped));
    }
    let keep_times = timestamped.iter().all(|(_, has)| *has);
    let mut all = Ratings::default();
    for part in &parts {
        for rating in &part.entries {
            let user = all.users.intern(part.users.id(rating.user));
            let item = all.items.intern(part.items.id(rating.item));
            all.entries.push(descent::data::Rating {
                user,
                item,
                value: rating.value,
            });
        }
        if keep_times {
            all.timestamps.extend_from_slice(&part.timestamps);
        }
    }
    let repeated = all.remove_duplicates();
    if repeated > 0 {
        eprintln!(
            "warning: {} {} a (user, item) pair of an earlier file, and \
             the row of the later file was kept",
            count(repeated, "row"),
            form(repeated, "repeats", "repeat")
        );
    }
    if show {
        eprintln!(
            "joined {}: {}, {}, {}",
            count(paths.len(), "file"),
            count(all.len(), "rating"),
            count(all.users.len(), "user"),
            count(all.items.len(), "item")
        );
    }
    Ok((all, timestamped))
}

/// Fails, naming the file, when the split needs timestamps that a file
/// does not have.
fn check_timestamps(split: SplitArg, files: &[(PathBuf, bool)]) -> Result<()> {
    if !split.needs_timestamps() {
        return Ok(());
    }
    match files.iter().find(|(_, has)| !has) {
        Some((path, _)) => Err(Error::InvalidParameter {
            name: "--split",
            value: split.name().into(),
            reason: format!(
                "{} has no timestamps; this split needs a fourth column of \
                 Unix seconds (user, item, rating, timestamp)",
                path.display()
            ),
        }),
        None => Ok(()),
    }
}

pub(super) fn run(command: EvaluateCommand) -> Result<()> {
    let params = command.training.params();
    params.validate()?;
    command.training.warn_extra_threads();
    let settings = command.settings()?;
    command.check_split_options()?;
    command.curve.check(command.force)?;
    let inputs: Vec<(&str, &Path)> = command
        .ratings
        .iter()
        .map(|path| ("--ratings", path.as_path()))
        .chain(command.train.as_deref().map(|path| ("--train", path)))
        .chain(command.test.as_deref().map(|path| ("--test", path)))
        .chain(command.model.as_deref().map(|path| ("--model", path)))
        .collect();
    check_distinct_files(&inputs, &command.curve.named_paths())?;

    if let Some(path) = &command.model {
        return evaluate_saved(&command, path, &settings);
    }
    if let Some(folds) = command.folds {
        return cross_validate(&command, folds, &params, &settings);
    }

    let (train, test, split_info) = if command.ratings.is_empty() {
        let train_path = command.train.as_ref().expect("clap: a source");
        let test_path = command.test.as_ref().expect("clap requires --test");
        let train = load(train_path, &command.input)?.0;
        let test = load(test_path, &command.input)?.0;
        let info = serde_json::json!({
            "method": "files",
            "train": train_path,
            "test": test_path,
        });
        (train, test, info)
    } else {
        let (all, files) =
            load_many(&command.ratings, &command.input, !command.json)?;
        check_timestamps(command.split, &files)?;
        let (split, info) = command.split(&all, params.seed)?;
        (all.subset(&split.train), all.subset(&split.test), info)
    };

    let lines = EpochLines::new(params.epochs, command.training.quiet);
    let result = pool(params.thread_count())?.install(|| {
        train_and_measure(&train, &test, &params, &settings, &mut |point| {
            lines.report(point)
        })
    });
    lines.finish();
    let (model, report) = result?;
    // Only separate files can share pairs: a split puts each row on one side.
    let seen = command
        .ratings
        .is_empty()
        .then(|| seen_in_training(&model, &test));
    if let Some(seen @ 1..) = seen {
        warn_seen(seen, test.len(), "the training file holds");
    }
    if let Some(test_path) = &command.test {
        warn_outside_range(&model, &test, test_path);
    }

    let best: Vec<BestEpoch> = report
        .early_stop
        .iter()
        .map(|stop| BestEpoch {
            fold: None,
            epoch: stop.best_epoch,
        })
        .collect();
    command.curve.write(
        &report.curve,
        &best,
        "RMSE per epoch",
        command.force,
    )?;

    if command.json {
        let mut object = report_json(&report);
        object.insert("users".into(), model.users.len().into());
        object.insert("items".into(), model.items.len().into());
        object.insert("cold_scoring".into(), COLD_SCORING.into());
        if let Some(seen) = seen {
            object.insert("test_ratings_seen_in_training".into(), seen.into());
        }
        object.insert("split".into(), split_info);
        object.insert("params".into(), to_json(&model.params));
        return emit_json(&Value::Object(object));
    }
    let mut text = sizes_line(&report, &model);
    text.push_str(&describe_split(&split_info));
    text.push_str(&report_text(&report));
    emit(&text)
}

/// Formats the first line of a report: the sizes of the training and test
/// parts.
fn sizes_line(report: &SplitReport, model: &Model) -> String {
    format!(
        "train: {} ({}, {}); test: {}\n",
        count(report.train_ratings, "rating"),
        count(model.users.len(), "user"),
        count(model.items.len(), "item"),
        count(report.errors.test_ratings, "rating")
    )
}

const COLD_SCORING: &str = "global mean plus the bias of the known id, or \
                            the global mean when both are unknown";

/// Evaluates a saved model on --test: no training, and no bias baseline
/// because the training ratings are not at hand.
fn evaluate_saved(
    command: &EvaluateCommand,
    path: &Path,
    settings: &EvalSettings,
) -> Result<()> {
    let test_path = command.test.as_ref().expect("clap requires --test");
    let test = load(test_path, &command.input)?.0;
    let model = persist::load(path)?;
    let seen = seen_in_training(&model, &test);
    if seen > 0 {
        warn_seen(seen, test.len(), "the model was trained on");
    }
    warn_outside_range(&model, &test, test_path);
    let report = measure(&model, None, &test, settings)?;
    if command.json {
        let mut object = report_json(&report);
        object.insert("test_ratings_seen_in_training".into(), seen.into());
        object.insert("cold_scoring".into(), COLD_SCORING.into());
        object.insert(
            "split".into(),
            json!({"method": "model", "model": path, "test": test_path}),
        );
        object.insert("params".into(), to_json(&model.params));
        return emit_json(&Value::Object(object));
    }
    let mut text = sizes_line(&report, &model);
    text.push_str(&report_text(&report));
    emit(&text)
}

/// Warns when test ratings fall outside the model's training range, as
/// when the test file uses another scale: predictions stay within the
/// range, so such ratings inflate every error.
fn warn_outside_range(model: &Model, test: &Ratings, path: &Path) {
    let (low, high) = model.rating_range;
    let outside = test
        .entries
        .iter()
        .filter(|rating| rating.value < low || rating.value > high)
        .count();
    if outside == 0 {
        return;
    }
    let (test_low, test_high) = test.entries.iter().fold(
        (f32::INFINITY, f32::NEG_INFINITY),
        |(lowest, highest), rating| {
            (lowest.min(rating.value), highest.max(rating.value))
        },
    );
    eprintln!(
        "warning: {outside} of {} test ratings in {} are outside the \
         training rating range {low} to {high} (the test ratings run from \
         {test_low} to {test_high}); predictions stay within the range, so \
         check that both files use the same scale",
        test.len(),
        path.display()
    );
}

/// Warns that `seen` of `total` test ratings are pairs that `source` (for
/// example "the model was trained on").
fn warn_seen(seen: usize, total: usize, source: &str) {
    eprintln!(
        "warning: {seen} of {total} test ratings are (user, item) pairs \
         {source}, so the errors understate those on unseen data, and \
         ranking metrics skip those items as already rated"
    );
}

/// Counts the ratings of `test` whose (user, item) pair is among the
/// model's training ratings.
fn seen_in_training(model: &Model, test: &Ratings) -> usize {
    test.entries
        .iter()
        .filter(|rating| {
            let user = test.users.id(rating.user);
            model.rated_in_training(user, test.items.id(rating.item))
        })
        .count()
}

/// Builds the JSON keys of one split's report.
fn report_json(report: &SplitReport) -> Map<String, Value> {
    let errors = &report.errors;
    let mut object = Map::new();
    object.insert("rmse".into(), errors.rmse.into());
    object.insert("mae".into(), errors.mae.into());
    object.insert("warm_rmse".into(), errors.warm_rmse.into());
    object.insert("test_ratings".into(), errors.test_ratings.into());
    object.insert("train_ratings".into(), report.train_ratings.into());
    object.insert("cold_ratings".into(), errors.cold.total().into());
    object.insert("cold".into(), to_json(&errors.cold));
    object.insert("train_seconds".into(), report.train_seconds.into());
    object.insert("ranking".into(), to_json(&report.ranking));
    object.insert("baselines".into(), to_json(&report.baselines));
    object.insert("early_stop".into(), to_json(&report.early_stop));
    object
}

fn describe_split(info: &Value) -> String {
    let number = |key: &str| info.get(key).map(Value::to_string);
    let text = match info["method"].as_str().unwrap_or_default() {
        "files" => return String::new(),
        "random" => format!(
            "split: random, {} of the rows held out, seed {}",
            number("test_fraction").unwrap_or_default(),
            number("seed").unwrap_or_default()
        ),
        method @ ("user" | "user-last") => {
            let picked = if method == "user" {
                "drawn at random"
            } else {
                "latest by timestamp"
            };
            let size = match number("holdout") {
                Some(k) => {
                    format!(
                        "{k} {}",
                        if k == "1" { "rating" } else { "ratings" }
                    )
                }
                None => format!(
                    "{} of the ratings",
                    number("test_fraction").unwrap_or_default()
                ),
            };
            format!(
                "split: per user, {size} of each user held out ({picked}); \
                 users with fewer than that plus {} keep all in training",
                number("min_train_ratings").unwrap_or_default()
            )
        }
        "temporal" => match number("cutoff") {
            Some(time) => {
                format!("split: temporal, ratings at or after {time} held out")
            }
            None => format!(
                "split: temporal, the latest {} of the ratings held out",
                number("test_fraction").unwrap_or_default()
            ),
        },
        _ => return String::new(),
    };
    text + "\n"
}

/// Formats one split's report: cold rows, RMSE and MAE next to the
/// baselines, top-N figures next to popularity, early stopping, time.
fn report_text(report: &SplitReport) -> String {
    let errors = &report.errors;
    let cold = errors.cold;
    let mut text = format!(
        "cold test ratings: {} ({} of unknown users, {} of unknown items, {} \
         of both), scored with the global mean plus the known bias\n",
        cold.total(),
        cold.unknown_user,
        cold.unknown_item,
        cold.unknown_both
    );

    text.push_str(&format!(
        "{:<14} RMSE {:.4}  MAE {:.4}",
        "model", errors.rmse, errors.mae
    ));
    if let (Some(warm), true) = (errors.warm_rmse, cold.total() > 0) {
        text.push_str(&format!("  (RMSE without cold ratings {warm:.4})"));
    }
    text.push('\n');

    let baselines = &report.baselines;
    match &baselines.bias {
        Some(bias) => text.push_str(&format!(
            "{:<14} RMSE {:.4}  MAE {:.4}  (global mean plus user and item \
             biases damped by {} and {})\n",
            "bias baseline", bias.rmse, bias.mae, USER_DAMPING, ITEM_DAMPING
        )),
        None => text.push_str(
            "bias baseline  not measured: it needs the training ratings, \
             which a saved model does not keep\n",
        ),
    }
    text.push_str(&format!(
        "{:<14} RMSE {:.4}  MAE {:.4}\n",
        "global mean", baselines.global_mean.rmse, baselines.global_mean.mae
    ));

    if let Some(ranking) = &report.ranking {
        let rare = if ranking.min_item_ratings > 1 {
            format!(
                " and items with fewer than {} training ratings",
                ranking.min_item_ratings
            )
        } else {
            String::new()
        };
        text.push_str(&format!(
            "top-{} over {} (relevant: test rating >= {}; lists leave out \
             training items{rare})\n",
            ranking.n,
            count(ranking.users, "user"),
            ranking.relevance_threshold
        ));
        text.push_str(&ranking_line("model", ranking));
        if let Some(popularity) = &baselines.popularity {
            text.push_str(&ranking_line("popularity", popularity));
        }
        if ranking.min_item_ratings > 1 && ranking.covered_items == 0 {
            eprintln!(
                "warning: no list contains an item with \
                 --min-item-ratings {}; check that some items have that \
                 many training ratings",
                ranking.min_item_ratings
            );
        }
    } else {
        text.push_str(
            "top-N not measured: no test user has a rating at or above the \
             relevance threshold (see --relevance-threshold)\n",
        );
    }

    if let Some(stop) = &report.early_stop {
        text.push_str(&format!(
            "early stopping: best epoch {} of {} run (limit {}), \
             validation RMSE {:.4} on {} held out of {}; the measured \
             model then trained for {} on all of them\n",
            stop.best_epoch,
            stop.epochs_run,
            stop.max_epochs,
            stop.best_validation_rmse,
            count(stop.validation_ratings, "rating"),
            count(
                stop.fit_ratings + stop.validation_ratings,
                "training rating"
            ),
            count(stop.best_epoch, "epoch")
        ));
    }

    if let Some(seconds) = report.train_seconds {
        text.push_str(&format!("trained in {seconds:.2} s\n"));
    }
    text
}

fn ranking_line(label: &str, ranking: &RankingMetrics) -> String {
    format!(
        "{label:<14} precision {:.4}  recall {:.4}  NDCG {:.4}  MAP {:.4}  \
         hit rate {:.4}  coverage {:.4}\n",
        ranking.precision,
        ranking.recall,
        ranking.ndcg,
        ranking.map,
        ranking.hit_rate,
        ranking.coverage
    )
}

/// Estimates the bytes one fold needs while it trains. That is about 64
/// bytes per rating for the fold's copies of the ratings, the blocked
/// training matrix and the test part. Three copies of the factors come on
/// top: the engine's, a snapshot and the model.
///
/// NOTE: an estimate from the sizes of the data structures, not a
/// measurement of peak memory.
fn fold_bytes(
    ratings: usize,
    users: usize,
    items: usize,
    factors: usize,
) -> u64 {
    let factor_bytes = (users + items) as u64 * factors as u64 * 4 * 3;
    ratings as u64 * 64 + factor_bytes
}

fn cross_validate(
    command: &EvaluateCommand,
    folds: usize,
    params: &TrainParams,
    settings: &EvalSettings,
) -> Result<()> {
    let started = Instant::now();
    let (all, _) = load_many(&command.ratings, &command.input, !command.json)?;
    let splits = k_folds(all.len(), folds, params.seed)?;
    // The band count decides the model. Fixing it to what `--threads`
    // gives keeps each fold's model the same however many folds run at
    // once.
    let params = TrainParams {
        blocks: params.band_count(),
        ..params.clone()
    };
    let cores = params.thread_count();
    let at_once = match command.parallel_folds {
        0 => tasks_at_once(
            folds,
            cores,
            fold_bytes(
                all.len(),
                all.users.len(),
                all.items.len(),
                params.factors,
            ),
            available_memory(),
        ),
        requested => requested.min(folds),
    };
    let quiet = command.training.quiet || command.json;
    if !quiet {
        eprintln!(
            "{folds}-fold cross-validation of {}: {} at a time, {}",
            count(all.len(), "rating"),
            at_once,
            if at_once > 1 {
                "one thread each".to_string()
            } else {
                format!("{} each", count(cores, "thread"))
            }
        );
    }
    // Per-epoch lines of folds that train at once would interleave, so
    // only a single fold at a time shows them.
    let show_epochs = at_once == 1 && !quiet;
    let bar = FoldBar::new(folds, quiet);
    let task = |fold: usize| {
        let train = all.subset(&splits[fold].train);
        let test = all.subset(&splits[fold].test);
        let lines = EpochLines::new(params.epochs, !show_epochs);
        let result =
            train_and_measure(&train, &test, &params, settings, &mut |p| {
                lines.report(p)
            });
        lines.finish();
        result.map(|(_, mut report)| {
            for point in &mut report.curve {
                point.fold = Some(fold + 1);
            }
            report
        })
    };
    let done = |fold: usize, result: &Result<SplitReport>| {
        if let Ok(report) = result {
            bar.fold_done(fold, folds, report);
        }
    };
    let reports = run_tasks(at_once, cores, folds, task, done)?;
    bar.finish();
    let wall_seconds = started.elapsed().as_secs_f64();

    let points: Vec<EpochPoint> = reports
        .iter()
        .flat_map(|r| r.curve.iter().copied())
        .collect();
    let best: Vec<BestEpoch> = reports
        .iter()
        .enumerate()
        .filter_map(|(fold, report)| {
            report.early_stop.map(|stop| BestEpoch {
                fold: Some(fold + 1),
                epoch: stop.best_epoch,
            })
        })
        .collect();
    command.curve.write(
        &points,
        &best,
        &format!("RMSE per epoch, {folds} folds"),
        command.force,
    )?;

    let summary = fold_summary(&reports);
    let split_info = serde_json::json!({
        "method": "folds",
        "folds": folds,
        "seed": params.seed,
        "parallel_folds": at_once,
    });
    if command.json {
        let object =
            folds_json(&reports, &summary, split_info, &params, wall_seconds);
        return emit_json(&Value::Object(object));
    }
    emit(&folds_text(&reports, &summary, at_once, wall_seconds))
}

/// Mean and standard deviation over folds of each figure, in the order
/// the text table shows them.
fn fold_summary(reports: &[SplitReport]) -> Vec<(&'static str, Spread)> {
    type Pick = fn(&SplitReport) -> Option<f64>;
    let figures: [(&'static str, Pick); 22] = [
        ("rmse", |r| Some(r.errors.rmse)),
        ("mae", |r| Some(r.errors.mae)),
        ("warm_rmse", |r| r.errors.warm_rmse),
        ("bias_rmse", |r| r.baselines.bias.map(|b| b.rmse)),
        ("bias_mae", |r| r.baselines.bias.map(|b| b.mae)),
        ("global_mean_rmse", |r| Some(r.baselines.global_mean.rmse)),
        ("global_mean_mae", |r| Some(r.baselines.global_mean.mae)),
        ("precision", |r| r.ranking.map(|m| m.precision)),
        ("recall", |r| r.ranking.map(|m| m.recall)),
        ("ndcg", |r| r.ranking.map(|m| m.ndcg)),
        ("map", |r| r.ranking.map(|m| m.map)),
        ("hit_rate", |r| r.ranking.map(|m| m.hit_rate)),
        ("coverage", |r| r.ranking.map(|m| m.coverage)),
        ("popularity_precision", |r| {
            r.baselines.popularity.map(|m| m.precision)
        }),
        ("popularity_recall", |r| {
            r.baselines.popularity.map(|m| m.recall)
        }),
        ("popularity_ndcg", |r| {
            r.baselines.popularity.map(|m| m.ndcg)
        }),
        ("popularity_map", |r| r.baselines.popularity.map(|m| m.map)),
        ("popularity_hit_rate", |r| {
            r.baselines.popularity.map(|m| m.hit_rate)
        }),
        ("popularity_coverage", |r| {
            r.baselines.popularity.map(|m| m.coverage)
        }),
        ("train_seconds", |r| r.train_seconds),
        ("best_epoch", |r| r.early_stop.map(|s| s.best_epoch as f64)),
        ("test_ratings", |r| Some(r.errors.test_ratings as f64)),
    ];
    figures
        .iter()
        .filter_map(|(name, pick)| {
            let values: Vec<f64> = reports.iter().filter_map(pick).collect();
            // A figure missing on some folds would be a mean over fewer
            // folds than the others, so it is left out.
            if values.len() != reports.len() {
                return None;
            }
            Spread::of(&values).map(|spread| (*name, spread))
        })
        .collect()
}

fn folds_json(
    reports: &[SplitReport],
    summary: &[(&'static str, Spread)],
    split_info: Value,
    params: &TrainParams,
    wall_seconds: f64,
) -> Map<String, Value> {
    let mean = |name: &str| -> Value {
        summary
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Value::Null, |(_, s)| s.mean.into())
    };
    let total = |pick: fn(&SplitReport) -> usize| -> usize {
        reports.iter().map(pick).sum()
    };
    let first_ranking = reports.iter().find_map(|r| r.ranking);
    let ranking_mean = |prefix: &str| -> Value {
        let Some(first) = first_ranking else {
            return Value::Null;
        };
        serde_json::json!({
            "n": first.n,
            "relevance_threshold": to_json(&first.relevance_threshold),
            "precision": mean(&format!("{prefix}precision")),
            "recall": mean(&format!("{prefix}recall")),
            "ndcg": mean(&format!("{prefix}ndcg")),
            "map": mean(&format!("{prefix}map")),
            "hit_rate": mean(&format!("{prefix}hit_rate")),
            "coverage": mean(&format!("{prefix}coverage")),
        })
    };

    let mut object = Map::new();
    object.insert("rmse".into(), mean("rmse"));
    object.insert("mae".into(), mean("mae"));
    object.insert("warm_rmse".into(), mean("warm_rmse"));
    object.insert(
        "test_ratings".into(),
        total(|r| r.errors.test_ratings).into(),
    );
    object.insert(
        "cold_ratings".into(),
        total(|r| r.errors.cold.total()).into(),
    );
    object.insert("train_seconds".into(), mean("train_seconds"));
    object.insert("wall_seconds".into(), wall_seconds.into());
    object.insert("ranking".into(), ranking_mean(""));

    object.insert(
        "baselines".into(),
        serde_json::json!({
            "global_mean": {
                "rmse": mean("global_mean_rmse"),
                "mae": mean("global_mean_mae"),
            },
            "bias": {
                "rmse": mean("bias_rmse"),
                "mae": mean("bias_mae"),
                "user_damping": USER_DAMPING,
                "item_damping": ITEM_DAMPING,
            },
            "popularity": ranking_mean("popularity_"),
        }),
    );

    let summary_object: Map<String, Value> = summary
        .iter()
        .map(|(name, spread)| (name.to_string(), to_json(spread)))
        .collect();
    object.insert("summary".into(), Value::Object(summary_object));

    let folds: Vec<Value> = reports
        .iter()
        .enumerate()
        .map(|(fold, report)| {
            let mut entry = Map::new();
            entry.insert("fold".into(), (fold + 1).into());
            entry.extend(report_json(report));
            Value::Object(entry)
        })
        .collect();
    object.insert("folds".into(), Value::Array(folds));
    object.insert("split".into(), split_info);
    object.insert("params".into(), to_json(params));
    object
}

fn folds_text(
    reports: &[SplitReport],
    summary: &[(&'static str, Spread)],
    at_once: usize,
    wall_seconds: f64,
) -> String {
    let n = reports
        .iter()
        .find_map(|r| r.ranking.map(|m| m.n))
        .unwrap_or_default();
    let columns: [(&str, String); 9] = [
        ("rmse", "RMSE".into()),
        ("mae", "MAE".into()),
        ("bias_rmse", "bias RMSE".into()),
        ("global_mean_rmse", "mean RMSE".into()),
        ("ndcg", format!("NDCG@{n}")),
        ("recall", format!("recall@{n}")),
        ("popularity_ndcg", format!("pop NDCG@{n}")),
        ("popularity_recall", format!("pop recall@{n}")),
        ("train_seconds", "seconds".into()),
    ];

    let present: Vec<&(&str, String)> = columns
        .iter()
        .filter(|(name, _)| summary.iter().any(|(s, _)| s == name))
        .collect();
    let widths: Vec<usize> = present
        .iter()
        .map(|(_, title)| title.len().max(7) + 2)
        .collect();
    let mut text = format!("{:<6}{:>8}{:>8}", "fold", "train", "test");
    for ((_, title), width) in present.iter().zip(&widths) {
        text.push_str(&format!("{title:>width$}"));
    }
    text.push('\n');

    let single = |report: &SplitReport, name: &str| -> Option<f64> {
        let figures = fold_summary(std::slice::from_ref(report));
        figures
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s.mean)
    };
    for (fold, report) in reports.iter().enumerate() {
        text.push_str(&format!(
            "{:<6}{:>8}{:>8}",
            fold + 1,
            report.train_ratings,
            report.errors.test_ratings
        ));
        for ((name, _), width) in present.iter().zip(&widths) {
            let value = single(report, name).unwrap_or(f64::NAN);
            text.push_str(&format!("{value:>width$.4}"));
        }
        text.push('\n');
    }
    type Pick = fn(&Spread) -> f64;
    let rows: [(&str, Pick); 2] = [("mean", |s| s.mean), ("std", |s| s.std)];
    for (label, pick) in rows {
        text.push_str(&format!("{label:<22}"));
        for ((name, _), width) in present.iter().zip(&widths) {
            let spread = summary.iter().find(|(s, _)| s == name);
            let value = spread.map_or(f64::NAN, |(_, s)| pick(s));
            text.push_str(&format!("{value:>width$.4}"));
        }
        text.push('\n');
    }

    text.push_str(&format!(
        "std: sample standard deviation over folds. bias RMSE: global mean \
         plus user and item biases damped by {USER_DAMPING} and \
         {ITEM_DAMPING}. pop: the most-rated items the user has not rated.\n"
    ));

    if let Some((_, epochs)) = summary.iter().find(|(s, _)| *s == "best_epoch")
    {
        text.push_str(&format!(
            "early stopping kept epoch {:.1} on average (std {:.1})\n",
            epochs.mean, epochs.std
        ));
    }
    text.push_str(&format!(
        "{} folds, {at_once} at a time, in {wall_seconds:.2} s\n",
        reports.len()
    ));
    text
}

/// Per-epoch lines and a progress bar on standard error for training
/// that records a curve.
pub(super) struct EpochLines {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl EpochLines {
    pub(super) fn new(epochs: usize, quiet: bool) -> EpochLines {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(epochs as u64),
                ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} epoch {pos}/{len}  ({elapsed})",
                )
                .expect("progress template is valid"),
            );
            bar
        });
        EpochLines { bar, quiet }
    }

    pub(super) fn report(&self, point: &EpochPoint) {
        if self.quiet {
            return;
        }
        let mut line = format!(
            "epoch {:>3}  train RMSE {:.4}",
            point.epoch, point.train_rmse
        );
        if let Some(rmse) = point.validation_rmse {
            line.push_str(&format!("  validation RMSE {rmse:.4}"));
        }
        if let Some(rmse) = point.test_rmse {
            line.push_str(&format!("  test RMSE {rmse:.4}"));
        }
        line.push_str(&format!(
            "  learning rate {:.5}  {:.2} s elapsed",
            point.learning_rate, point.elapsed_seconds
        ));
        match &self.bar {
            Some(bar) => {
                bar.println(&line);
                bar.set_position(point.epoch as u64);
            }
            None => eprintln!("{line}"),
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A line per finished fold and a progress bar over folds.
struct FoldBar {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl FoldBar {
    fn new(folds: usize, quiet: bool) -> FoldBar {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(folds as u64),
                ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} fold {pos}/{len}  ({elapsed})",
                )
                .expect("progress template is valid"),
            );
            bar
        });
        FoldBar { bar, quiet }
    }

    fn fold_done(&self, fold: usize, folds: usize, report: &SplitReport) {
        if self.quiet {
            return;
        }
        let mut line = format!(
            "fold {}/{folds}: RMSE {:.4}",
            fold + 1,
            report.errors.rmse
        );
        if let Some(bias) = report.baselines.bias {
            line.push_str(&format!(" (bias baseline {:.4})", bias.rmse));
        }
        if let Some(ranking) = report.ranking {
            line.push_str(&format!(", NDCG@{} {:.4}", ranking.n, ranking.ndcg));
        }
        if let Some(seconds) = report.train_seconds {
            line.push_str(&format!(", trained in {seconds:.2} s"));
        }
        match &self.bar {
            Some(bar) => {
                bar.println(&line);
                bar.inc(1);
            }
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Trains on `ratings` with per-epoch lines, optional early stopping and
/// no test ratings, on `--threads` threads. `train` uses it when it
/// records a curve or stops early.
pub(super) fn train_tracked_with_progress(
    ratings: &Ratings,
    training: &TrainingArgs,
    early_stop: Option<&EarlyStop>,
) -> Result<Tracked> {
    let params = training.params();
    params.validate()?;
    let lines = EpochLines::new(params.epochs, training.quiet);
    let result = pool(params.thread_count())?.install(|| {
        train_tracked(ratings, &params, early_stop, None, &mut |point| {
            lines.report(point)
        })
    });
    lines.finish();
    result
}

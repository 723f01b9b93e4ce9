//! `descent tune`: search training settings by k-fold cross-validation
//! and write the results table and the best settings.

use serde::ser::{SerializeMap, Serializer};

use descent::eval::parallel::available_memory;
use descent::eval::tune::{
    results_csv, train_flags, tune, Choice, DivergedTrial, Metric, Search,
    SearchSpace, TrialResult, TuneOutcome, TuneSettings, MAX_TRIALS,
};

use super::evaluate::MAX_FOLDS;
use super::values::{whole, Real, MAX_COUNT};
use super::*;

/// Search method over the listed values.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SearchArg {
    /// Every combination of the listed values.
    Grid,
    /// --trials draws, each setting drawn from its list or its LOW..HIGH
    /// range.
    Random,
}

/// The figure that ranks candidates.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MetricArg {
    /// Root mean squared error; lower is better.
    Rmse,
    /// Mean absolute error; lower is better.
    Mae,
    /// Precision of top-N lists; higher is better.
    Precision,
    /// Recall of top-N lists; higher is better.
    Recall,
    /// NDCG of top-N lists; higher is better.
    Ndcg,
    /// Mean average precision of top-N lists; higher is better.
    Map,
    /// Share of users with a relevant item in their top-N list; higher is
    /// better.
    HitRate,
}

impl MetricArg {
    fn metric(self) -> Metric {
        match self {
            MetricArg::Rmse => Metric::Rmse,
            MetricArg::Mae => Metric::Mae,
            MetricArg::Precision => Metric::Precision,
            MetricArg::Recall => Metric::Recall,
            MetricArg::Ndcg => Metric::Ndcg,
            MetricArg::Map => Metric::Map,
            MetricArg::HitRate => Metric::HitRate,
        }
    }
}

/// Files written into --out.
const RESULTS_CSV: &str = "tune.csv";
const RESULTS_JSON: &str = "tune.json";
const BEST_ARGS: &str = "best-args.txt";

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct TuneCommand {
    /// Ratings to cross-validate on, in one or more files read as one set.
    #[arg(long, required = true, num_args = 1..)]
    ratings: Vec<PathBuf>,
    /// Folder for tune.csv and tune.json (one row per candidate, best
    /// first) and best-args.txt (the best settings as `descent train`
    /// options); created if missing.
    #[arg(long)]
    out: PathBuf,
    /// Replace result files that exist in --out.
    #[arg(long)]
    force: bool,
    /// Search method.
    #[arg(long, value_enum, default_value = "grid")]
    search: SearchArg,
    /// Draws of --search random, 1 to 100000; repeated draws are tried
    /// once.
    #[arg(
        long,
        default_value_t = 20,
        value_parser = whole(1, MAX_TRIALS as u64)
    )]
    trials: usize,
    /// Cross-validation folds, 2 to 100: each candidate is trained on all
    /// folds but one and measured on that one, for every fold.
    #[arg(long, default_value_t = 5, value_parser = whole(2, MAX_FOLDS))]
    folds: usize,
    /// The figure, averaged over folds, that ranks candidates.
    #[arg(long, value_enum, default_value = "rmse")]
    metric: MetricArg,
    /// Length of the top-N lists for ranking metrics, 1 to 100000.
    #[arg(
        short = 'n',
        long = "count",
        default_value_t = 10,
        value_parser = whole(1, MAX_COUNT as u64)
    )]
    n: usize,
    /// A test rating at or above this value, a finite number, marks a
    /// relevant item [default: three quarters of the way up the training
    /// rating range].
    #[arg(long, allow_hyphen_values = true, value_parser = Real)]
    relevance_threshold: Option<f32>,
    #[command(flatten)]
    lists: super::evaluate::ListArgs,
    /// Training runs at once, 0 to 1024, each on one thread; 0 for one per
    /// core while the memory estimate fits in half the available memory.
    #[arg(
        long,
        default_value_t = 0,
        value_parser = whole(0, MAX_THREADS as u64)
    )]
    jobs: usize,
    /// Factor counts to try, each 1 to 4096: a list such as 32,64,128, or
    /// LOW..HIGH for --search random, drawn on a log scale.
    #[arg(long, default_value = "32,128")]
    factors: String,
    /// Epoch counts to try, each 1 to 10000: a list, or LOW..HIGH for
    /// --search random. Counts that differ only in epochs share one
    /// training run per fold.
    #[arg(long, default_value = "20,60")]
    epochs: String,
    /// Learning rates to try, each above 0: a list, or LOW..HIGH for
    /// --search random, drawn on a log scale.
    #[arg(long, default_value = "0.007,0.015")]
    learning_rate: String,
    /// Factor penalties to try, each 0 or more: a list, or LOW..HIGH for
    /// --search random, drawn on a log scale.
    #[arg(long, default_value = "0.05,0.1")]
    regularization: String,
    /// Penalty exponents to try: a list of values in [0, 1], or LOW..HIGH
    /// for --search random.
    #[arg(long, default_value = "0.5,0.75")]
    regularization_exponent: String,
    /// Whether each user and item row divides its factor step by the root
    /// of a running sum of its squared gradient norms / 128 (true or
    /// false), for every candidate.
    #[arg(
        long,
        action = clap::ArgAction::Set,
        default_value_t = TrainParams::default().adagrad
    )]
    adagrad: bool,
    /// Starting value of each row's AdaGrad sum, for every candidate.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_parser = Real,
        default_value_t = TrainParams::default().adagrad_initial_accumulator
    )]
    adagrad_initial_accumulator: f32,
    /// SGD step size of the biases in the first epoch, above 0, for every
    /// candidate.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_parser = Real,
        default_value_t = TrainParams::default().bias_learning_rate
    )]
    bias_learning_rate: f32,
    /// Step size multiplier applied after each epoch, in (0, 1], for every
    /// candidate.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_parser = Real,
        default_value_t = TrainParams::default().decay
    )]
    decay: f32,
    /// L2 penalty on biases, 0 or more, for every candidate.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_parser = Real,
        default_value_t = TrainParams::default().bias_regularization
    )]
    bias_regularization: f32,
    /// Standard deviation of the initial factors, above 0, for every
    /// candidate.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_parser = Real,
        default_value_t = TrainParams::default().init_std
    )]
    init_std: f32,
    /// Seed of the folds, the random draws and training.
    #[arg(long, default_value_t = TrainParams::default().seed)]
    seed: u64,
    /// Bands per side of the block schedule, 0 to 1024; 0 picks max(8, 2
    /// x cores), as `train` does with its default --threads.
    #[arg(
        long,
        default_value_t = 0,
        value_parser = whole(0, TrainParams::MAX_BLOCKS as u64)
    )]
    blocks: usize,
    /// Print exactly one JSON object.
    #[arg(long)]
    json: bool,
    /// Print no progress bar or progress lines.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    input: InputArgs,
}

/// A value type of a searched setting.
trait Searched: std::str::FromStr + PartialEq {
    /// Returns why `text`, parsed as `self`, cannot be used as typed: a
    /// 32-bit float beyond its range reads as infinite and one too close
    /// to 0 reads as 0.
    fn misread(&self, text: &str) -> Option<&'static str>;
}

impl Searched for usize {
    fn misread(&self, _: &str) -> Option<&'static str> {
        None
    }
}

impl Searched for f32 {
    fn misread(&self, text: &str) -> Option<&'static str> {
        let wide = text.parse::<f64>().unwrap_or(f64::NAN);
        if !self.is_finite() {
            Some("is not a finite 32-bit number (at most about 3.4e38)")
        } else if *self == 0.0 && wide != 0.0 {
            Some("is too close to 0 for a 32-bit number, which reads it as 0")
        } else {
            None
        }
    }
}

/// Parses a list `a,b,c` or a range `low..high` of option `name`.
fn parse_choice<T: Searched>(
    name: &'static str,
    text: &str,
    log: bool,
) -> Result<Choice<T>> {
    let bad = || Error::InvalidParameter {
        name,
        value: text.to_string(),
        reason: "expected a number, a list such as 1,2,3 or a range such \
                 as 1..3"
            .into(),
    };
    let number = |part: &str| {
        let part = part.trim();
        let value = part.parse::<T>().map_err(|_| bad())?;
        match value.misread(part) {
            None => Ok(value),
            Some(problem) => Err(Error::InvalidParameter {
                name,
                value: text.to_string(),
                reason: format!("{part} {problem}"),
            }),
        }
    };
    if let Some((low, high)) = text.split_once("..") {
        return Ok(Choice::Range {
            low: number(low)?,
            high: number(high)?,
            log,
        });
    }
    let mut values: Vec<T> = Vec::new();
    for part in text.split(',') {
        let value = number(part)?;
        if values.contains(&value) {
            eprintln!(
                "warning: {name} lists {} more than once; each value is \
                 tried once",
                part.trim()
            );
            continue;
        }
        values.push(value);
    }
    Ok(Choice::List(values))
}

impl TuneCommand {
    fn settings(&self) -> Result<TuneSettings> {
        let base = TrainParams {
            adagrad: self.adagrad,
            adagrad_initial_accumulator: self.adagrad_initial_accumulator,
            bias_learning_rate: self.bias_learning_rate,
            decay: self.decay,
            bias_regularization: self.bias_regularization,
            init_std: self.init_std,
            seed: self.seed,
            blocks: self.blocks,
            ..TrainParams::default()
        };
        base.validate()?;
        super::evaluate::check_threshold(self.relevance_threshold)?;
        let space = SearchSpace {
            factors: parse_choice("--factors", &self.factors, true)?,
            epochs: parse_choice("--epochs", &self.epochs, false)?,
            learning_rate: parse_choice(
                "--learning-rate",
                &self.learning_rate,
                true,
            )?,
            regularization: parse_choice(
                "--regularization",
                &self.regularization,
                true,
            )?,
            regularization_exponent: parse_choice(
                "--regularization-exponent",
                &self.regularization_exponent,
                false,
            )?,
        };
        let search = match self.search {
            SearchArg::Grid => Search::Grid,
            SearchArg::Random => Search::Random {
                trials: self.trials,
            },
        };
        Ok(TuneSettings {
            base,
            space,
            search,
            folds: self.folds,
            metric: self.metric.metric(),
            n: self.n,
            relevance_threshold: self.relevance_threshold,
            min_item_ratings: self.lists.min_item_ratings(),
            at_once: self.jobs,
        })
    }

    fn output(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }
}

pub(super) fn run(command: TuneCommand) -> Result<()> {
    let mut settings = command.settings()?;
    // Candidates are checked before any file is read.
    let candidates = descent::eval::tune::candidates(&settings)?;
    let candidate_count = candidates.len();
    let max_factors = candidates.iter().map(|c| c.factors).max();
    if command.out == Path::new("-") {
        return Err(Error::Invalid(
            "--out - (standard output) cannot hold tune's three files; name \
             a folder"
                .into(),
        ));
    }
    if command.out.exists() && !command.out.is_dir() {
        return Err(Error::Invalid(format!(
            "--out {} is a file, not a folder",
            command.out.display()
        )));
    }
    // The folder is made now, so that a path that cannot hold it, or a
    // folder that takes no new files, fails before the search.
    std::fs::create_dir_all(&command.out).map_err(|e| {
        Error::Invalid(format!(
            "cannot create the --out folder {}: {e}",
            command.out.display()
        ))
    })?;
    for name in [RESULTS_CSV, RESULTS_JSON, BEST_ARGS] {
        let path = command.output(name);
        super::check_output_folder(&path)?;
        if !command.force && path.exists() {
            return Err(Error::AlreadyExists { path });
        }
    }
    let inputs: Vec<(&str, &Path)> = command
        .ratings
        .iter()
        .map(|path| ("--ratings", path.as_path()))
        .collect();
    let outputs: Vec<PathBuf> = [RESULTS_CSV, RESULTS_JSON, BEST_ARGS]
        .map(|name| command.output(name))
        .into();
    let outputs: Vec<(&str, &Path)> = outputs
        .iter()
        .map(|path| ("--out", path.as_path()))
        .collect();
    super::check_distinct_files(&inputs, &outputs)?;

    let (all, _) = super::evaluate::load_many(
        &command.ratings,
        &command.input,
        !command.json,
    )?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if settings.at_once == 0 {
        // NOTE: an estimate of one run's memory from the sizes of its data
        // structures (ratings, blocks, three copies of the factors), not a
        // measurement.
        let factors = max_factors.unwrap_or(1) as u64;
        let per_task = all.len() as u64 * 64
            + (all.users.len() + all.items.len()) as u64 * factors * 4 * 3;
        settings.at_once = descent::eval::parallel::tasks_at_once(
            candidate_count * settings.folds,
            cores,
            per_task,
            available_memory(),
        );
    }
    if !command.quiet && !command.json {
        eprintln!(
            "tune: {}, {} folds, {} at a time with one thread each",
            count(candidate_count, "candidate"),
            settings.folds,
            count(settings.at_once, "training run")
        );
    }

    let bar = (!command.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar =
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} training {pos}/{len}  ({elapsed}, about {eta} left)",
            )
            .expect("progress template is valid"),
        );
        bar
    });
    let progress = |finished: usize, total: usize| {
        if let Some(bar) = &bar {
            bar.set_length(total as u64);
            bar.set_position(finished as u64);
        }
    };
    let outcome = tune(&all, &settings, &progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let outcome = outcome?;
    warn_diverged(&outcome.diverged, settings.folds);
    if outcome.results.is_empty() {
        return Err(all_diverged(&outcome.diverged));
    }

    std::fs::create_dir_all(&command.out)
        .map_err(|e| Error::io(&command.out, e))?;
    let flags = train_flags(&outcome.best());
    let command_line = train_command_line(&command.ratings, &flags);
    let rows = result_rows(&outcome, settings.metric);
    let mut report =
        tune_report(&outcome, &rows, &settings, &flags, &command_line);
    let csv = results_csv(&outcome, settings.metric);
    let mut json_bytes = serde_json::to_vec_pretty(&report)
        .expect("the results serialize to JSON");
    json_bytes.push(b'\n');
    let args_line = flags.join(" ") + "\n";
    let files = [
        (RESULTS_CSV, csv),
        (RESULTS_JSON, json_bytes),
        (BEST_ARGS, args_line.into_bytes()),
    ];
    for (name, bytes) in &files {
        persist::write_atomically(&command.output(name), bytes, command.force)?;
    }

    if command.json {
        report.results = None;
        report.files = Some(
            files
                .iter()
                .map(|(name, _)| command.output(name).display().to_string())
                .collect(),
        );
        let line = serde_json::to_string(&report)
            .expect("the results serialize to JSON");
        return emit(&(line + "\n"));
    }
    emit(&summary_text(&outcome, &settings, &command_line, &command))
}

/// Quotes `text` for a POSIX shell when it contains anything but letters,
/// digits and `._/-+=:,`.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-+=:,".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

fn train_command_line(ratings: &[PathBuf], flags: &[String]) -> String {
    let mut parts =
        vec!["descent".to_string(), "train".into(), "--ratings".into()];
    if ratings.len() > 1 {
        // `train` reads one file; the tuned model came from all of them.
        parts.push("ALL_RATINGS_FILE".into());
    } else {
        parts.push(shell_quote(&ratings[0].display().to_string()));
    }
    parts.extend(["--model".into(), "model.dsc".into()]);
    parts.extend(flags.iter().cloned());
    parts.join(" ")
}

/// The search as written to tune.json and, without `results` and with
/// `files`, to standard output. A struct rather than `json!`, which would
/// widen f32 settings to f64 and print 0.015 as 0.014999999664723873.
#[derive(serde::Serialize)]
struct TuneReport<'a> {
    metric: Metric,
    lower_is_better: bool,
    n: usize,
    folds: usize,
    seed: u64,
    search: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    trials: Option<usize>,
    candidates: usize,
    diverged_candidates: usize,
    training_runs: usize,
    runs_at_once: usize,
    wall_seconds: f64,
    fixed: Fixed,
    best: &'a TrialResult,
    train_args: &'a [String],
    train_command: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<&'a [ResultRow<'a>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<Vec<String>>,
}

/// Settings shared by every candidate.
#[derive(serde::Serialize)]
struct Fixed {
    adagrad: bool,
    adagrad_initial_accumulator: f32,
    bias_learning_rate: f32,
    decay: f32,
    bias_regularization: f32,
    init_std: f32,
    blocks: usize,
}

fn tune_report<'a>(
    outcome: &'a TuneOutcome,
    rows: &'a [ResultRow<'a>],
    settings: &TuneSettings,
    flags: &'a [String],
    command_line: &'a str,
) -> TuneReport<'a> {
    let (search, trials) = match settings.search {
        Search::Grid => ("grid", None),
        Search::Random { trials } => ("random", Some(trials)),
    };
    let base = &outcome.base;
    TuneReport {
        metric: settings.metric,
        lower_is_better: settings.metric.lower_is_better(),
        n: settings.n,
        folds: settings.folds,
        seed: base.seed,
        search,
        trials,
        candidates: rows.len(),
        diverged_candidates: outcome.diverged.len(),
        training_runs: outcome.trainings,
        runs_at_once: settings.at_once,
        wall_seconds: outcome.seconds,
        fixed: Fixed {
            adagrad: base.adagrad,
            adagrad_initial_accumulator: base.adagrad_initial_accumulator,
            bias_learning_rate: base.bias_learning_rate,
            decay: base.decay,
            bias_regularization: base.bias_regularization,
            init_std: base.init_std,
            blocks: base.blocks,
        },
        best: &outcome.results[0],
        train_args: flags,
        train_command: command_line,
        results: Some(rows),
        files: None,
    }
}

fn summary_text(
    outcome: &TuneOutcome,
    settings: &TuneSettings,
    command_line: &str,
    command: &TuneCommand,
) -> String {
    let metric = settings.metric.name();
    // The mean and standard deviation of the metric, then the mean RMSE
    // unless the metric is RMSE.
    let with_rmse = settings.metric != Metric::Rmse;
    let mut text = format!(
        "{:>4} {:>7} {:>6} {:>9} {:>9} {:>8} {:>10} {:>8}",
        "rank", "factors", "epochs", "lr", "reg", "exponent", metric, "std"
    );
    if with_rmse {
        text.push_str(&format!(" {:>8}", "rmse"));
    }
    text.push('\n');
    let finished = &outcome.results;
    for result in finished.iter().take(SHOWN_ROWS) {
        text.push_str(&format!(
            "{:>4} {:>7} {:>6} {:>9} {:>9} {:>8} {:>10.4} {:>8.4}",
            result.rank,
            result.factors,
            result.epochs,
            result.learning_rate,
            result.regularization,
            result.regularization_exponent,
            result.score.mean,
            result.score.std
        ));
        if with_rmse {
            text.push_str(&format!(" {:>8.4}", result.rmse.mean));
        }
        text.push('\n');
    }
    let shown_diverged = SHOWN_ROWS.saturating_sub(finished.len());
    for diverged in outcome.diverged.iter().take(shown_diverged) {
        let params = &diverged.params;
        text.push_str(&format!(
            "{:>4} {:>7} {:>6} {:>9} {:>9} {:>8} {:>10} {:>8}",
            diverged.rank,
            params.factors,
            params.epochs,
            params.learning_rate,
            params.regularization,
            params.regularization_exponent,
            "diverged",
            "-"
        ));
        if with_rmse {
            text.push_str(&format!(" {:>8}", "-"));
        }
        text.push('\n');
    }
    let rows = finished.len() + outcome.diverged.len();
    if rows > SHOWN_ROWS {
        text.push_str(&format!(
            "... {} in {}\n",
            count(rows - SHOWN_ROWS, "more row"),
            command.output(RESULTS_CSV).display()
        ));
    }
    let best = &finished[0];
    text.push_str(&format!(
        "best of {} by mean {metric} over {} folds: {:.4} (std {:.4}); {} \
         in {:.1} s\n",
        count(rows, "candidate"),
        settings.folds,
        best.score.mean,
        best.score.std,
        count(outcome.trainings, "training run"),
        outcome.seconds
    ));
    if !outcome.diverged.is_empty() {
        text.push_str(&format!(
            "{} of {} diverged and {} ranked last\n",
            outcome.diverged.len(),
            count(rows, "candidate"),
            form(outcome.diverged.len(), "is", "are")
        ));
    }
    text.push_str(&format!("train it with:\n  {command_line}\n"));
    if command.ratings.len() > 1 {
        text.push_str(
            "  (train reads one file: join the --ratings files into \
             ALL_RATINGS_FILE first)\n",
        );
    }
    text.push_str(&format!(
        "wrote {}, {} and {}\n",
        command.output(RESULTS_CSV).display(),
        command.output(RESULTS_JSON).display(),
        command.output(BEST_ARGS).display()
    ));
    text
}

/// Maximum rows of the printed table. tune.csv has every row.
const SHOWN_ROWS: usize = 10;

/// Maximum warning lines about diverged candidates, after which one line
/// counts the rest.
const SHOWN_WARNINGS: usize = 10;

/// Prints a warning for each diverged candidate, naming its settings and
/// the fold that diverged.
fn warn_diverged(diverged: &[DivergedTrial], folds: usize) {
    for candidate in diverged.iter().take(SHOWN_WARNINGS) {
        let params = &candidate.params;
        let divergence = &candidate.divergence;
        eprintln!(
            "warning: candidate --factors {} --epochs {} --learning-rate {} \
             --regularization {} --regularization-exponent {} diverged on \
             fold {} of {folds} at epoch {} (the {} became {})",
            params.factors,
            params.epochs,
            params.learning_rate,
            params.regularization,
            params.regularization_exponent,
            divergence.fold + 1,
            divergence.epoch,
            divergence.quantity,
            divergence.value
        );
    }
    let unnamed = diverged.len().saturating_sub(SHOWN_WARNINGS);
    if unnamed > 0 {
        eprintln!(
            "warning: {unnamed} more {} diverged",
            form(unnamed, "candidate", "candidates")
        );
    }
}

/// Builds the error for a search in which every candidate diverged.
fn all_diverged(diverged: &[DivergedTrial]) -> Error {
    let smallest = diverged
        .iter()
        .map(|candidate| candidate.params.learning_rate)
        .min_by(f32::total_cmp)
        .expect("a search has at least one candidate");
    Error::Invalid(format!(
        "training diverged for every candidate ({}), so there are no \
         results; try a smaller --learning-rate (the smallest tried was \
         {smallest})",
        count(diverged.len(), "candidate")
    ))
}

/// One row of tune.json, in ranking order.
enum ResultRow<'a> {
    Finished(&'a TrialResult),
    Diverged(&'a DivergedTrial, Metric),
}

/// The figures of a finished candidate with the `diverged` fields.
#[derive(serde::Serialize)]
struct FinishedRow<'a> {
    #[serde(flatten)]
    result: &'a TrialResult,
    diverged: bool,
    diverged_fold: Option<usize>,
    diverged_epoch: Option<usize>,
}

impl serde::Serialize for ResultRow<'_> {
    /// Writes a diverged candidate with the keys of a finished one: its
    /// settings, `null` for every figure, and the fold (from 1) and epoch
    /// at which it diverged.
    fn serialize<S: Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let (diverged, metric) = match self {
            ResultRow::Finished(result) => {
                let row = FinishedRow {
                    result,
                    diverged: false,
                    diverged_fold: None,
                    diverged_epoch: None,
                };
                return row.serialize(serializer);
            }
            ResultRow::Diverged(diverged, metric) => (diverged, *metric),
        };

        let params = &diverged.params;
        let none: Option<f64> = None;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("rank", &diverged.rank)?;
        map.serialize_entry("candidate", &diverged.candidate)?;
        map.serialize_entry("factors", &params.factors)?;
        map.serialize_entry("epochs", &params.epochs)?;
        map.serialize_entry("learning_rate", &params.learning_rate)?;
        map.serialize_entry("regularization", &params.regularization)?;
        map.serialize_entry(
            "regularization_exponent",
            &params.regularization_exponent,
        )?;

        map.serialize_entry("rmse", &none)?;
        map.serialize_entry("mae", &none)?;
        if !metric.lower_is_better() {
            map.serialize_entry(metric.name(), &none)?;
        }
        map.serialize_entry("fold_scores", &none)?;
        map.serialize_entry("train_seconds", &none)?;

        map.serialize_entry("diverged", &true)?;
        map.serialize_entry("diverged_fold", &(diverged.divergence.fold + 1))?;
        map.serialize_entry("diverged_epoch", &diverged.divergence.epoch)?;
        map.end()
    }
}

/// Lists the rows of tune.json: the finished candidates, best first,
/// then the diverged ones.
fn result_rows(outcome: &TuneOutcome, metric: Metric) -> Vec<ResultRow<'_>> {
    let finished = outcome.results.iter().map(ResultRow::Finished);
    let diverged = outcome
        .diverged
        .iter()
        .map(|candidate| ResultRow::Diverged(candidate, metric));
    finished.chain(diverged).collect()
}

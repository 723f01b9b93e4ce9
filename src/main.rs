//! The `descent` command-line tool: train, recommend, predict, find similar
//! items, evaluate and generate synthetic data.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use descent::data::generate::{generate, SyntheticSpec};
use descent::data::items::ItemCatalog;
use descent::data::load::{load_ratings, Format, LoadOptions, LoadReport};
use descent::data::split::random_split;
use descent::data::Ratings;
use descent::eval::{
    default_relevance_threshold, ranking_metrics, rating_errors,
};
use descent::model::persist;
use descent::{fit_with, EpochReport, Error, Model, Result, TrainParams};

/// Biased matrix factorization recommender trained with parallel SGD.
///
/// Ratings files are MovieLens `ratings.csv` (userId,movieId,rating,
/// timestamp), tab-separated `u.data`, `::`-separated `ratings.dat`, or
/// whitespace-separated `user item rating` lines. User and item ids are
/// taken as written.
#[derive(Parser, Debug)]
#[command(name = "descent", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model on a ratings file and save it.
    Train(TrainCommand),
    /// List the top-N items a user has not rated, best first.
    ///
    /// The score of each item is its predicted rating before clipping to
    /// the training range. A user absent from training is an error.
    Recommend(RecommendCommand),
    /// Predict one user's rating of one item.
    ///
    /// The prediction is on the training scale, clipped to the lowest and
    /// highest training rating. A user or item absent from training gets a
    /// fallback, the global mean plus the bias of the known id, and the
    /// output marks it as such.
    Predict(PredictCommand),
    /// List the items most similar to an item (cosine of item factors).
    Similar(SimilarCommand),
    /// Train on one part of the data and measure accuracy on the rest.
    ///
    /// Reports RMSE and MAE of the predicted ratings and the precision,
    /// recall and NDCG of top-N lists.
    Evaluate(EvaluateCommand),
    /// Write a synthetic MovieLens-shaped data set from a planted model.
    Generate(GenerateCommand),
}

/// Separator of a ratings file.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    /// Detect from the first non-blank line.
    Auto,
    /// Comma-separated, quotes allowed (ratings.csv).
    Csv,
    /// Tab-separated (u.data, u1.base).
    Tsv,
    /// `::`-separated (ratings.dat).
    Dat,
    /// Spaces or tabs.
    Space,
}

#[derive(Args, Debug)]
struct InputArgs {
    /// Separator of the ratings files.
    #[arg(long, value_enum, default_value = "auto")]
    format: FormatArg,
    /// Skip rows that cannot be read, reporting how many, instead of
    /// stopping at the first.
    #[arg(long)]
    skip_bad_rows: bool,
}

impl InputArgs {
    fn options(&self) -> LoadOptions {
        let format = match self.format {
            FormatArg::Auto => None,
            FormatArg::Csv => Some(Format::Csv),
            FormatArg::Tsv => Some(Format::Tsv),
            FormatArg::Dat => Some(Format::DoubleColon),
            FormatArg::Space => Some(Format::Whitespace),
        };
        LoadOptions {
            format,
            skip_bad_rows: self.skip_bad_rows,
        }
    }
}

#[derive(Args, Debug)]
struct TrainingArgs {
    /// Length of each user and item factor vector.
    #[arg(long, default_value_t = TrainParams::default().factors)]
    factors: usize,
    /// Passes over the training ratings.
    #[arg(long, default_value_t = TrainParams::default().epochs)]
    epochs: usize,
    /// SGD step size in the first epoch.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = TrainParams::default().learning_rate
    )]
    learning_rate: f32,
    /// Step size multiplier applied after each epoch, in (0, 1].
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = TrainParams::default().decay
    )]
    decay: f32,
    /// L2 penalty on user and item factors.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = TrainParams::default().regularization
    )]
    regularization: f32,
    /// How the factor penalty scales with a row's rating count n: each
    /// update applies regularization x (100 / n)^exponent, so 0 treats
    /// every update alike and 1 gives every user and item the same total.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = TrainParams::default().regularization_exponent
    )]
    regularization_exponent: f32,
    /// L2 penalty on user and item biases.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = TrainParams::default().bias_regularization
    )]
    bias_regularization: f32,
    /// Standard deviation of the initial factors.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = TrainParams::default().init_std
    )]
    init_std: f32,
    /// Seed of every random choice; the same seed and --blocks give the
    /// same model for any --threads.
    #[arg(long, default_value_t = TrainParams::default().seed)]
    seed: u64,
    /// Worker threads; 0 uses one per core.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Bands per side of the block schedule; 0 picks max(8, 2 x threads).
    #[arg(long, default_value_t = 0)]
    blocks: usize,
    /// Print no per-epoch lines or progress bar.
    #[arg(long, short)]
    quiet: bool,
}

impl TrainingArgs {
    fn params(&self) -> TrainParams {
        TrainParams {
            factors: self.factors,
            epochs: self.epochs,
            learning_rate: self.learning_rate,
            decay: self.decay,
            regularization: self.regularization,
            regularization_exponent: self.regularization_exponent,
            bias_regularization: self.bias_regularization,
            init_std: self.init_std,
            seed: self.seed,
            threads: self.threads,
            blocks: self.blocks,
        }
    }
}

// Commands accept negative numbers as values (here and below), and the
// options that take a real number accept any value that starts with a
// hyphen, such as `-inf`. So a range check rather than the parser rejects
// `--learning-rate -0.01`, and the message names the option and the value.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
struct TrainCommand {
    /// Ratings file to train on. Its optional fourth column, the timestamp,
    /// is checked but does not affect training. Of repeated (user, item)
    /// pairs the last row is kept.
    #[arg(long)]
    ratings: PathBuf,
    /// Where to write the model (a safetensors file).
    #[arg(long)]
    model: PathBuf,
    /// Replace the model file if it exists.
    #[arg(long)]
    force: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    training: TrainingArgs,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
struct RecommendCommand {
    /// Model file written by `descent train`.
    #[arg(long)]
    model: PathBuf,
    /// User id as written in the training file.
    #[arg(long)]
    user: String,
    /// Number of items to list.
    #[arg(short = 'n', long = "count", default_value_t = 10)]
    n: usize,
    /// Items file with titles: movies.csv, movies.dat or u.item.
    #[arg(long, visible_alias = "movies")]
    items: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
struct PredictCommand {
    /// Model file written by `descent train`.
    #[arg(long)]
    model: PathBuf,
    /// User id as written in the training file.
    #[arg(long)]
    user: String,
    /// Item id as written in the training file.
    #[arg(long)]
    item: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
struct SimilarCommand {
    /// Model file written by `descent train`.
    #[arg(long)]
    model: PathBuf,
    /// Item id as written in the training file.
    #[arg(long)]
    item: String,
    /// Number of items to list.
    #[arg(short = 'n', long = "count", default_value_t = 10)]
    n: usize,
    /// Items file with titles: movies.csv, movies.dat or u.item.
    #[arg(long, visible_alias = "movies")]
    items: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
#[command(group(clap::ArgGroup::new("source").required(true)
    .args(["ratings", "train", "model"])))]
struct EvaluateCommand {
    /// Training ratings; evaluated on --test.
    #[arg(long, requires = "test")]
    train: Option<PathBuf>,
    /// Test ratings, for --train or --model.
    #[arg(long)]
    test: Option<PathBuf>,
    /// A saved model to evaluate on --test instead of training one.
    #[arg(long, requires = "test")]
    model: Option<PathBuf>,
    /// All ratings, split at random into training and test parts by
    /// --test-fraction and --seed. Each row is drawn alone, so users and
    /// items whose rows all land in the test part are cold there.
    #[arg(long, conflicts_with_all = ["train", "test", "model"])]
    ratings: Option<PathBuf>,
    /// Share of the rows of --ratings held out for testing.
    #[arg(long, allow_hyphen_values = true, default_value_t = 0.2)]
    test_fraction: f64,
    /// Length of the top-N lists behind precision, recall and NDCG.
    #[arg(short = 'n', long = "count", default_value_t = 10)]
    n: usize,
    /// Print exactly one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    training: TrainingArgs,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
struct GenerateCommand {
    /// Folder to write ratings.csv and movies.csv into (created if
    /// missing).
    #[arg(long)]
    out: PathBuf,
    /// Number of users.
    #[arg(long, default_value_t = SyntheticSpec::default().users)]
    users: usize,
    /// Number of items.
    #[arg(long, default_value_t = SyntheticSpec::default().items)]
    items: usize,
    /// Number of ratings.
    #[arg(long, default_value_t = SyntheticSpec::default().ratings)]
    ratings: usize,
    /// Dimension of the planted factors.
    #[arg(long, default_value_t = SyntheticSpec::default().rank)]
    rank: usize,
    /// Standard deviation of the Gaussian noise added to each rating, in
    /// rating points.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = SyntheticSpec::default().noise
    )]
    noise: f32,
    /// Skew of item popularity: item at popularity rank r is drawn with
    /// weight 1/(r+1)^exponent; 0 draws items evenly.
    #[arg(long, default_value_t = SyntheticSpec::default().popularity_exponent)]
    popularity_exponent: f64,
    /// Spread of user activity: sigma of the lognormal weights that share
    /// out ratings among users; 0 gives every user the same count.
    #[arg(long, default_value_t = SyntheticSpec::default().activity_spread)]
    activity_spread: f64,
    /// Seed; the same seed and settings give the same bytes.
    #[arg(long, default_value_t = SyntheticSpec::default().seed)]
    seed: u64,
    /// Replace ratings.csv and movies.csv if they exist.
    #[arg(long)]
    force: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(command) => train(command),
        Command::Recommend(command) => recommend(command),
        Command::Predict(command) => predict(command),
        Command::Similar(command) => similar(command),
        Command::Evaluate(command) => evaluate(command),
        Command::Generate(command) => generate_data(command),
    }
}

/// Writes `text` to standard output.
fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("standard output", e))
}

fn emit_json(value: &serde_json::Value) -> Result<()> {
    emit(&format!("{value}\n"))
}

fn load(path: &Path, input: &InputArgs) -> Result<(Ratings, LoadReport)> {
    let (ratings, report) = load_ratings(path, &input.options())?;
    for example in &report.skipped_examples {
        eprintln!("warning: skipped {example}");
    }
    if report.skipped_rows > report.skipped_examples.len() {
        eprintln!(
            "warning: skipped {} unreadable rows in {} in all",
            report.skipped_rows,
            path.display()
        );
    }
    if report.duplicates > 0 {
        let mut pairs = report.duplicate_examples.join("; ");
        let more = report.repeated_pairs - report.duplicate_examples.len();
        if more > 0 {
            pairs.push_str(&format!("; {more} more pairs"));
        }
        eprintln!(
            "warning: {}: {} rows repeat an earlier (user, item) pair, and \
             only the last row of each pair was kept ({pairs})",
            path.display(),
            report.duplicates
        );
    }
    Ok((ratings, report))
}

fn describe_load(ratings: &Ratings, report: &LoadReport) -> String {
    let (low, high) = ratings.range().unwrap_or((0.0, 0.0));
    let mut notes = vec![report.format.name().to_string()];
    if report.header {
        notes.push("header line skipped".into());
    }
    if report.duplicates > 0 {
        notes.push(format!("{} repeated rows collapsed", report.duplicates));
    }
    if report.skipped_rows > 0 {
        notes.push(format!("{} bad rows skipped", report.skipped_rows));
    }
    format!(
        "read {}: {} ratings, {} users, {} items, ratings {low} to {high}, \
         mean {:.4} ({})",
        report.path.display(),
        ratings.len(),
        ratings.users.len(),
        ratings.items.len(),
        ratings.mean().unwrap_or(f64::NAN),
        notes.join(", ")
    )
}

/// Shows per-epoch lines and a progress bar on standard error.
struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Progress {
    fn new(epochs: usize, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(epochs as u64),
                ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} epoch {pos}/{len}  {msg}  ({elapsed})",
                )
                .expect("progress template is valid"),
            );
            bar
        });
        Progress { bar, quiet }
    }

    fn report(&self, report: &EpochReport) {
        if self.quiet {
            return;
        }
        let mut line = format!(
            "epoch {:>3}/{}  train RMSE {:.4}",
            report.epoch, report.epochs, report.train_rmse
        );
        if let Some(rmse) = report.validation_rmse {
            line.push_str(&format!("  test RMSE {rmse:.4}"));
        }
        line.push_str(&format!(
            "  learning rate {:.5}  {:.2} s",
            report.learning_rate,
            report.elapsed.as_secs_f64()
        ));
        match &self.bar {
            Some(bar) => {
                bar.println(&line);
                bar.set_position(report.epoch as u64);
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

/// Trains with progress shown unless `quiet`.
fn train_with_progress(
    ratings: &Ratings,
    training: &TrainingArgs,
    validation: Option<&Ratings>,
) -> Result<Model> {
    let params = training.params();
    params.validate()?;
    let progress = Progress::new(params.epochs, training.quiet);
    let result = fit_with(ratings, &params, validation, &mut |report| {
        progress.report(report)
    });
    progress.finish();
    result
}

fn train(command: TrainCommand) -> Result<()> {
    let params = command.training.params();
    params.validate()?;
    if !command.force && command.model.exists() {
        return Err(Error::AlreadyExists {
            path: command.model.clone(),
        });
    }
    check_output_folder(&command.model)?;
    let (ratings, report) = load(&command.ratings, &command.input)?;
    let summary = describe_load(&ratings, &report);
    if !command.json {
        eprintln!("{summary}");
    }
    let started = Instant::now();
    let model = train_with_progress(&ratings, &command.training, None)?;
    let seconds = started.elapsed().as_secs_f64();
    let bytes = persist::to_bytes(&model)?;
    persist::write_atomically(&command.model, &bytes, command.force)?;

    if command.json {
        return emit_json(&json!({
            "ratings": ratings.len(),
            "users": ratings.users.len(),
            "items": ratings.items.len(),
            "duplicates": report.duplicates,
            "skipped_rows": report.skipped_rows,
            "global_mean": model.global_mean,
            "rating_min": model.rating_range.0,
            "rating_max": model.rating_range.1,
            "train_seconds": seconds,
            "model": command.model,
            "model_bytes": bytes.len(),
            "params": model.params,
        }));
    }
    emit(&format!(
        "trained {} factors for {} epochs on {} ratings ({} users, {} \
         items) in {seconds:.2} s\nglobal mean {:.4}, rating range {} to \
         {}\nsaved {} ({} bytes)\n",
        params.factors,
        params.epochs,
        ratings.len(),
        ratings.users.len(),
        ratings.items.len(),
        model.global_mean,
        model.rating_range.0,
        model.rating_range.1,
        command.model.display(),
        bytes.len()
    ))
}

/// Fails when the folder that is to hold `path` does not exist, so that
/// the mistake is reported before training rather than after it.
fn check_output_folder(path: &Path) -> Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => return Ok(()),
    };
    if folder.is_dir() {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "cannot write {}: the folder {} does not exist",
        path.display(),
        folder.display()
    )))
}

fn load_titles(path: Option<&Path>) -> Result<Option<ItemCatalog>> {
    let Some(path) = path else { return Ok(None) };
    let catalog = ItemCatalog::load(path)?;
    for warning in &catalog.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(Some(catalog))
}

/// Prints a ranked list as a table or as JSON with the given key.
fn emit_ranked(
    model: &Model,
    list: &[descent::model::Scored],
    catalog: Option<&ItemCatalog>,
    heading: String,
    json_head: serde_json::Value,
    json: bool,
) -> Result<()> {
    let title = |item: &str| catalog.and_then(|c| c.title(item));
    if json {
        let mut object = json_head;
        let rows: Vec<_> = list
            .iter()
            .enumerate()
            .map(|(rank, scored)| {
                let item = model.items.id(scored.item);
                json!({
                    "rank": rank + 1,
                    "item": item,
                    "score": scored.score,
                    "title": title(item),
                })
            })
            .collect();
        let key = if object.get("similar_to").is_some() {
            "similar"
        } else {
            "recommendations"
        };
        object[key] = serde_json::Value::Array(rows);
        return emit_json(&object);
    }
    let width = list
        .iter()
        .map(|s| model.items.id(s.item).len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut text =
        format!("{heading}\nrank  {:<width$}  score  title\n", "item");
    for (rank, scored) in list.iter().enumerate() {
        let item = model.items.id(scored.item);
        text.push_str(&format!(
            "{:>4}  {item:<width$}  {:>5.3}  {}\n",
            rank + 1,
            scored.score,
            title(item).unwrap_or("-")
        ));
    }
    emit(&text)
}

fn recommend(command: RecommendCommand) -> Result<()> {
    let model = persist::load(&command.model)?;
    let catalog = load_titles(command.items.as_deref())?;
    let list = model.recommend(&command.user, command.n)?;
    let user = model
        .users
        .get(&command.user)
        .expect("recommend checked it");
    let rated = model.rated_by(user).len();
    let heading = format!(
        "top {} of {} unrated items for user {} (rated {rated} items in \
         training); score is the predicted rating",
        list.len(),
        model.items.len() - rated,
        command.user
    );
    let head = json!({ "user": command.user, "n": command.n });
    emit_ranked(&model, &list, catalog.as_ref(), heading, head, command.json)
}

fn similar(command: SimilarCommand) -> Result<()> {
    let model = persist::load(&command.model)?;
    let catalog = load_titles(command.items.as_deref())?;
    let list = model.similar_items(&command.item, command.n)?;
    let heading = format!(
        "{} items most similar to item {}; score is the cosine similarity of \
         item factors",
        list.len(),
        command.item
    );
    let head = json!({ "similar_to": command.item, "n": command.n });
    emit_ranked(&model, &list, catalog.as_ref(), heading, head, command.json)
}

fn predict(command: PredictCommand) -> Result<()> {
    let model = persist::load(&command.model)?;
    let prediction = model.predict(&command.user, &command.item);
    if command.json {
        return emit_json(&json!({
            "user": command.user,
            "item": command.item,
            "prediction": prediction.value,
            "fallback": prediction.fallback.map(|f| f.name()),
        }));
    }
    match prediction.fallback {
        None => emit(&format!("{:.4}\n", prediction.value)),
        Some(fallback) => emit(&format!(
            "{:.4}  (fallback for {})\n",
            prediction.value,
            fallback.describe()
        )),
    }
}

fn evaluate(command: EvaluateCommand) -> Result<()> {
    let params = command.training.params();
    params.validate()?;
    let (train_part, test_part) = if let Some(path) = &command.ratings {
        let (all, report) = load(path, &command.input)?;
        if !command.json {
            eprintln!("{}", describe_load(&all, &report));
        }
        let split =
            random_split(all.len(), command.test_fraction, params.seed)?;
        (Some(all.subset(&split.train)), all.subset(&split.test))
    } else {
        let test_path = command.test.as_ref().expect("clap requires --test");
        let train_part = match &command.train {
            Some(path) => Some(load(path, &command.input)?.0),
            None => None,
        };
        (train_part, load(test_path, &command.input)?.0)
    };

    let started = Instant::now();
    let (model, train_seconds) = match &train_part {
        Some(train) => {
            let model = train_with_progress(
                train,
                &command.training,
                Some(&test_part),
            )?;
            (model, Some(started.elapsed().as_secs_f64()))
        }
        None => {
            let path = command.model.as_ref().expect("clap requires a source");
            (persist::load(path)?, None)
        }
    };
    let errors = rating_errors(&model, &test_part)
        .expect("loading rejects files without ratings");
    let threshold = default_relevance_threshold(&model);
    let ranking = ranking_metrics(&model, &test_part, command.n, threshold);

    if command.json {
        return emit_json(&json!({
            "rmse": errors.rmse,
            "mae": errors.mae,
            "warm_rmse": errors.warm_rmse,
            "test_ratings": errors.test_ratings,
            "train_ratings": model.train_ratings(),
            "cold_ratings": errors.cold.total(),
            "cold": errors.cold,
            "cold_scoring": "global mean plus the bias of the known id, \
                             or the global mean when both are unknown",
            "train_seconds": train_seconds,
            "ranking": ranking,
            "params": model.params,
        }));
    }
    let cold = errors.cold;
    let mut text = format!(
        "train: {} ratings ({} users, {} items); test: {} ratings\n",
        model.train_ratings(),
        model.users.len(),
        model.items.len(),
        errors.test_ratings
    );
    text.push_str(&format!(
        "cold test ratings: {} ({} of unknown users, {} of unknown items, {} \
         of both), scored with the global mean plus the known bias\n",
        cold.total(),
        cold.unknown_user,
        cold.unknown_item,
        cold.unknown_both
    ));
    text.push_str(&format!("RMSE {:.4}  MAE {:.4}", errors.rmse, errors.mae));
    if let (Some(warm), true) = (errors.warm_rmse, cold.total() > 0) {
        text.push_str(&format!("  (RMSE without cold ratings {warm:.4})"));
    }
    text.push('\n');
    if let Some(ranking) = ranking {
        text.push_str(&format!(
            "top-{n}: precision {:.4}  recall {:.4}  NDCG {:.4} over {} users \
             (relevant: test rating >= {})\n",
            ranking.precision,
            ranking.recall,
            ranking.ndcg,
            ranking.users,
            ranking.relevance_threshold,
            n = ranking.n
        ));
    }
    if let Some(seconds) = train_seconds {
        text.push_str(&format!("trained in {seconds:.2} s\n"));
    }
    emit(&text)
}

fn generate_data(command: GenerateCommand) -> Result<()> {
    let spec = SyntheticSpec {
        users: command.users,
        items: command.items,
        ratings: command.ratings,
        rank: command.rank,
        noise: command.noise,
        popularity_exponent: command.popularity_exponent,
        activity_spread: command.activity_spread,
        seed: command.seed,
    };
    spec.validate()?;
    let data = generate(&spec)?;
    data.write(&command.out, command.force)?;
    let floor = data.noise_floor();
    if command.json {
        return emit_json(&json!({
            "ratings": data.ratings.len(),
            "users": data.ratings.users.len(),
            "items": data.ratings.items.len(),
            "noise_floor_rmse": floor,
            "out": command.out,
        }));
    }
    emit(&format!(
        "wrote {} ratings ({} users, {} items) to {} and movies.csv beside \
         it\nnoise floor RMSE {floor:.4}: the planted model itself scores \
         this on these ratings, and no model can do better on average\n",
        data.ratings.len(),
        data.ratings.users.len(),
        data.ratings.items.len(),
        command.out.join("ratings.csv").display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

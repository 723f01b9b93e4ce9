//! Command-line definitions and the code shared by the subcommands.

mod batch;
mod evaluate;
mod generate;
mod query;
mod serve;
mod train;
mod tune;
mod values;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};

use evaluate::EvaluateCommand;
use generate::GenerateCommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use query::{PredictCommand, RecommendCommand, SimilarCommand};
use serde_json::json;
use serve::ServeCommand;
use train::TrainCommand;
use tune::TuneCommand;

use descent::data::generate::{generate, SyntheticSpec};
use descent::data::items::ItemCatalog;
use descent::data::load::{load_ratings, Format, LoadOptions, LoadReport};
use descent::data::split::random_split;
use descent::data::Ratings;
use descent::model::persist;
use descent::plural::{count, form};
use descent::{fit_with, EpochReport, Error, Model, Result, TrainParams};
use values::{whole, Real, MAX_THREADS};

/// Biased matrix factorization recommender trained with parallel SGD.
///
/// Ratings files are MovieLens `ratings.csv` (userId,movieId,rating,
/// timestamp), tab-separated `u.data`, `::`-separated `ratings.dat`, or
/// whitespace-separated `user item rating` lines. User and item ids are
/// taken as written, but may not contain control characters or byte order
/// marks.
///
/// Input files may be regular files or pipes: a named pipe (FIFO),
/// /dev/stdin or a shell process substitution such as <(zcat
/// ratings.csv.gz) is read once as a stream, after a warning if no process
/// opens it for writing within a second. `-` in place of an input file
/// reads standard input. Directories and devices such as /dev/zero are
/// rejected, and so is a line longer than 1 MiB.
#[derive(Parser, Debug)]
#[command(name = "descent", version, about, max_term_width = 100)]
pub struct Cli {
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
    /// the training range. A user absent from training is an error unless
    /// --cold-start picks a labelled list that is not personalized.
    /// --all and --users list many users as CSV or JSON lines;
    /// --ratings-of fits a new user to their ratings without retraining.
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
    /// Reports RMSE and MAE of the predicted ratings next to the global
    /// mean and a damped bias baseline, and the precision, recall, NDCG,
    /// MAP, hit rate and coverage of top-N lists next to the most popular
    /// items. Splits rows at random, per user, by time, or into k folds
    /// for cross-validation.
    Evaluate(EvaluateCommand),
    /// Write a synthetic MovieLens-shaped data set from a planted model.
    Generate(GenerateCommand),
    /// Search training settings by k-fold cross-validation.
    ///
    /// Tries every combination of the listed values (or random draws),
    /// trains each on every fold in parallel with one thread per run,
    /// writes the results table as CSV and JSON, and prints the `descent
    /// train` options of the best candidate.
    Tune(TuneCommand),
    /// Serve a model over HTTP as a JSON API.
    ///
    /// Endpoints: GET /health, GET /users/{id}/recommendations, GET
    /// /items/{id}/similar, POST /predict, POST /recommend (fold-in of a
    /// new user's ratings) and POST /reload. Logs one line per request on
    /// standard error and stops cleanly on SIGINT or SIGTERM.
    Serve(ServeCommand),
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
    /// A dense matrix: one line per user, one column per item, 0 for a
    /// missing rating; ids are row and column numbers from 0.
    Matrix,
}

#[derive(Args, Debug)]
struct InputArgs {
    /// Separator of the input ratings files.
    #[arg(
        long,
        visible_alias = "input-format",
        value_enum,
        default_value = "auto"
    )]
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
            FormatArg::Matrix => Some(Format::Matrix),
        };
        LoadOptions {
            format,
            skip_bad_rows: self.skip_bad_rows,
        }
    }
}

#[derive(Args, Debug)]
struct TrainingArgs {
    /// Length of each user and item factor vector, 1 to 4096.
    #[arg(
        long,
        default_value_t = TrainParams::default().factors,
        value_parser = whole(1, TrainParams::MAX_FACTORS as u64)
    )]
    factors: usize,
    /// Passes over the training ratings, 1 to 10000.
    #[arg(
        long,
        default_value_t = TrainParams::default().epochs,
        value_parser = whole(1, TrainParams::MAX_EPOCHS as u64)
    )]
    epochs: usize,
    /// SGD step size of the factors in the first epoch, above 0. With --adagrad
    /// true, each user and item row divides it by the root of its AdaGrad
    /// sum.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = TrainParams::default().learning_rate,
        value_parser = Real
    )]
    learning_rate: f32,
    /// Whether each user and item row divides its factor step by the root
    /// of a running sum of its squared gradient norms / 128, like LIBMF's
    /// AdaGrad steps (true or false).
    #[arg(
        long,
        action = clap::ArgAction::Set,
        default_value_t = TrainParams::default().adagrad
    )]
    adagrad: bool,
    /// Starting value of each row's AdaGrad sum, above 0; the first factor
    /// step of a row is --learning-rate / sqrt(this).
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = TrainParams::default().adagrad_initial_accumulator,
        value_parser = Real
    )]
    adagrad_initial_accumulator: f32,
    /// SGD step size of the biases in the first epoch, above 0; shrinks by
    /// --decay like --learning-rate.
    #[arg(long, allow_hyphen_values = true, default_value_t = TrainParams::default().bias_learning_rate,
        value_parser = Real)]
    bias_learning_rate: f32,
    /// Step size multiplier applied after each epoch, in (0, 1].
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = TrainParams::default().decay,
        value_parser = Real
    )]
    decay: f32,
    /// L2 penalty on user and item factors, 0 or more.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = TrainParams::default().regularization,
        value_parser = Real
    )]
    regularization: f32,
    /// Exponent of the factor penalty's scaling by a row's rating count n,
    /// 0 to 1: each update applies regularization x (100 / n)^exponent, so
    /// 0 treats every update alike and 1 gives every user and item the
    /// same total.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = TrainParams::default().regularization_exponent,
        value_parser = Real
    )]
    regularization_exponent: f32,
    /// L2 penalty on user and item biases, 0 or more.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = TrainParams::default().bias_regularization,
        value_parser = Real
    )]
    bias_regularization: f32,
    /// Standard deviation of the initial factors, above 0.
    #[arg(
        long,
        allow_hyphen_values = true,
        default_value_t = TrainParams::default().init_std,
        value_parser = Real
    )]
    init_std: f32,
    /// Seed of every random choice; the same seed and --blocks give the
    /// same model for any --threads.
    #[arg(long, default_value_t = TrainParams::default().seed)]
    seed: u64,
    /// Worker threads, 0 to 1024; 0 uses one per core.
    #[arg(
        long,
        default_value_t = 0,
        value_parser = whole(0, TrainParams::MAX_THREADS as u64)
    )]
    threads: usize,
    /// Bands per side of the block schedule, 0 to 1024; 0 picks max(8, 2 x
    /// threads), lowered (not below 8) until blocks average at least 256
    /// ratings.
    #[arg(
        long,
        default_value_t = 0,
        value_parser = whole(0, TrainParams::MAX_BLOCKS as u64)
    )]
    blocks: usize,
    /// Print no per-epoch lines or progress bar.
    #[arg(long, short)]
    quiet: bool,
}

impl TrainingArgs {
    /// Warns when --threads is above the number of cores:
    /// the extra threads only take turns, and each epoch waits for them.
    fn warn_extra_threads(&self) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if self.threads > cores {
            eprintln!(
                "warning: --threads {} is more than the {} of this machine, \
                 so training runs slower than with --threads 0 (one per core)",
                self.threads,
                count(cores, "core")
            );
        }
    }

    fn params(&self) -> TrainParams {
        TrainParams {
            factors: self.factors,
            epochs: self.epochs,
            learning_rate: self.learning_rate,
            adagrad: self.adagrad,
            adagrad_initial_accumulator: self.adagrad_initial_accumulator,
            bias_learning_rate: self.bias_learning_rate,
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

pub fn run(cli: Cli) -> Result<()> {
    // `serve` sets up its own log lines and handles its own signals.
    if !matches!(cli.command, Command::Serve(_)) {
        init_warnings();
        remove_outputs_on_interrupt();
    }
    match cli.command {
        Command::Train(command) => train::run(command),
        Command::Recommend(command) => query::recommend(command),
        Command::Predict(command) => query::predict(command),
        Command::Similar(command) => query::similar(command),
        Command::Evaluate(command) => evaluate::run(command),
        Command::Generate(command) => generate::run(command),
        Command::Tune(command) => tune::run(command),
        Command::Serve(command) => serve::run(command),
    }
}

/// On Ctrl-C or a termination signal, removes the temporary files of
/// outputs being written and exits with code 130, as a shell reports an
/// interrupted command.
fn remove_outputs_on_interrupt() {
    let installed = ctrlc::set_handler(|| {
        persist::remove_unfinished_outputs();
        std::process::exit(130);
    });
    if let Err(error) = installed {
        eprintln!(
            "warning: cannot watch for Ctrl-C ({error}); an interrupted \
             write may leave a .descent-* file behind"
        );
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

/// Converts `value` to JSON with each `f32` written as its shortest
/// decimal, as `serde_json::to_string` writes it, so that 0.015 stays
/// 0.015. `serde_json::to_value` and `json!` widen an `f32` to the `f64`
/// 0.014999999664723873 instead.
fn to_json(value: &impl serde::Serialize) -> serde_json::Value {
    let text =
        serde_json::to_string(value).expect("output types serialize to JSON");
    serde_json::from_str(&text).expect("serde_json reads its own output")
}

/// Prints the warnings that the library logs, such as the wait for a
/// named pipe, on standard error as `warning: MESSAGE` lines. `RUST_LOG`
/// changes the level, as for `serve`.
fn init_warnings() {
    use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields};
    use tracing_subscriber::fmt::FmtContext;
    use tracing_subscriber::registry::LookupSpan;

    struct Plain;

    impl<S, N> FormatEvent<S, N> for Plain
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        fn format_event(
            &self,
            context: &FmtContext<'_, S, N>,
            mut writer: format::Writer<'_>,
            event: &tracing::Event<'_>,
        ) -> std::fmt::Result {
            let label = match *event.metadata().level() {
                tracing::Level::ERROR => "error",
                tracing::Level::WARN => "warning",
                _ => "note",
            };
            write!(writer, "{label}: ")?;
            context
                .field_format()
                .format_fields(writer.by_ref(), event)?;
            writeln!(writer)
        }
    }

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // `try_init` fails only when a subscriber is already set, and that one
    // prints the warnings.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(Plain)
        .try_init();
}

fn load(path: &Path, input: &InputArgs) -> Result<(Ratings, LoadReport)> {
    let (ratings, report) = load_ratings(path, &input.options())?;
    for example in &report.skipped_examples {
        eprintln!("warning: skipped {example}");
    }
    if report.skipped_rows > report.skipped_examples.len() {
        eprintln!(
            "warning: skipped {} in {} in all",
            count(report.skipped_rows, "unreadable row"),
            path.display()
        );
    }
    if report.duplicates > 0 {
        let mut pairs = report.duplicate_examples.join("; ");
        let more = report.repeated_pairs - report.duplicate_examples.len();
        if more > 0 {
            pairs.push_str(&format!("; {}", count(more, "more pair")));
        }
        eprintln!(
            "warning: {}: {} {} an earlier (user, item) pair, and only the \
             last row of each pair was kept ({pairs})",
            path.display(),
            count(report.duplicates, "row"),
            form(report.duplicates, "repeats", "repeat")
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
        notes.push(format!(
            "{} collapsed",
            count(report.duplicates, "repeated row")
        ));
    }
    if report.skipped_rows > 0 {
        notes
            .push(format!("{} skipped", count(report.skipped_rows, "bad row")));
    }
    format!(
        "read {}: {}, {}, {}, ratings {low} to {high}, mean {:.4} ({})",
        report.path.display(),
        count(ratings.len(), "rating"),
        count(ratings.users.len(), "user"),
        count(ratings.items.len(), "item"),
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
            "  learning rate {:.5}  {:.2} s elapsed",
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

/// Fails when the folder that is to hold `path` does not exist, so that
/// the mistake is reported before training rather than after it.
fn check_output_folder(path: &Path) -> Result<()> {
    if path == Path::new("-") {
        return Err(Error::Invalid(
            "cannot write to - (standard output) here; name a file".into(),
        ));
    }
    persist::check_replaceable(path)?;
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        let problem = if folder.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        return Err(Error::Invalid(format!(
            "cannot write {}: {} {problem}",
            path.display(),
            folder.display()
        )));
    }
    // Creating and removing a temporary file finds a folder that refuses
    // new files now, not after a long training.
    persist::output_tempfile(folder).map(drop)
}

/// Checks that no output names an input or another output, comparing the
/// files themselves, so `./a` and `a` or two hard links clash too. Each
/// pair is the option's name and its path.
pub(super) fn check_distinct_files(
    inputs: &[(&str, &Path)],
    outputs: &[(&str, &Path)],
) -> Result<()> {
    // Standard input has no file of its own to destroy.
    let is_stdin = |path: &Path| path == Path::new("-");
    for (position, &(name, path)) in outputs.iter().enumerate() {
        let earlier = inputs.iter().chain(&outputs[..position]);
        for &(other_name, other) in earlier.filter(|(_, p)| !is_stdin(p)) {
            if same_place(path, other) {
                return Err(Error::Invalid(format!(
                    "{name} {} names the same file as {other_name} {}; \
                     writing it would destroy that file, so give {name} a \
                     path of its own",
                    path.display(),
                    other.display()
                )));
            }
        }
    }
    Ok(())
}

/// Tells whether two paths lead to the same file: the same existing file,
/// or the same name in the same folder for a file not yet written.
fn same_place(a: &Path, b: &Path) -> bool {
    if same_file::is_same_file(a, b).unwrap_or(false) {
        return true;
    }
    let place = |path: &Path| {
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        Some((folder.canonicalize().ok()?, path.file_name()?.to_owned()))
    };
    match (place(a), place(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
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

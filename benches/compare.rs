//! Trains descent and LIBMF on the same synthetic ratings and prints one
//! markdown table of speed and held-out RMSE.
//!
//! ```text
//! cargo bench --bench compare -- [--ratings 1000000] [--factors 32,64,128]
//!     [--threads 1,2] [--epochs 20] [--repeats 3] [--large]
//!     [--only descent|libmf]
//! ```
//!
//! Each data set is generated once and split 90/10 into training and test
//! ratings. Both systems train on the same training ratings with the same
//! factors, epochs and threads, and both are scored on the test ratings
//! whose user and item occur in training, with predictions clipped to the
//! training range.
//!
//! Without `--bench`, which `cargo bench` passes and `cargo test` does not,
//! the binary only checks that both systems run, on 20 000 ratings.

use std::error::Error;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use descent::data::generate::{generate, SyntheticSpec};
use descent::data::split::random_split;
use descent::data::Ratings;
use descent::{fit_with, Model, TrainParams, Trainer};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Share of each data set held out for testing.
const TEST_FRACTION: f64 = 0.1;
/// Ratings of the extra data set that `--large` adds.
const LARGE_RATINGS: usize = 10_000_000;
/// Average ratings per user and per item of the generated sets. They match
/// the 20 000 users x 5 000 items of the 1M set in `benches/sgd.rs`.
const RATINGS_PER_USER: usize = 50;
const RATINGS_PER_ITEM: usize = 200;

/// LIBMF settings: its own defaults for real-valued matrix factorization
/// (learning rate 0.1, L2 penalties 0.1), as set by `mf_get_default_param`
/// in LIBMF 2.01 as vendored by the `libmf` 0.4 crate.
const LIBMF_LEARNING_RATE: f32 = 0.1;
const LIBMF_LAMBDA: f32 = 0.1;

#[derive(Parser, Debug)]
#[command(about = "Compare the training speed and accuracy of descent \
                   and LIBMF on synthetic ratings")]
struct Options {
    /// Sizes of the generated data sets, in ratings (comma-separated).
    /// Each set has ratings/50 users and ratings/200 items.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000_000])]
    ratings: Vec<usize>,
    /// Also run a set of 10 000 000 ratings (needs about 4 GB of memory).
    #[arg(long)]
    large: bool,
    /// Factor counts to train with (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [32, 64, 128])]
    factors: Vec<usize>,
    /// Thread counts to train with (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2])]
    threads: Vec<usize>,
    /// Passes over the training ratings, for both systems.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Timed trainings per configuration; the run with the median time is
    /// reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Train only one system, for example to measure its peak memory with
    /// `/usr/bin/time -v`.
    #[arg(long, value_enum)]
    only: Option<System>,
    /// Seed of the generated data and of the split.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Set by `cargo bench`; without it only a small check runs.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum System {
    Descent,
    Libmf,
}

impl Options {
    fn runs(&self, system: System) -> bool {
        self.only.is_none_or(|only| only == system)
    }

    /// Replaces the sizes and settings with a run of a few seconds.
    fn shrink_to_check(&mut self) {
        self.ratings = vec![20_000];
        self.large = false;
        self.factors = vec![8];
        self.threads = vec![1];
        self.epochs = 2;
        self.repeats = 1;
    }

    fn sizes(&self) -> Vec<usize> {
        let mut sizes = self.ratings.clone();
        if self.large && !sizes.contains(&LARGE_RATINGS) {
            sizes.push(LARGE_RATINGS);
        }
        sizes
    }

    fn validate(&self) -> Result<()> {
        let lists = [
            ("--ratings", &self.ratings),
            ("--factors", &self.factors),
            ("--threads", &self.threads),
        ];
        for (name, values) in lists {
            if values.is_empty() || values.contains(&0) {
                return Err(format!("{name} must list numbers above 0").into());
            }
        }
        if self.ratings.iter().any(|&r| r < RATINGS_PER_ITEM) {
            let message =
                format!("--ratings must be at least {RATINGS_PER_ITEM}");
            return Err(message.into());
        }
        if self.epochs == 0 || self.repeats == 0 {
            return Err("--epochs and --repeats must be above 0".into());
        }
        Ok(())
    }
}

/// Sizes of one generated data set and of its split.
struct DataSummary {
    users: usize,
    items: usize,
    ratings: usize,
    train_len: usize,
    test_len: usize,
    /// Test ratings whose user and item occur in training.
    known_test_len: usize,
    /// RMSE of the planted means on the known test ratings: the best any
    /// model can expect.
    noise_floor: f64,
}

/// One generated data set, split and converted for both systems.
struct Prepared {
    summary: DataSummary,
    /// Training ratings for descent; `None` when descent does not run.
    train: Option<Ratings>,
    /// Test ratings whose user and item occur in training.
    test: Ratings,
    /// Training ratings for LIBMF, indexed like the generated set;
    /// `None` when LIBMF does not run.
    libmf_train: Option<libmf::Matrix>,
    /// `test` as (user, item, rating) in LIBMF's indices.
    libmf_test: Vec<(i32, i32, f32)>,
    /// Smallest and largest training rating.
    range: (f32, f32),
}

fn prepare(ratings: usize, options: &Options) -> Result<Prepared> {
    let spec = SyntheticSpec {
        users: (ratings / RATINGS_PER_USER).max(1),
        items: (ratings / RATINGS_PER_ITEM).max(1),
        ratings,
        seed: options.seed,
        ..SyntheticSpec::default()
    };
    let started = Instant::now();
    let synthetic = generate(&spec)?;
    let all = &synthetic.ratings;
    let split = random_split(all.len(), TEST_FRACTION, options.seed)?;

    let mut user_counts = vec![0u32; all.users.len()];
    let mut item_counts = vec![0u32; all.items.len()];
    for &position in &split.train {
        let rating = all.entries[position];
        user_counts[rating.user as usize] += 1;
        item_counts[rating.item as usize] += 1;
    }
    let known_test: Vec<usize> = split
        .test
        .iter()
        .copied()
        .filter(|&position| {
            let rating = all.entries[position];
            user_counts[rating.user as usize] > 0
                && item_counts[rating.item as usize] > 0
        })
        .collect();

    let train = options
        .runs(System::Descent)
        .then(|| all.subset(&split.train));
    let libmf_train = options.runs(System::Libmf).then(|| {
        let mut matrix = libmf::Matrix::with_capacity(split.train.len());
        for &position in &split.train {
            let rating = all.entries[position];
            matrix.push(rating.user as i32, rating.item as i32, rating.value);
        }
        matrix
    });
    let libmf_test = known_test
        .iter()
        .map(|&position| {
            let rating = all.entries[position];
            (rating.user as i32, rating.item as i32, rating.value)
        })
        .collect();
    let range = split.train.iter().fold(
        (f32::INFINITY, f32::NEG_INFINITY),
        |(low, high), &position| {
            let value = all.entries[position].value;
            (low.min(value), high.max(value))
        },
    );
    let summary = DataSummary {
        users: spec.users,
        items: spec.items,
        ratings,
        train_len: split.train.len(),
        test_len: split.test.len(),
        known_test_len: known_test.len(),
        noise_floor: synthetic.noise_floor_at(&known_test),
    };
    let prepared = Prepared {
        summary,
        train,
        test: all.subset(&known_test),
        libmf_train,
        libmf_test,
        range,
    };
    eprintln!(
        "generated and split {ratings} ratings in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(prepared)
}

/// Timings and accuracy of one system in one configuration.
struct Measured {
    system: &'static str,
    factors: usize,
    threads: usize,
    train_len: usize,
    /// Set-up time within `train_seconds`, when measured separately.
    setup_seconds: Option<f64>,
    /// Wall time from ratings in memory to a trained model, set-up
    /// included, of the run with the median time.
    train_seconds: f64,
    test_rmse: f64,
    /// Time to reach LIBMF's final test RMSE; `None` when not reached or
    /// when LIBMF did not run.
    seconds_to_target: Option<f64>,
    epochs: usize,
}

impl Measured {
    fn updates_per_second(&self) -> f64 {
        (self.train_len * self.epochs) as f64 / self.train_seconds
    }
}

/// Returns the index of the median of `values`, the lower one for an even
/// count, so that it names a run that happened.
fn median_index(values: &[f64]) -> usize {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    order[(order.len() - 1) / 2]
}

fn median(values: &[f64]) -> f64 {
    values[median_index(values)]
}

fn clipped_rmse(
    triples: &[(i32, i32, f32)],
    range: (f32, f32),
    predict: impl Fn(i32, i32) -> f32,
) -> f64 {
    let sum: f64 = triples
        .iter()
        .map(|&(user, item, value)| {
            let predicted = predict(user, item).clamp(range.0, range.1);
            f64::from(value - predicted).powi(2)
        })
        .sum();
    (sum / triples.len() as f64).sqrt()
}

/// Trains LIBMF `options.repeats` times and reports the run with the
/// median time, with the median test RMSE of all runs.
fn run_libmf(
    data: &Prepared,
    matrix: &libmf::Matrix,
    factors: usize,
    threads: usize,
    options: &Options,
) -> Result<Measured> {
    let mut seconds = Vec::new();
    let mut rmses = Vec::new();
    for _ in 0..options.repeats {
        let started = Instant::now();
        let model = libmf::Model::params()
            .factors(i32::try_from(factors)?)
            .threads(i32::try_from(threads)?)
            .iterations(i32::try_from(options.epochs)?)
            .learning_rate(LIBMF_LEARNING_RATE)
            .lambda_p2(LIBMF_LAMBDA)
            .lambda_q2(LIBMF_LAMBDA)
            .quiet(true)
            .fit(matrix)?;
        seconds.push(started.elapsed().as_secs_f64());
        rmses.push(clipped_rmse(&data.libmf_test, data.range, |u, i| {
            model.predict(u, i)
        }));
    }
    let train_seconds = median(&seconds);
    Ok(Measured {
        system: "LIBMF",
        factors,
        threads,
        train_len: data.summary.train_len,
        setup_seconds: None,
        train_seconds,
        test_rmse: median(&rmses),
        seconds_to_target: Some(train_seconds),
        epochs: options.epochs,
    })
}

/// One timed descent training: set-up time, then the cumulative time
/// (set-up included) after each epoch.
struct DescentTiming {
    setup: f64,
    after_epoch: Vec<f64>,
}

fn time_descent(
    train: &Ratings,
    params: &TrainParams,
) -> Result<(DescentTiming, Model)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(params.threads)
        .build()?;
    pool.install(|| {
        let started = Instant::now();
        let mut trainer = Trainer::new(train, params)?;
        let setup = started.elapsed().as_secs_f64();
        let mut after_epoch = Vec::with_capacity(params.epochs);
        for _ in 0..params.epochs {
            trainer.epoch()?;
            after_epoch.push(started.elapsed().as_secs_f64());
        }
        let timing = DescentTiming { setup, after_epoch };
        Ok((timing, trainer.into_model()))
    })
}

/// Trains descent `options.repeats` times without evaluation, timing each
/// epoch, then once more through `fit_with` to get the test RMSE after each
/// epoch. Both trainings produce the same model, because with a fixed seed
/// and band count the result does not depend on timing; that is checked.
fn run_descent(
    data: &Prepared,
    train: &Ratings,
    factors: usize,
    threads: usize,
    target_rmse: Option<f64>,
    options: &Options,
) -> Result<Measured> {
    let params = TrainParams {
        factors,
        epochs: options.epochs,
        threads,
        ..TrainParams::default()
    };
    let mut timings = Vec::new();
    let mut timed_model = None;
    for _ in 0..options.repeats {
        let (timing, model) = time_descent(train, &params)?;
        timings.push(timing);
        timed_model = Some(model);
    }
    let totals: Vec<f64> = timings
        .iter()
        .map(|timing| *timing.after_epoch.last().expect("epochs >= 1"))
        .collect();
    let timing = &timings[median_index(&totals)];

    let mut rmse_after_epoch = Vec::with_capacity(options.epochs);
    let model = fit_with(train, &params, Some(&data.test), &mut |report| {
        rmse_after_epoch.push(report.validation_rmse.unwrap_or(f64::NAN));
    })?;
    if Some(model) != timed_model {
        return Err("the descent model trained with fit_with differs from \
                    the timed one, so the RMSE after each epoch cannot be \
                    matched with the epoch times"
            .into());
    }

    let trajectory: Vec<String> = rmse_after_epoch
        .iter()
        .map(|rmse| format!("{rmse:.4}"))
        .collect();
    eprintln!(
        "descent: {factors} factors: test RMSE after each epoch: {}",
        trajectory.join(" ")
    );

    let seconds_to_target = target_rmse.and_then(|target| {
        rmse_after_epoch
            .iter()
            .position(|&rmse| rmse <= target)
            .map(|epoch| timing.after_epoch[epoch])
    });
    Ok(Measured {
        system: "descent",
        factors,
        threads,
        train_len: data.summary.train_len,
        setup_seconds: Some(timing.setup),
        train_seconds: totals[median_index(&totals)],
        test_rmse: *rmse_after_epoch.last().expect("epochs >= 1"),
        seconds_to_target,
        epochs: options.epochs,
    })
}

/// Measures every system, factor count and thread count on one data set.
fn measure(data: &Prepared, options: &Options) -> Result<Vec<Measured>> {
    let mut rows = Vec::new();
    for &factors in &options.factors {
        for &threads in &options.threads {
            let libmf = match &data.libmf_train {
                Some(matrix) => {
                    Some(run_libmf(data, matrix, factors, threads, options)?)
                }
                None => None,
            };
            let target = libmf.as_ref().map(|row| row.test_rmse);
            if let Some(train) = &data.train {
                let descent = run_descent(
                    data, train, factors, threads, target, options,
                )?;
                eprintln!(
                    "descent: {factors} factors, {threads} threads: \
                     {:.2} s, RMSE {:.4}",
                    descent.train_seconds, descent.test_rmse
                );
                rows.push(descent);
            }
            if let Some(libmf) = libmf {
                eprintln!(
                    "LIBMF: {factors} factors, {threads} threads: \
                     {:.2} s, RMSE {:.4}",
                    libmf.train_seconds, libmf.test_rmse
                );
                rows.push(libmf);
            }
        }
    }
    Ok(rows)
}

fn format_rate(per_second: f64) -> String {
    format!("{:.2} M", per_second / 1e6)
}

fn format_seconds(seconds: Option<f64>, missing: &str) -> String {
    seconds.map_or_else(|| missing.to_string(), |s| format!("{s:.2}"))
}

/// Prints the table; the ratio column compares each row with the LIBMF row
/// of the same data set, factors and threads.
fn print_table(rows: &[Measured]) {
    println!(
        "| system | factors | threads | train ratings | set-up s | \
         train s | updates/s | test RMSE | s to LIBMF RMSE | \
         updates/s vs LIBMF |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for row in rows {
        let libmf = rows.iter().find(|other| {
            other.system == "LIBMF"
                && other.factors == row.factors
                && other.threads == row.threads
                && other.train_len == row.train_len
        });
        let ratio = libmf.map_or("n/a".to_string(), |libmf| {
            let ratio = row.updates_per_second() / libmf.updates_per_second();
            format!("{ratio:.2}")
        });
        let missing = if libmf.is_some() {
            "not reached"
        } else {
            "n/a"
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.2} | {} | {:.4} | {} | {} |",
            row.system,
            row.factors,
            row.threads,
            row.train_len,
            format_seconds(row.setup_seconds, "in train s"),
            row.train_seconds,
            format_rate(row.updates_per_second()),
            row.test_rmse,
            format_seconds(row.seconds_to_target, missing),
            ratio,
        );
    }
}

fn print_setup(data: &[DataSummary], options: &Options) {
    let defaults = TrainParams::default();
    println!(
        "epochs: {}, timed runs per row: {} (median time reported)",
        options.epochs, options.repeats
    );
    for set in data {
        println!(
            "- {} users x {} items x {} ratings: {} train, {} test, \
             {} test ratings with a known user and item, \
             noise floor on them {:.4}",
            set.users,
            set.items,
            set.ratings,
            set.train_len,
            set.test_len,
            set.known_test_len,
            set.noise_floor,
        );
    }
    println!(
        "- descent: learning rate {} decayed by {} per epoch, \
         regularization {}, bias regularization {}, seed {}, blocks \
         max(8, 2 x threads); set-up is Trainer::new, timed separately and \
         included in train s",
        defaults.learning_rate,
        defaults.decay,
        defaults.regularization,
        defaults.bias_regularization,
        defaults.seed,
    );
    println!(
        "- LIBMF (libmf crate 0.4): learning rate {LIBMF_LEARNING_RATE}, \
         lambda_p2 = lambda_q2 = {LIBMF_LAMBDA}, 25 bins; train s is the \
         whole fit call, its own set-up included; its model has a global \
         mean but no user or item biases"
    );
    println!(
        "- test RMSE: predictions clipped to the training range; \
         s to LIBMF RMSE: time until the first epoch at or below LIBMF's \
         final test RMSE"
    );
    println!();
}

/// Returns the peak resident set size of this process in KiB, from
/// `VmHWM` in `/proc/self/status` (Linux only).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn report_peak_rss(stage: &str) {
    if let Some(kib) = peak_rss_kib() {
        eprintln!("peak RSS {stage}: {} MiB", kib / 1024);
    }
}

fn main() -> Result<()> {
    let mut options = Options::parse();
    if !options.bench {
        eprintln!(
            "compare: no --bench flag, so only checking that both systems \
             run; use `cargo bench --bench compare` to measure"
        );
        options.shrink_to_check();
    }
    options.validate()?;

    let mut summaries = Vec::new();
    let mut rows = Vec::new();
    for ratings in options.sizes() {
        let data = prepare(ratings, &options)?;
        report_peak_rss("after data preparation");
        rows.extend(measure(&data, &options)?);
        summaries.push(data.summary);
    }
    report_peak_rss("at the end");

    print_setup(&summaries, &options);
    print_table(&rows);
    Ok(())
}

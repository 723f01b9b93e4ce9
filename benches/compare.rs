//! Trains descent and LIBMF on the same synthetic ratings and prints one
//! markdown table of speed, test RMSE and memory.
//!
//! ```text
//! cargo bench --bench compare -- [--ratings 1000000,10000000]
//!     [--factors 32,64,128]
//!     [--threads 1,2] [--epochs 20] [--repeats 3] [--large]
//!     [--only descent,libmf,discorec]
//! ```
//!
//! Each data set is generated once and split 90/10 into training and test
//! ratings. Both systems train on the same training ratings with the same
//! factors, epochs and threads, and both are scored on the test ratings
//! whose user and item occur in training, with predictions clipped to the
//! training range.
//!
//! `discorec` (pure Rust, coordinate descent on one thread) runs in the
//! rows with 1 thread only, with its defaults apart from factors and
//! iterations (one per epoch).
//!
//! Without `--bench`, which `cargo bench` passes and `cargo test` does not,
//! the binary only checks that both systems run, on 20 000 ratings.
//! Results are recorded in `BENCHMARKS.md`, section "Training speed".

use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use descent::data::generate::{generate, SyntheticSpec};
use descent::data::split::{random_split, Split};
use descent::data::Ratings;
use descent::{TrainParams, Trainer};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// Share of each data set held out for testing.
const TEST_FRACTION: f64 = 0.1;
/// Ratings of the extra data set that `--large` adds.
const LARGE_RATINGS: usize = 25_000_000;
/// Average ratings per user and per item of the generated sets. They match
/// the 20 000 users x 5 000 items of the 1M set in `benches/sgd.rs`.
const RATINGS_PER_USER: usize = 50;
const RATINGS_PER_ITEM: usize = 200;

/// LIBMF settings: its own defaults for real-valued matrix factorization
/// (learning rate 0.1, L2 penalties 0.1), as set by `mf_get_default_param`
/// in the LIBMF source that the `libmf` 0.4 crate compiles.
const LIBMF_LEARNING_RATE: f32 = 0.1;

/// Learning rate of descent's plain-SGD rows: the default before AdaGrad
/// became the default, chosen for plain SGD on the MovieLens folds.
const PLAIN_LEARNING_RATE: f32 = 0.015;
const LIBMF_LAMBDA: f32 = 0.1;

#[derive(Parser, Debug)]
#[command(about = "Compare the training speed and accuracy of descent \
                   and LIBMF on synthetic ratings")]
struct Options {
    /// Sizes of the generated data sets, in ratings (comma-separated).
    /// Each set has ratings/50 users and ratings/200 items.
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = [1_000_000, 10_000_000]
    )]
    ratings: Vec<usize>,
    /// Also run a set of 25 000 000 ratings (about 2 GiB of memory at the
    /// peak for both systems together).
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
    /// Also train descent with plain SGD (--adagrad false, learning rate
    /// 0.015), which converges faster in 20 epochs at 32 factors.
    #[arg(long, action = clap::ArgAction::Set, default_value_t = true)]
    plain_sgd: bool,
    /// Train only these systems (comma-separated), for example one at a
    /// time to measure its peak memory with `/usr/bin/time -v`.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<System>,
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
    Discorec,
}

impl Options {
    fn runs(&self, system: System) -> bool {
        self.only.is_empty() || self.only.contains(&system)
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
                let message =
                    format!("invalid {name} {values:?}: each must be above 0");
                return Err(message.into());
            }
        }
        if let Some(r) = self.ratings.iter().find(|&&r| r < RATINGS_PER_ITEM) {
            let message = format!(
                "invalid --ratings {r}: must be at least {RATINGS_PER_ITEM}"
            );
            return Err(message.into());
        }
        let counts = [("--epochs", self.epochs), ("--repeats", self.repeats)];
        for (name, value) in counts {
            if value == 0 {
                return Err(format!("invalid {name} 0: must be above 0").into());
            }
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
    /// Training ratings for discorec, indexed like the generated set;
    /// `None` when discorec does not run.
    discorec_train: Option<Vec<(u32, u32, f32)>>,
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
    let known_test = known_test_positions(all, &split);

    let summary = DataSummary {
        users: spec.users,
        items: spec.items,
        ratings,
        train_len: split.train.len(),
        test_len: split.test.len(),
        known_test_len: known_test.len(),
        noise_floor: synthetic.noise_floor_at(&known_test),
    };
    let train = options
        .runs(System::Descent)
        .then(|| ratings_without_timestamps(all, &split.train));
    let libmf_train = options
        .runs(System::Libmf)
        .then(|| libmf_matrix(all, &split.train));
    let discorec_train = options.runs(System::Discorec).then(|| {
        split
            .train
            .iter()
            .map(|&position| {
                let rating = all.entries[position];
                (rating.user, rating.item, rating.value)
            })
            .collect()
    });
    let prepared = Prepared {
        summary,
        train,
        test: ratings_without_timestamps(all, &known_test),
        libmf_train,
        libmf_test: triples(all, &known_test),
        discorec_train,
        range: value_range(all, &split.train),
    };
    eprintln!(
        "generated and split {ratings} ratings in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(prepared)
}

/// Returns the ratings at `positions` without their timestamps, which
/// neither system uses, so that both hold 12 bytes per rating in memory.
fn ratings_without_timestamps(all: &Ratings, positions: &[usize]) -> Ratings {
    let mut ratings = all.subset(positions);
    ratings.timestamps = Vec::new();
    ratings
}

/// Returns the test positions whose user and item have training ratings.
fn known_test_positions(all: &Ratings, split: &Split) -> Vec<usize> {
    let mut user_counts = vec![0u32; all.users.len()];
    let mut item_counts = vec![0u32; all.items.len()];
    for &position in &split.train {
        let rating = all.entries[position];
        user_counts[rating.user as usize] += 1;
        item_counts[rating.item as usize] += 1;
    }
    split
        .test
        .iter()
        .copied()
        .filter(|&position| {
            let rating = all.entries[position];
            user_counts[rating.user as usize] > 0
                && item_counts[rating.item as usize] > 0
        })
        .collect()
}

/// Returns the ratings at `positions` as (user, item, rating), indexed
/// like `all`.
fn triples(all: &Ratings, positions: &[usize]) -> Vec<(i32, i32, f32)> {
    positions
        .iter()
        .map(|&position| {
            let rating = all.entries[position];
            (rating.user as i32, rating.item as i32, rating.value)
        })
        .collect()
}

fn libmf_matrix(all: &Ratings, positions: &[usize]) -> libmf::Matrix {
    let mut matrix = libmf::Matrix::with_capacity(positions.len());
    for &position in positions {
        let rating = all.entries[position];
        matrix.push(rating.user as i32, rating.item as i32, rating.value);
    }
    matrix
}

/// Returns the smallest and largest rating at `positions`.
fn value_range(all: &Ratings, positions: &[usize]) -> (f32, f32) {
    positions.iter().fold(
        (f32::INFINITY, f32::NEG_INFINITY),
        |(low, high), &position| {
            let value = all.entries[position].value;
            (low.min(value), high.max(value))
        },
    )
}

/// Timings and accuracy of one system in one configuration.
struct Measured {
    system: &'static str,
    config: Config,
    /// Set-up time within `train_seconds`, when measured separately.
    setup_seconds: Option<f64>,
    /// Wall time from ratings in memory to a trained model, set-up
    /// included, of the run with the median time.
    train_seconds: f64,
    test_rmse: f64,
    /// Time to reach LIBMF's final test RMSE; `None` when not reached or
    /// when LIBMF did not run.
    seconds_to_target: Option<f64>,
    /// Largest growth of the peak resident set over the runs.
    memory_mib: Option<f64>,
}

impl Measured {
    fn updates_per_second(&self) -> f64 {
        let updates = self.config.train_len * self.config.epochs;
        updates as f64 / self.train_seconds
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

/// Returns the largest of `values`, or `None` if any is missing.
fn max_memory(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let values: Vec<f64> = values.collect::<Option<_>>()?;
    values.into_iter().reduce(f64::max)
}

/// Returns the RMSE of `predict` on `triples`, with each prediction
/// clipped to `range` as descent clips its own.
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

/// One timed LIBMF training and the test RMSE of its model.
struct LibmfRun {
    seconds: f64,
    rmse: f64,
    memory_mib: Option<f64>,
}

fn train_libmf(
    data: &Prepared,
    matrix: &libmf::Matrix,
    factors: usize,
    threads: usize,
    epochs: usize,
) -> Result<LibmfRun> {
    let memory = MemoryProbe::start();
    let started = Instant::now();
    let model = libmf::Model::params()
        .factors(i32::try_from(factors)?)
        .threads(i32::try_from(threads)?)
        .iterations(i32::try_from(epochs)?)
        .learning_rate(LIBMF_LEARNING_RATE)
        .lambda_p2(LIBMF_LAMBDA)
        .lambda_q2(LIBMF_LAMBDA)
        .quiet(true)
        .fit(matrix)?;
    let seconds = started.elapsed().as_secs_f64();
    let memory_mib = memory.and_then(|probe| probe.growth_mib());
    let rmse = clipped_rmse(&data.libmf_test, data.range, |user, item| {
        model.predict(user, item)
    });
    Ok(LibmfRun {
        seconds,
        rmse,
        memory_mib,
    })
}

/// Trains discorec on `train` and returns its time and test RMSE, in
/// the same form as a LIBMF run.
fn train_discorec(
    data: &Prepared,
    train: &[(u32, u32, f32)],
    factors: usize,
    epochs: usize,
) -> Result<LibmfRun> {
    let memory = MemoryProbe::start();
    let started = Instant::now();
    let model = discorec::RecommenderBuilder::new()
        .factors(u32::try_from(factors)?)
        .iterations(u32::try_from(epochs)?)
        .seed(1)
        .fit_explicit(train);
    let seconds = started.elapsed().as_secs_f64();
    let memory_mib = memory.and_then(|probe| probe.growth_mib());
    let rmse = clipped_rmse(&data.libmf_test, data.range, |user, item| {
        model.predict(&(user as u32), &(item as u32))
    });
    Ok(LibmfRun {
        seconds,
        rmse,
        memory_mib,
    })
}

/// One timed descent training.
struct DescentRun {
    /// Time of `Trainer::new`.
    setup: f64,
    /// Training time after each epoch: set-up plus the epochs so far,
    /// without the RMSE measurements between epochs.
    after_epoch: Vec<f64>,
    /// Test RMSE after each epoch.
    rmse_after_epoch: Vec<f64>,
    /// Growth of the peak resident set during the run.
    memory_mib: Option<f64>,
}

impl DescentRun {
    fn total(&self) -> f64 {
        *self.after_epoch.last().expect("epochs >= 1")
    }
}

fn train_descent(
    data: &Prepared,
    train: &Ratings,
    params: &TrainParams,
) -> Result<DescentRun> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(params.threads)
        .build()?;
    pool.install(|| {
        let memory = MemoryProbe::start();
        let started = Instant::now();
        let mut trainer = Trainer::new(train, params)?;
        let setup = started.elapsed().as_secs_f64();
        let test = trainer.map_held_out(&data.test);
        let mut elapsed = setup;
        let mut after_epoch = Vec::with_capacity(params.epochs);
        let mut rmse_after_epoch = Vec::with_capacity(params.epochs);
        for _ in 0..params.epochs {
            let started = Instant::now();
            trainer.epoch()?;
            elapsed += started.elapsed().as_secs_f64();
            after_epoch.push(elapsed);
            let rmse = trainer
                .rmse_on_held_out(&test)
                .ok_or("no test rating has a user and item from training")?;
            rmse_after_epoch.push(rmse);
        }
        Ok(DescentRun {
            setup,
            after_epoch,
            rmse_after_epoch,
            memory_mib: memory.and_then(|probe| probe.growth_mib()),
        })
    })
}

/// Factors, threads and epochs of one row pair, with the training size.
#[derive(Clone, Copy)]
struct Config {
    factors: usize,
    threads: usize,
    epochs: usize,
    train_len: usize,
}

/// Reports the LIBMF run with the median time, with the median test RMSE
/// of all runs (with more than one thread, LIBMF's result depends on
/// thread timing).
fn summarize_libmf(runs: &[LibmfRun], config: Config) -> Measured {
    summarize_other("LIBMF", runs, config, None)
}

/// Reports the run of LIBMF or discorec with the median time, with the
/// median test RMSE of all runs. `target_rmse` is LIBMF's final test
/// RMSE when `system` is not LIBMF; such a system reaches it at the end
/// of training or not at all, as only its final model is scored.
fn summarize_other(
    system: &'static str,
    runs: &[LibmfRun],
    config: Config,
    target_rmse: Option<f64>,
) -> Measured {
    let seconds: Vec<f64> = runs.iter().map(|run| run.seconds).collect();
    let rmses: Vec<f64> = runs.iter().map(|run| run.rmse).collect();
    let train_seconds = median(&seconds);
    let test_rmse = median(&rmses);
    eprintln!(
        "{system}: {} factors, {} threads: {train_seconds:.2} s, RMSE \
         {test_rmse:.4}",
        config.factors, config.threads,
    );
    let reached = target_rmse.is_none_or(|target| test_rmse <= target);
    Measured {
        system,
        config,
        setup_seconds: None,
        train_seconds,
        test_rmse,
        seconds_to_target: reached.then_some(train_seconds),
        memory_mib: max_memory(runs.iter().map(|run| run.memory_mib)),
    }
}

/// Reports the descent run with the median time. `target_rmse` is LIBMF's
/// final test RMSE, when LIBMF ran.
fn summarize_descent(
    system: &'static str,
    runs: &[DescentRun],
    target_rmse: Option<f64>,
    config: Config,
) -> Measured {
    let totals: Vec<f64> = runs.iter().map(DescentRun::total).collect();
    let run = &runs[median_index(&totals)];
    let trajectory: Vec<String> = run
        .rmse_after_epoch
        .iter()
        .map(|rmse| format!("{rmse:.4}"))
        .collect();
    eprintln!(
        "{system}: {} factors, {} threads: {:.2} s, test RMSE after each \
         epoch: {}",
        config.factors,
        config.threads,
        run.total(),
        trajectory.join(" ")
    );
    let seconds_to_target = target_rmse.and_then(|target| {
        run.rmse_after_epoch
            .iter()
            .position(|&rmse| rmse <= target)
            .map(|epoch| run.after_epoch[epoch])
    });
    Measured {
        system,
        config,
        setup_seconds: Some(run.setup),
        train_seconds: run.total(),
        test_rmse: *run.rmse_after_epoch.last().expect("epochs >= 1"),
        seconds_to_target,
        memory_mib: max_memory(runs.iter().map(|run| run.memory_mib)),
    }
}

/// Measures every system, factor count and thread count on one data set.
///
/// The runs of the two systems alternate, so that load from other
/// processes on a shared machine tends to slow both alike.
fn measure(data: &Prepared, options: &Options) -> Result<Vec<Measured>> {
    let mut rows = Vec::new();
    for &factors in &options.factors {
        for &threads in &options.threads {
            let config = Config {
                factors,
                threads,
                epochs: options.epochs,
                train_len: data.summary.train_len,
            };
            let params = TrainParams {
                factors,
                epochs: options.epochs,
                threads,
                ..TrainParams::default()
            };
            let plain = TrainParams {
                adagrad: false,
                learning_rate: PLAIN_LEARNING_RATE,
                ..params.clone()
            };
            let mut libmf_runs = Vec::new();
            let mut descent_runs = Vec::new();
            let mut plain_runs = Vec::new();
            let mut discorec_runs = Vec::new();
            for _ in 0..options.repeats {
                if let Some(matrix) = &data.libmf_train {
                    let run = train_libmf(
                        data,
                        matrix,
                        factors,
                        threads,
                        options.epochs,
                    )?;
                    libmf_runs.push(run);
                }
                if let Some(train) = &data.train {
                    descent_runs.push(train_descent(data, train, &params)?);
                    if options.plain_sgd {
                        plain_runs.push(train_descent(data, train, &plain)?);
                    }
                }
                if let Some(train) = data.discorec_train.as_ref() {
                    if threads == 1 {
                        let epochs = options.epochs;
                        let run = train_discorec(data, train, factors, epochs)?;
                        discorec_runs.push(run);
                    }
                }
            }
            let libmf = (!libmf_runs.is_empty())
                .then(|| summarize_libmf(&libmf_runs, config));
            let target = libmf.as_ref().map(|row| row.test_rmse);
            if !descent_runs.is_empty() {
                let runs = &descent_runs;
                rows.push(summarize_descent("descent", runs, target, config));
            }
            if !plain_runs.is_empty() {
                let (name, runs) = ("descent plain SGD", &plain_runs);
                rows.push(summarize_descent(name, runs, target, config));
            }
            if !discorec_runs.is_empty() {
                let target = libmf.as_ref().map(|row| row.test_rmse);
                let runs = &discorec_runs;
                rows.push(summarize_other("discorec", runs, config, target));
            }
            rows.extend(libmf);
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

/// Prints the table. The ratio column compares each row with the LIBMF row
/// of the same data set, factors and threads.
fn print_table(rows: &[Measured]) {
    println!(
        "| system | factors | threads | train ratings | set-up s | \
         train s | updates/s | test RMSE | s to LIBMF RMSE | \
         updates/s vs LIBMF | peak RSS growth MiB |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for row in rows {
        let libmf = rows.iter().find(|other| {
            other.system == "LIBMF"
                && other.config.factors == row.config.factors
                && other.config.threads == row.config.threads
                && other.config.train_len == row.config.train_len
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
            "| {} | {} | {} | {} | {} | {:.2} | {} | {:.4} | {} | {} | {} |",
            row.system,
            row.config.factors,
            row.config.threads,
            row.config.train_len,
            format_seconds(row.setup_seconds, "in train s"),
            row.train_seconds,
            format_rate(row.updates_per_second()),
            row.test_rmse,
            format_seconds(row.seconds_to_target, missing),
            ratio,
            row.memory_mib
                .map_or("n/a".to_string(), |mib| format!("{mib:.0}")),
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
        "- descent: TrainParams defaults apart from factors, epochs and \
         threads, {defaults:?}; with blocks 0 the engine cuts the matrix \
         into max(8, 2 x threads) bands per side; set-up is Trainer::new, \
         timed separately and included in train s"
    );
    if options.plain_sgd {
        println!(
            "- descent plain SGD: the same with adagrad false and learning \
             rate {PLAIN_LEARNING_RATE}"
        );
    }
    println!(
        "- LIBMF (libmf crate 0.4): learning rate {LIBMF_LEARNING_RATE}, \
         lambda_p2 = lambda_q2 = {LIBMF_LAMBDA}, 25 bins; train s is the \
         whole fit call, its own set-up included; its model has a global \
         mean but no user or item biases"
    );
    println!(
        "- discorec (crate 0.3, coordinate descent, one thread): its \
         defaults apart from factors and iterations (= epochs); only in \
         rows with 1 thread; only its final model is scored"
    );
    println!(
        "- test RMSE: predictions clipped to the training range; \
         s to LIBMF RMSE: time until the first epoch at or below LIBMF's \
         final test RMSE; peak RSS growth: rise of the process's peak \
         resident set during a run above its size before the run, with \
         the data already loaded (largest over the runs)"
    );
    println!();
}

/// Returns a field of `/proc/self/status` in KiB, such as `VmRSS` (the
/// resident set size) or `VmHWM` (its peak). Linux only.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| {
        line.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Makes glibc serve every allocation of 64 KiB or more with its own
/// mapping, which `free` returns to the system at once. Otherwise glibc
/// raises that threshold as large blocks are freed and keeps later freed
/// blocks, so memory released by one training run would hide the growth of
/// the next.
fn return_large_blocks_on_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings, and this runs at
    // the start of main before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
    }
}

/// Growth of the resident set during one training run.
struct MemoryProbe {
    baseline_kib: u64,
}

impl MemoryProbe {
    /// Resets the peak resident set size of this process, by writing 5 to
    /// `/proc/self/clear_refs` (Linux 4.0 and later), and records the
    /// current size. Returns `None` where either is unavailable.
    fn start() -> Option<MemoryProbe> {
        std::fs::write("/proc/self/clear_refs", "5").ok()?;
        let baseline_kib = status_kib("VmRSS")?;
        Some(MemoryProbe { baseline_kib })
    }

    /// Returns how far the peak resident set size rose above the size at
    /// `start`, in MiB.
    fn growth_mib(&self) -> Option<f64> {
        let peak_kib = status_kib("VmHWM")?;
        Some(peak_kib.saturating_sub(self.baseline_kib) as f64 / 1024.0)
    }
}

fn main() -> ExitCode {
    return_large_blocks_on_free();
    match run(Options::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut options: Options) -> Result<()> {
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
        if let Some(kib) = status_kib("VmHWM") {
            eprintln!("peak RSS so far: {} MiB", kib / 1024);
        }
        rows.extend(measure(&data, &options)?);
        summaries.push(data.summary);
    }

    print_setup(&summaries, &options);
    print_table(&rows);
    Ok(())
}

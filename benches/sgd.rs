//! Criterion benchmarks of one SGD epoch and of loading a ratings CSV.
//!
//! Run with `cargo bench --bench sgd`. Results and the machine they were
//! measured on are recorded in `BENCHMARKS.md`, section "Training speed".

use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, Throughput,
};
use descent::data::generate::{generate, Synthetic, SyntheticSpec};
use descent::data::load::{load_ratings, LoadOptions};
use descent::{TrainParams, Trainer};

/// Users, items and ratings of the benchmark data set: about 1% dense,
/// 50 ratings per user and 200 per item on average.
const USERS: usize = 20_000;
const ITEMS: usize = 5_000;
const RATINGS: usize = 1_000_000;

const FACTORS: [usize; 2] = [32, 64];
const THREADS: [usize; 2] = [1, 2];

fn synthetic() -> Synthetic {
    let spec = SyntheticSpec {
        users: USERS,
        items: ITEMS,
        ratings: RATINGS,
        ..SyntheticSpec::default()
    };
    generate(&spec).expect("the benchmark spec is valid")
}

fn thread_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("failed to start the rayon thread pool")
}

/// Times one epoch per iteration, on a trainer whose state carries over
/// from one iteration to the next. The operations of an epoch do not
/// depend on the factor values, so later epochs cost the same as the first.
/// Rows named `N-threads` use the default settings, AdaGrad steps
/// included; rows named `N-threads-plain` turn AdaGrad off.
fn bench_epoch(c: &mut Criterion) {
    let data = synthetic();
    let mut group = c.benchmark_group("epoch");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(3))
        .measurement_time(Duration::from_secs(15));
    for factors in FACTORS {
        let size = format!("{USERS}x{ITEMS}x{RATINGS}x{factors}");
        for (threads, adagrad) in THREADS
            .into_iter()
            .flat_map(|threads| [(threads, true), (threads, false)])
        {
            let params = TrainParams {
                factors,
                threads,
                adagrad,
                ..TrainParams::default()
            };
            let pool = thread_pool(threads);
            let mut trainer = pool
                .install(|| Trainer::new(&data.ratings, &params))
                .expect("the benchmark parameters are valid");
            group.throughput(Throughput::Elements(trainer.len() as u64));
            let suffix = if adagrad { "" } else { "-plain" };
            let name = format!("{threads}-threads{suffix}");
            let id = BenchmarkId::new(&size, name);
            group.bench_function(id, |b| {
                b.iter(|| {
                    pool.install(|| trainer.epoch()).expect("training diverged")
                })
            });
        }
    }
    group.finish();
}

/// Times `load_ratings` on the benchmark data set written as
/// `ratings.csv` (`userId,movieId,rating,timestamp`).
fn bench_load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("failed to create a temporary dir");
    synthetic()
        .write(dir.path(), false)
        .expect("failed to write the ratings CSV");
    let path = dir.path().join("ratings.csv");
    let bytes = std::fs::metadata(&path)
        .expect("the ratings CSV was just written")
        .len();

    let mut group = c.benchmark_group("load");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Bytes(bytes));
    let id = format!("ratings-csv/{RATINGS}-ratings");
    group.bench_function(id, |b| {
        b.iter(|| {
            load_ratings(&path, &LoadOptions::default())
                .expect("failed to load the ratings CSV")
        })
    });
    group.finish();
}

criterion_group!(benches, bench_epoch, bench_load);
criterion_main!(benches);

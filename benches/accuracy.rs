//! Held-out RMSE of descent with default settings next to LIBMF, trained on
//! the same rows in the same process, on the MovieLens folds and on planted
//! synthetic data. Prints markdown tables.
//!
//! Run with `cargo bench --bench accuracy`. The MovieLens files are read
//! from `../shared/data` beside the repository; sets that are missing are
//! skipped with a note.

use std::path::{Path, PathBuf};

use descent::data::generate::{generate, SyntheticSpec};
use descent::data::load::{load_ratings, LoadOptions};
use descent::data::split::random_split;
use descent::data::Ratings;
use descent::eval::rating_errors;
use descent::{fit, TrainParams};

/// LIBMF settings compared: factors and the L2 penalty on both factor
/// matrices. 20 iterations and 2 threads throughout.
const LIBMF_SETTINGS: [(i32, f32); 2] = [(32, 0.05), (32, 0.1)];

/// Trains LIBMF on `train` and returns its RMSE on `test`, with
/// predictions clipped to `range` and LIBMF's global bias for ids absent
/// from training.
fn libmf_rmse(
    train: &Ratings,
    test: &Ratings,
    (factors, l2): (i32, f32),
    range: (f32, f32),
) -> f64 {
    let mut matrix = libmf::Matrix::new();
    for r in &train.entries {
        matrix.push(r.user as i32, r.item as i32, r.value);
    }
    let model = libmf::Model::params()
        .factors(factors)
        .threads(2)
        .iterations(20)
        .lambda_p2(l2)
        .lambda_q2(l2)
        .quiet(true)
        .fit(&matrix)
        .expect("LIBMF trains on a non-empty matrix");
    let mut squared = 0.0f64;
    for r in &test.entries {
        let user = train.users.get(test.users.id(r.user));
        let item = train.items.get(test.items.id(r.item));
        let predicted = match (user, item) {
            (Some(u), Some(i)) => model.predict(u as i32, i as i32),
            _ => model.bias(),
        };
        let error = f64::from(r.value - predicted.clamp(range.0, range.1));
        squared += error * error;
    }
    (squared / test.len() as f64).sqrt()
}

fn descent_rmse(train: &Ratings, test: &Ratings) -> f64 {
    let model = fit(train, &TrainParams::default()).expect("training works");
    rating_errors(&model, test)
        .expect("test set is not empty")
        .rmse
}

fn shared(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(relative)
}

fn movielens() {
    let mut sets: Vec<(String, String, String)> = (1..=5)
        .map(|fold| {
            (
                format!("ml-100k u{fold}"),
                format!("ml-100k/u{fold}.base"),
                format!("ml-100k/u{fold}.test"),
            )
        })
        .collect();
    sets.push((
        "ml-latest-small split".into(),
        "ml-latest-small/split/train.csv".into(),
        "ml-latest-small/split/test.csv".into(),
    ));
    println!(
        "| set | descent defaults | LIBMF k=32 l2=0.05 | LIBMF k=32 l2=0.1 |"
    );
    println!("|---|---|---|---|");
    let mut sums = [0.0f64; 3];
    for (name, train, test) in sets {
        let (train, test) = (shared(&train), shared(&test));
        if !train.exists() || !test.exists() {
            println!("| {name} | missing: {} | | |", train.display());
            continue;
        }
        let options = LoadOptions::default();
        let (train, _) = load_ratings(&train, &options).expect("readable");
        let (test, _) = load_ratings(&test, &options).expect("readable");
        let range = train.range().expect("not empty");
        let row = [
            descent_rmse(&train, &test),
            libmf_rmse(&train, &test, LIBMF_SETTINGS[0], range),
            libmf_rmse(&train, &test, LIBMF_SETTINGS[1], range),
        ];
        if name.starts_with("ml-100k") {
            for (sum, value) in sums.iter_mut().zip(row) {
                *sum += value;
            }
        }
        println!("| {name} | {:.4} | {:.4} | {:.4} |", row[0], row[1], row[2]);
    }
    println!(
        "| ml-100k mean of u1..u5 | {:.4} | {:.4} | {:.4} |",
        sums[0] / 5.0,
        sums[1] / 5.0,
        sums[2] / 5.0
    );
}

/// Prints one row for planted data from `spec`, with `test_fraction` of
/// the ratings held out.
fn synthetic(name: &str, spec: SyntheticSpec, test_fraction: f64) {
    let data = generate(&spec).expect("valid spec");
    let split =
        random_split(data.ratings.len(), test_fraction, 5).expect("valid");
    let train = data.ratings.subset(&split.train);
    let test = data.ratings.subset(&split.test);
    let floor = data.noise_floor_at(&split.test);
    let ours = descent_rmse(&train, &test);
    let range = train.range().expect("not empty");
    let theirs = libmf_rmse(&train, &test, LIBMF_SETTINGS[0], range);
    println!(
        "| {name} | {floor:.4} | {ours:.4} | {:+.1}% | {theirs:.4} | {:+.1}% |",
        100.0 * (ours / floor - 1.0),
        100.0 * (theirs / floor - 1.0)
    );
}

fn main() {
    movielens();
    println!();
    println!(
        "| planted set | floor | descent defaults | above floor | \
         LIBMF k=32 l2=0.05 | above floor |"
    );
    println!("|---|---|---|---|---|---|");
    synthetic(
        "dense: 1,000 x 1,000, 800k ratings, even activity",
        SyntheticSpec {
            users: 1000,
            items: 1000,
            ratings: 800_000,
            activity_spread: 0.0,
            popularity_exponent: 0.0,
            seed: 21,
            ..SyntheticSpec::default()
        },
        0.2,
    );
    synthetic(
        "full: 2,400 x 2,400, every cell rated, 10% held out",
        SyntheticSpec {
            users: 2400,
            items: 2400,
            ratings: 2400 * 2400,
            activity_spread: 0.0,
            popularity_exponent: 0.0,
            seed: 21,
            ..SyntheticSpec::default()
        },
        0.1,
    );
    synthetic(
        "MovieLens-like: 6,000 x 4,000, 420k ratings, skewed",
        SyntheticSpec {
            users: 6000,
            items: 4000,
            ratings: 420_000,
            seed: 21,
            ..SyntheticSpec::default()
        },
        0.2,
    );
}

//! Accuracy with default settings on real rating data.

mod common;

use descent::data::load::{load_ratings, LoadOptions};
use descent::eval::rating_errors;
use descent::{fit, TrainParams};

fn test_rmse(train: &str, test: &str) -> Option<f64> {
    let train = common::shared_data(train)?;
    let test = common::shared_data(test)?;
    let options = LoadOptions::default();
    let (train, _) = load_ratings(&train, &options).unwrap();
    let (test, _) = load_ratings(&test, &options).unwrap();
    let model = fit(&train, &TrainParams::default()).unwrap();
    Some(rating_errors(&model, &test).unwrap().rmse)
}

#[test]
fn ml100k_folds_mean_rmse() {
    let mut total = 0.0;
    for fold in 1..=5 {
        let Some(rmse) = test_rmse(
            &format!("ml-100k/u{fold}.base"),
            &format!("ml-100k/u{fold}.test"),
        ) else {
            return;
        };
        eprintln!("u{fold}: RMSE {rmse:.4}");
        assert!(rmse < 0.95, "fold u{fold}: RMSE {rmse:.4}");
        total += rmse;
    }
    let mean = total / 5.0;
    eprintln!("mean RMSE {mean:.4}");
    assert!(mean <= 0.920, "mean RMSE over u1..u5 is {mean:.4}");
}

#[test]
fn ml_latest_small_split_rmse() {
    let Some(rmse) = test_rmse(
        "ml-latest-small/split/train.csv",
        "ml-latest-small/split/test.csv",
    ) else {
        return;
    };
    eprintln!("RMSE {rmse:.4}");
    assert!(rmse <= 0.865, "RMSE {rmse:.4}");
}

/// Planted rank-10 data with 800 ratings per user and about 800 per item:
/// enough for the factors to be learnable, so the held-out RMSE should
/// come close to the noise floor.
#[test]
fn planted_dense_near_noise_floor() {
    use descent::data::generate::{generate, SyntheticSpec};
    use descent::data::split::random_split;

    let spec = SyntheticSpec {
        users: 1000,
        items: 1000,
        ratings: 800_000,
        activity_spread: 0.0,
        popularity_exponent: 0.0,
        seed: 11,
        ..SyntheticSpec::default()
    };
    let data = generate(&spec).unwrap();
    let split = random_split(data.ratings.len(), 0.2, 5).unwrap();
    let train = data.ratings.subset(&split.train);
    let test = data.ratings.subset(&split.test);
    let floor = data.noise_floor_at(&split.test);

    let model = fit(&train, &TrainParams::default()).unwrap();
    let rmse = rating_errors(&model, &test).unwrap().rmse;
    eprintln!("RMSE {rmse:.4}, noise floor {floor:.4}");
    assert!(
        rmse >= floor * 0.98,
        "RMSE {rmse:.4} below floor {floor:.4}"
    );
    assert!(rmse <= floor * 1.05, "RMSE {rmse:.4} vs floor {floor:.4}");
}

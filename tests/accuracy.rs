//! Accuracy with default settings on real rating data and on planted
//! synthetic data.

mod common;

use descent::data::generate::{generate, SyntheticSpec};
use descent::data::load::{load_ratings, LoadOptions};
use descent::data::split::random_split;
use descent::data::Ratings;
use descent::eval::rating_errors;
use descent::{fit, TrainParams};

fn test_rmse(train: &str, test: &str) -> Option<f64> {
    test_rmse_with(train, test, &TrainParams::default())
}

fn test_rmse_with(
    train: &str,
    test: &str,
    params: &TrainParams,
) -> Option<f64> {
    let train = common::shared_data(train)?;
    let test = common::shared_data(test)?;
    let options = LoadOptions::default();
    let (train, _) = load_ratings(&train, &options).unwrap();
    let (test, _) = load_ratings(&test, &options).unwrap();
    let model = fit(&train, params).unwrap();
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
    assert!(mean <= 0.905, "mean RMSE over u1..u5 is {mean:.4}");
}

/// The default step sizes suit smaller factor counts too: AdaGrad sums
/// that grew by the mean over coordinates made 32-factor steps half as
/// large and cost 0.005 on this fold.
#[test]
fn ml100k_u1_defaults_hold_at_32_factors() {
    let (train, test) = ("ml-100k/u1.base", "ml-100k/u1.test");
    let small = TrainParams {
        factors: 32,
        ..TrainParams::default()
    };
    let Some(rmse_32) = test_rmse_with(train, test, &small) else {
        return;
    };
    let rmse_128 = test_rmse(train, test).unwrap();
    eprintln!("u1: RMSE {rmse_32:.4} at 32 factors, {rmse_128:.4} at 128");
    assert!(
        rmse_32 <= rmse_128 + 0.003,
        "u1: RMSE {rmse_32:.4} at 32 factors against {rmse_128:.4} at 128"
    );
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
    assert!(rmse <= 0.855, "RMSE {rmse:.4}");
}

/// Held-out RMSE with default settings on planted data, the noise floor
/// on the same test rows, and the training ratings.
struct Planted {
    rmse: f64,
    floor: f64,
    train: Ratings,
}

fn planted_rmse(spec: &SyntheticSpec, test_fraction: f64) -> Planted {
    let data = generate(spec).unwrap();
    let split = random_split(data.ratings.len(), test_fraction, 5).unwrap();
    let train = data.ratings.subset(&split.train);
    let test = data.ratings.subset(&split.test);
    let floor = data.noise_floor_at(&split.test);
    let model = fit(&train, &TrainParams::default()).unwrap();
    let rmse = rating_errors(&model, &test).unwrap().rmse;
    eprintln!("RMSE {rmse:.4}, noise floor {floor:.4}");
    Planted { rmse, floor, train }
}

/// Returns the minimum number of training ratings over the users and over
/// the items.
fn fewest_ratings(train: &Ratings) -> (u32, u32) {
    let mut users = vec![0u32; train.users.len()];
    let mut items = vec![0u32; train.items.len()];
    for rating in &train.entries {
        users[rating.user as usize] += 1;
        items[rating.item as usize] += 1;
    }
    let fewest = |counts: &[u32]| counts.iter().copied().min().unwrap_or(0);
    (fewest(&users), fewest(&items))
}

/// Planted rank-10 data with 800 ratings per user and about 800 per item:
/// enough for the factors to be learnable, so the held-out RMSE should
/// come close to the noise floor.
#[test]
fn planted_dense_near_noise_floor() {
    let spec = SyntheticSpec {
        users: 1000,
        items: 1000,
        ratings: 800_000,
        activity_spread: 0.0,
        popularity_exponent: 0.0,
        seed: 11,
        ..SyntheticSpec::default()
    };
    let Planted { rmse, floor, .. } = planted_rmse(&spec, 0.2);
    assert!(
        rmse >= floor * 0.98,
        "RMSE {rmse:.4} below floor {floor:.4}"
    );
    assert!(rmse <= floor * 1.05, "RMSE {rmse:.4} vs floor {floor:.4}");
}

/// Planted rank-10 data with every cell rated and a tenth of the cells
/// held out, so each user and each item keeps at least 2,000 training
/// ratings. With that much data per row the held-out RMSE should be
/// within 2% of the noise floor.
#[test]
fn planted_full_within_two_percent_of_floor() {
    let spec = SyntheticSpec {
        users: 2400,
        items: 2400,
        ratings: 2400 * 2400,
        activity_spread: 0.0,
        popularity_exponent: 0.0,
        seed: 11,
        ..SyntheticSpec::default()
    };
    let Planted { rmse, floor, train } = planted_rmse(&spec, 0.1);
    let (user_fewest, item_fewest) = fewest_ratings(&train);
    assert!(user_fewest >= 2000, "a user has {user_fewest} ratings");
    assert!(item_fewest >= 2000, "an item has {item_fewest} ratings");
    assert!(
        rmse >= floor * 0.98,
        "RMSE {rmse:.4} below floor {floor:.4}"
    );
    assert!(rmse <= floor * 1.02, "RMSE {rmse:.4} vs floor {floor:.4}");
}

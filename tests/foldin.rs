//! Fold-in accuracy: for users held out of training, predictions from
//! folding in half of their ratings against the fixed item factors should
//! score the other half about as well as a model retrained with that half
//! included.

mod common;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use descent::data::generate::{generate, SyntheticSpec};
use descent::data::load::{load_ratings, LoadOptions};
use descent::data::Ratings;
use descent::serve::{fold_in, FoldInOptions};
use descent::{fit, TrainParams};

/// Largest amount by which fold-in RMSE may exceed retraining RMSE.
const TOLERANCE: f64 = 0.02;

/// RMSE of fold-in and of retraining on the hidden ratings, and their
/// count.
struct Comparison {
    fold_in: f64,
    retrained: f64,
    hidden: usize,
    users: usize,
}

/// Holds out every `stride`-th user with at least `min_ratings` ratings,
/// splits each one's ratings in two halves at random, and compares
/// fold-in of the first half with retraining on it.
fn compare(
    ratings: &Ratings,
    params: &TrainParams,
    stride: usize,
    min_ratings: usize,
) -> Comparison {
    let mut by_user: Vec<Vec<usize>> = vec![Vec::new(); ratings.users.len()];
    for (position, rating) in ratings.entries.iter().enumerate() {
        by_user[rating.user as usize].push(position);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut base = Vec::new();
    let mut given_by_user = Vec::new();
    let mut hidden = Vec::new();
    let mut eligible = 0;
    for positions in &by_user {
        let held_out = positions.len() >= min_ratings && {
            eligible += 1;
            eligible % stride == 0
        };
        if !held_out {
            base.extend_from_slice(positions);
            continue;
        }
        let mut shuffled = positions.clone();
        shuffled.shuffle(&mut rng);
        let (given, rest) = shuffled.split_at(shuffled.len() / 2);
        given_by_user.push(given.to_vec());
        hidden.extend_from_slice(rest);
    }

    let without = fit(&ratings.subset(&base), params).unwrap();
    let mut with_given = base.clone();
    for given in &given_by_user {
        with_given.extend_from_slice(given);
    }
    let retrained = fit(&ratings.subset(&with_given), params).unwrap();

    let id_of = |position: usize| {
        let rating = ratings.entries[position];
        (
            ratings.users.id(rating.user),
            ratings.items.id(rating.item),
            rating.value,
        )
    };
    let mut fold_in_error = 0.0;
    for given in &given_by_user {
        let pairs: Vec<(String, f32)> = given
            .iter()
            .map(|&p| {
                let (_, item, value) = id_of(p);
                (item.to_string(), value)
            })
            .collect();
        let user =
            fold_in(&without, &pairs, &FoldInOptions::default()).unwrap();
        let owner = ratings.entries[given[0]].user;
        for &p in &hidden {
            if ratings.entries[p].user != owner {
                continue;
            }
            let (_, item, value) = id_of(p);
            let predicted = user.predict(&without, item).value;
            fold_in_error += f64::from(predicted - value).powi(2);
        }
    }
    let mut retrained_error = 0.0;
    for &p in &hidden {
        let (user, item, value) = id_of(p);
        let predicted = retrained.predict(user, item).value;
        retrained_error += f64::from(predicted - value).powi(2);
    }
    let count = hidden.len() as f64;
    Comparison {
        fold_in: (fold_in_error / count).sqrt(),
        retrained: (retrained_error / count).sqrt(),
        hidden: hidden.len(),
        users: given_by_user.len(),
    }
}

fn check(name: &str, comparison: &Comparison) {
    eprintln!(
        "{name}: {} held-out users, {} hidden ratings: fold-in RMSE {:.4}, \
         retrained RMSE {:.4}",
        comparison.users,
        comparison.hidden,
        comparison.fold_in,
        comparison.retrained
    );
    assert!(comparison.users >= 20, "{name}: {} users", comparison.users);
    assert!(
        comparison.fold_in <= comparison.retrained + TOLERANCE,
        "{name}: fold-in RMSE {:.4} is more than {TOLERANCE} above \
         retrained RMSE {:.4}",
        comparison.fold_in,
        comparison.retrained
    );
}

#[test]
fn ml100k_fold_in_near_retraining() {
    let Some(path) = common::shared_data("ml-100k/u.data") else {
        return;
    };
    let (ratings, _) = load_ratings(&path, &LoadOptions::default()).unwrap();
    let comparison = compare(&ratings, &TrainParams::default(), 8, 20);
    check("ml-100k", &comparison);
}

#[test]
fn synthetic_fold_in_near_retraining() {
    let spec = SyntheticSpec {
        users: 1000,
        items: 800,
        ratings: 60_000,
        ..SyntheticSpec::default()
    };
    let synthetic = generate(&spec).unwrap();
    let comparison =
        compare(&synthetic.ratings, &TrainParams::default(), 10, 20);
    check("synthetic", &comparison);
}

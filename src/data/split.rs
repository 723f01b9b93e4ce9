//! Seeded train/test splits of a rating set.
//!
//! Every split returns entry positions, not copies of the ratings, so the
//! caller picks the parts with [`Ratings::subset`]. Each part lists its
//! positions in source order, and the two parts of a [`Split`] together
//! hold every position exactly once. With the same input, settings and
//! seed a split is always the same.
//!
//! The test part of each split:
//!
//! - [`random_split`]: a share of all rows, drawn at random.
//! - [`user_split`]: a share or a count of each user's rows, drawn at
//!   random or the latest by timestamp.
//! - [`temporal_split`]: the rows at or after a time, or the latest share
//!   of all rows.
//! - [`k_folds`]: one of `k` random folds of the rows, for
//!   cross-validation.

use std::cmp::Reverse;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::Ratings;
use crate::error::{Error, Result};

/// Entry positions of a train/test split, each in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Positions of the training ratings.
    pub train: Vec<usize>,
    /// Positions of the test ratings.
    pub test: Vec<usize>,
}

impl Split {
    /// Builds a split from a test flag per position.
    fn from_flags(is_test: &[bool]) -> Split {
        let (test, train): (Vec<usize>, Vec<usize>) =
            (0..is_test.len()).partition(|&position| is_test[position]);
        Split { train, test }
    }
}

fn invalid(name: &'static str, value: impl ToString, reason: &str) -> Error {
    Error::InvalidParameter {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn check_fraction(name: &'static str, fraction: f64) -> Result<()> {
    if fraction > 0.0 && fraction < 1.0 {
        Ok(())
    } else {
        Err(invalid(name, fraction, "must be above 0 and below 1"))
    }
}

/// Splits `len` ratings at random: `round(len * test_fraction)` rows go to
/// the test part and the rest to training.
///
/// Rows are drawn without regard to user or item, as most libraries do, so
/// a user or item whose ratings all land in the test part is cold there.
/// The same `len`, fraction and seed always give the same split.
///
/// # Errors
///
/// Fails when the fraction is not strictly between 0 and 1, or when either
/// part would be empty.
pub fn random_split(
    len: usize,
    test_fraction: f64,
    seed: u64,
) -> Result<Split> {
    shuffled_split(len, test_fraction, seed, "--test-fraction")
}

/// Splits `len` training ratings into a part to fit on and a validation
/// part of `round(len * validation_fraction)` rows, drawn at random like
/// [`random_split`].
///
/// # Errors
///
/// As [`random_split`], with messages that name `--validation-fraction`.
pub fn validation_split(
    len: usize,
    validation_fraction: f64,
    seed: u64,
) -> Result<Split> {
    shuffled_split(len, validation_fraction, seed, "--validation-fraction")
}

fn shuffled_split(
    len: usize,
    fraction: f64,
    seed: u64,
    name: &'static str,
) -> Result<Split> {
    check_fraction(name, fraction)?;
    let test_len = (len as f64 * fraction).round() as usize;
    if test_len == 0 || test_len == len {
        return Err(Error::Invalid(format!(
            "cannot split {} with {name} {fraction}: one part would be \
             empty",
            crate::plural::count(len, "rating")
        )));
    }
    let mut positions: Vec<usize> = (0..len).collect();
    positions.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut test = positions.split_off(len - test_len);
    positions.sort_unstable();
    test.sort_unstable();
    Ok(Split {
        train: positions,
        test,
    })
}

/// How many of each user's ratings a per-user split holds out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HoldoutSize {
    /// `round(n * fraction)` of a user's `n` ratings, with the fraction
    /// strictly between 0 and 1.
    Fraction(f64),
    /// This many ratings of each user, at least 1.
    Count(usize),
}

/// Rule that picks the ratings a per-user split holds out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldoutOrder {
    /// Ratings drawn at random.
    Random,
    /// The ratings with the latest timestamps; ties go by source order, a
    /// later row counting as later.
    Latest,
}

/// Settings of [`user_split`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UserHoldout {
    /// How many ratings of each user go to the test part.
    pub size: HoldoutSize,
    /// Which ones.
    pub order: HoldoutOrder,
    /// Ratings a user must keep in training. A user who would keep fewer
    /// keeps all of their ratings in training and has none in the test
    /// part.
    pub min_train: usize,
}

/// Holds out part of each user's ratings, so every test user also has
/// ratings in training (unless `min_train` is 0).
///
/// A user with `n` ratings gets `h = round(n * fraction)` or `h = count`
/// ratings in the test part when `n - h >= min_train`, and none otherwise.
/// Items are not considered, so an item may still be cold in the test
/// part. [`HoldoutOrder::Random`] draws with a generator seeded by `seed`.
/// [`HoldoutOrder::Latest`] takes each user's latest ratings by timestamp
/// and ignores the seed.
///
/// # Errors
///
/// Fails when the fraction is not strictly between 0 and 1, the count is
/// 0, [`HoldoutOrder::Latest`] is asked for ratings without timestamps, or
/// no user has enough ratings to hold any out.
pub fn user_split(
    ratings: &Ratings,
    holdout: &UserHoldout,
    seed: u64,
) -> Result<Split> {
    match holdout.size {
        HoldoutSize::Fraction(fraction) => {
            check_fraction("--test-fraction", fraction)?
        }
        HoldoutSize::Count(0) => {
            return Err(invalid("--holdout", 0, "must be at least 1"))
        }
        HoldoutSize::Count(_) => {}
    }
    if holdout.order == HoldoutOrder::Latest {
        require_timestamps(ratings, "user-last")?;
    }
    let mut by_user: Vec<Vec<usize>> = vec![Vec::new(); ratings.users.len()];
    for (position, rating) in ratings.entries.iter().enumerate() {
        by_user[rating.user as usize].push(position);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut is_test = vec![false; ratings.len()];
    for positions in &mut by_user {
        let n = positions.len();
        let held_out = match holdout.size {
            HoldoutSize::Fraction(fraction) => {
                (n as f64 * fraction).round() as usize
            }
            HoldoutSize::Count(count) => count,
        };
        if held_out == 0 || n < held_out.saturating_add(holdout.min_train) {
            continue;
        }
        match holdout.order {
            HoldoutOrder::Random => positions.shuffle(&mut rng),
            // Latest first, and of equal timestamps the later row first.
            HoldoutOrder::Latest => positions
                .sort_unstable_by_key(|&p| Reverse((ratings.timestamps[p], p))),
        }
        for &position in &positions[..held_out] {
            is_test[position] = true;
        }
    }
    let split = Split::from_flags(&is_test);
    if split.test.is_empty() {
        let size = match holdout.size {
            HoldoutSize::Fraction(f) => format!("--test-fraction {f}"),
            HoldoutSize::Count(k) => format!("--holdout {k}"),
        };
        return Err(Error::Invalid(format!(
            "no user has enough ratings to hold out {size} and keep \
             --min-train-ratings {} in training; lower either setting",
            holdout.min_train
        )));
    }
    if split.train.is_empty() {
        return Err(Error::Invalid(
            "every rating would be held out, leaving none to train on; \
             raise --min-train-ratings"
                .into(),
        ));
    }
    Ok(split)
}

/// Cut-off point of [`temporal_split`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TemporalCutoff {
    /// The latest `round(len * fraction)` ratings go to the test part,
    /// with ties in timestamp ordered by source order.
    Fraction(f64),
    /// Ratings at or after this time, in seconds since the Unix epoch, go
    /// to the test part.
    Time(i64),
}

/// Splits by time: the test part is the latest ratings of the whole set,
/// so no training rating is later than any test rating.
///
/// Users and items that only appear after the cut-off are cold in the test
/// part, as they would be for a model trained at that time.
///
/// # Errors
///
/// Fails when the ratings have no timestamps, the fraction is not strictly
/// between 0 and 1, or either part would be empty.
pub fn temporal_split(
    ratings: &Ratings,
    cutoff: TemporalCutoff,
) -> Result<Split> {
    require_timestamps(ratings, "temporal")?;
    let times = &ratings.timestamps;
    let len = ratings.len();
    let split = match cutoff {
        TemporalCutoff::Fraction(fraction) => {
            check_fraction("--test-fraction", fraction)?;
            let test_len = (len as f64 * fraction).round() as usize;
            let mut order: Vec<usize> = (0..len).collect();
            order.sort_by_key(|&p| times[p]);
            let mut is_test = vec![false; len];
            for &position in &order[len - test_len..] {
                is_test[position] = true;
            }
            Split::from_flags(&is_test)
        }
        TemporalCutoff::Time(time) => {
            let is_test: Vec<bool> = times.iter().map(|&t| t >= time).collect();
            Split::from_flags(&is_test)
        }
    };
    if split.train.is_empty() || split.test.is_empty() {
        let (first, last) = (times.iter().min(), times.iter().max());
        let (first, last) = (first.copied(), last.copied());
        let (first, last) = (first.unwrap_or(0), last.unwrap_or(0));
        let setting = match cutoff {
            TemporalCutoff::Fraction(f) => format!("--test-fraction {f}"),
            TemporalCutoff::Time(t) => format!("--cutoff {t}"),
        };
        return Err(Error::Invalid(format!(
            "{setting} leaves one part of the temporal split empty; the \
             {} {} timestamps from {first} to {last}",
            crate::plural::count(len, "rating"),
            crate::plural::form(len, "has", "have")
        )));
    }
    Ok(split)
}

/// Cuts `len` ratings into `folds` random folds of sizes that differ by at
/// most one, and returns one split per fold, whose test part is that fold
/// and whose training part is every other fold.
///
/// The test parts of the splits are disjoint and together contain every
/// position.
///
/// # Errors
///
/// Fails when `folds` is below 2 or above `len`.
pub fn k_folds(len: usize, folds: usize, seed: u64) -> Result<Vec<Split>> {
    if folds < 2 {
        return Err(invalid("--folds", folds, "must be at least 2"));
    }
    if folds > len {
        return Err(invalid(
            "--folds",
            folds,
            &format!("cannot exceed the number of ratings, {len}"),
        ));
    }
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut fold_of = vec![0usize; len];
    for (rank, &position) in order.iter().enumerate() {
        fold_of[position] = rank % folds;
    }
    let splits = (0..folds)
        .map(|fold| {
            let is_test: Vec<bool> =
                fold_of.iter().map(|&f| f == fold).collect();
            Split::from_flags(&is_test)
        })
        .collect();
    Ok(splits)
}

fn require_timestamps(ratings: &Ratings, split: &str) -> Result<()> {
    if ratings.timestamps.len() == ratings.len() && !ratings.is_empty() {
        return Ok(());
    }
    Err(invalid(
        "--split",
        split,
        "the ratings have no timestamps; this split needs a fourth column \
         of Unix seconds (user, item, rating, timestamp)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Rating;

    #[test]
    fn split_is_a_seeded_partition() {
        let split = random_split(1000, 0.2, 7).unwrap();
        assert_eq!(split.test.len(), 200);
        assert_eq!(split.train.len(), 800);
        let mut all: Vec<usize> =
            split.train.iter().chain(&split.test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_eq!(split, random_split(1000, 0.2, 7).unwrap());
        assert_ne!(split, random_split(1000, 0.2, 8).unwrap());
    }

    #[test]
    fn bad_fractions_rejected() {
        for fraction in [0.0, 1.0, -0.1, f64::NAN] {
            assert!(random_split(100, fraction, 1).is_err(), "{fraction}");
        }
        assert!(random_split(3, 0.1, 1).is_err());
    }

    #[test]
    fn validation_errors_name_option() {
        let error = validation_split(100, 1.5, 1).unwrap_err().to_string();
        assert!(
            error.starts_with("invalid --validation-fraction 1.5"),
            "{error}"
        );
    }

    /// User `u` (0-based) has `u + 1` ratings at times 10, 20, ... in
    /// source order, and items never repeat within a user.
    fn staircase(users: u32) -> Ratings {
        let mut ratings = Ratings::default();
        for user in 0..users {
            for k in 0..=user {
                let user = ratings.users.intern(&format!("u{user}"));
                let item = ratings.items.intern(&format!("i{k}"));
                ratings.entries.push(Rating {
                    user,
                    item,
                    value: 3.0,
                });
                ratings.timestamps.push(10 * (i64::from(k) + 1));
            }
        }
        ratings
    }

    #[test]
    fn user_count_holdout_by_hand() {
        let ratings = staircase(4);
        let holdout = UserHoldout {
            size: HoldoutSize::Count(2),
            order: HoldoutOrder::Latest,
            min_train: 1,
        };
        // Users with 1 and 2 ratings cannot keep one in training. The user
        // with 3 holds out positions 4 and 5, and the user with 4 holds
        // out positions 8 and 9.
        let split = user_split(&ratings, &holdout, 0).unwrap();
        assert_eq!(split.test, vec![4, 5, 8, 9]);
        assert_eq!(split.train, vec![0, 1, 2, 3, 6, 7]);
    }

    #[test]
    fn user_fraction_rounds_per_user() {
        let ratings = staircase(4);
        let holdout = UserHoldout {
            size: HoldoutSize::Fraction(0.5),
            order: HoldoutOrder::Latest,
            min_train: 1,
        };
        // round(n / 2) for n = 1..4 is 1, 1, 2, 2; the user with one
        // rating would keep none, so keeps it.
        let split = user_split(&ratings, &holdout, 0).unwrap();
        assert_eq!(split.test, vec![2, 4, 5, 8, 9]);
    }

    #[test]
    fn latest_ties_follow_source_order() {
        let mut ratings = staircase(3);
        ratings.timestamps.iter_mut().for_each(|t| *t = 5);
        let holdout = UserHoldout {
            size: HoldoutSize::Count(1),
            order: HoldoutOrder::Latest,
            min_train: 1,
        };
        let split = user_split(&ratings, &holdout, 0).unwrap();
        assert_eq!(split.test, vec![2, 5]);
    }

    #[test]
    fn user_split_without_eligible_users() {
        let ratings = staircase(2);
        let holdout = UserHoldout {
            size: HoldoutSize::Count(5),
            order: HoldoutOrder::Random,
            min_train: 1,
        };
        let error = user_split(&ratings, &holdout, 0).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("--holdout 5"), "{message}");
        assert!(message.contains("--min-train-ratings 1"), "{message}");
    }

    #[test]
    fn timestamps_required_by_name() {
        let mut ratings = staircase(3);
        ratings.timestamps.clear();
        let holdout = UserHoldout {
            size: HoldoutSize::Count(1),
            order: HoldoutOrder::Latest,
            min_train: 1,
        };
        let error = user_split(&ratings, &holdout, 0).unwrap_err();
        assert!(
            error.to_string().starts_with("invalid --split user-last"),
            "{error}"
        );
        let error = temporal_split(&ratings, TemporalCutoff::Time(1));
        let error = error.unwrap_err().to_string();
        assert!(error.starts_with("invalid --split temporal"), "{error}");
        assert!(error.contains("timestamps"), "{error}");
    }

    #[test]
    fn temporal_cutoff_time_by_hand() {
        let ratings = staircase(3);
        // Times in source order: 10 | 10 20 | 10 20 30.
        let split = temporal_split(&ratings, TemporalCutoff::Time(20));
        let split = split.unwrap();
        assert_eq!(split.test, vec![2, 4, 5]);
        assert_eq!(split.train, vec![0, 1, 3]);
        let error = temporal_split(&ratings, TemporalCutoff::Time(31));
        let error = error.unwrap_err().to_string();
        assert!(error.contains("--cutoff 31"), "{error}");
        assert!(error.contains("from 10 to 30"), "{error}");
    }

    #[test]
    fn temporal_fraction_takes_latest() {
        let ratings = staircase(3);
        let split = temporal_split(&ratings, TemporalCutoff::Fraction(0.5));
        let split = split.unwrap();
        // The three latest of 10, 10, 20, 10, 20, 30: the 30, both 20s.
        assert_eq!(split.test, vec![2, 4, 5]);
    }

    #[test]
    fn k_folds_sizes_and_errors() {
        let splits = k_folds(11, 3, 5).unwrap();
        let sizes: Vec<usize> = splits.iter().map(|s| s.test.len()).collect();
        assert_eq!(sizes, vec![4, 4, 3]);
        assert!(k_folds(11, 1, 5).is_err());
        let error = k_folds(3, 4, 5).unwrap_err().to_string();
        assert!(error.starts_with("invalid --folds 4"), "{error}");
    }
}

//! Seeded train/test splits of a rating set.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// Entry positions of a train/test split, each in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// Positions of the training ratings.
    pub train: Vec<usize>,
    /// Positions of the test ratings.
    pub test: Vec<usize>,
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
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(Error::InvalidParameter {
            name: "--test-fraction",
            value: test_fraction.to_string(),
            reason: "must be above 0 and below 1".into(),
        });
    }
    let test_len = (len as f64 * test_fraction).round() as usize;
    if test_len == 0 || test_len == len {
        return Err(Error::Invalid(format!(
            "cannot split {len} ratings with --test-fraction \
             {test_fraction}: one part would be empty"
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

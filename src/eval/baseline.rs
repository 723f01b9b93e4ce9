//! Baselines that give a model's figures a point of comparison: the
//! global mean and damped user and item biases for RMSE and MAE, and the
//! most-rated items for top-N lists.

use serde::Serialize;

use super::ranking::Ranker;
use super::{Indexed, Predictor};
use crate::data::{matrix, IdMap, Ratings};
use crate::error::{Error, Result};
use crate::model::{Fallback, Model, Prediction};

/// Damping of the user biases of [`BiasBaseline::fit`]: a user with `n`
/// ratings gets `n / (n + 10)` of the mean of their residuals.
pub const USER_DAMPING: f64 = 10.0;

/// Damping of the item biases of [`BiasBaseline::fit`]: an item with `n`
/// ratings gets `n / (n + 25)` of the mean of its residuals.
///
/// Both dampings are fixed choices, not tuned on any data set.
pub const ITEM_DAMPING: f64 = 25.0;

/// Predicts `global mean + user bias + item bias`, clipped to the
/// training range, with biases in closed form:
///
/// ```text
/// b_i = sum over users u of i of (r_ui - mu)       / (item_damping + n_i)
/// b_u = sum over items i of u of (r_ui - mu - b_i) / (user_damping + n_u)
/// ```
///
/// An unknown user or item has a bias of 0, and the prediction's
/// `fallback` names the case, as with [`Model::predict`].
#[derive(Debug, Clone, PartialEq)]
pub struct BiasBaseline {
    /// Training user ids.
    pub users: IdMap,
    /// Training item ids.
    pub items: IdMap,
    /// Mean of the training ratings.
    pub global_mean: f64,
    /// One bias per user.
    pub user_bias: Vec<f64>,
    /// One bias per item.
    pub item_bias: Vec<f64>,
    /// Smallest and largest training rating.
    pub rating_range: (f32, f32),
    /// `user_damping` of the formula.
    pub user_damping: f64,
    /// `item_damping` of the formula.
    pub item_damping: f64,
}

impl BiasBaseline {
    /// Computes the biases of `train`. Of a repeated (user, item) pair
    /// only the last row counts, as in training.
    ///
    /// # Errors
    ///
    /// Fails when `train` is empty or a damping is negative or not finite.
    pub fn fit(
        train: &Ratings,
        user_damping: f64,
        item_damping: f64,
    ) -> Result<BiasBaseline> {
        let mut baseline = BiasBaseline::global_mean(train)?;
        for damping in [user_damping, item_damping] {
            if !(damping.is_finite() && damping >= 0.0) {
                return Err(Error::Invalid(format!(
                    "invalid bias damping {damping}: must be a finite \
                     number >= 0"
                )));
            }
        }
        baseline.user_damping = user_damping;
        baseline.item_damping = item_damping;
        let keep = matrix::last_of_each_pair(
            &train.entries,
            train.users.len(),
            train.items.len(),
        );
        let kept_entries = || train.entries.iter().zip(&keep).filter(|e| *e.1);
        let mu = baseline.global_mean;

        let mut sums = vec![0.0f64; train.items.len()];
        let mut counts = vec![0usize; train.items.len()];
        for (rating, _) in kept_entries() {
            sums[rating.item as usize] += f64::from(rating.value) - mu;
            counts[rating.item as usize] += 1;
        }
        baseline.item_bias = damped_means(&sums, &counts, item_damping);

        let mut sums = vec![0.0f64; train.users.len()];
        let mut counts = vec![0usize; train.users.len()];
        for (rating, _) in kept_entries() {
            let item_bias = baseline.item_bias[rating.item as usize];
            sums[rating.user as usize] +=
                f64::from(rating.value) - mu - item_bias;
            counts[rating.user as usize] += 1;
        }
        baseline.user_bias = damped_means(&sums, &counts, user_damping);
        Ok(baseline)
    }

    /// Builds a baseline that predicts the training mean for every pair,
    /// with every bias 0.
    ///
    /// # Errors
    ///
    /// Fails when `train` is empty.
    pub fn global_mean(train: &Ratings) -> Result<BiasBaseline> {
        let (Some(mean), Some(range)) = (kept_mean(train), train.range())
        else {
            return Err(Error::Invalid("no training ratings".into()));
        };
        Ok(BiasBaseline {
            users: train.users.clone(),
            items: train.items.clone(),
            global_mean: mean,
            user_bias: vec![0.0; train.users.len()],
            item_bias: vec![0.0; train.items.len()],
            rating_range: range,
            user_damping: f64::INFINITY,
            item_damping: f64::INFINITY,
        })
    }
}

/// Mean of the ratings, counting only the last row of a repeated pair.
fn kept_mean(train: &Ratings) -> Option<f64> {
    let keep = matrix::last_of_each_pair(
        &train.entries,
        train.users.len(),
        train.items.len(),
    );
    let (sum, count) =
        train.entries.iter().zip(&keep).filter(|e| *e.1).fold(
            (0.0f64, 0usize),
            |(sum, count), (rating, _)| {
                (sum + f64::from(rating.value), count + 1)
            },
        );
    (count > 0).then(|| sum / count as f64)
}

fn damped_means(sums: &[f64], counts: &[usize], damping: f64) -> Vec<f64> {
    sums.iter()
        .zip(counts)
        .map(|(&sum, &count)| {
            let denominator = damping + count as f64;
            if denominator > 0.0 {
                sum / denominator
            } else {
                0.0
            }
        })
        .collect()
}

impl Indexed for BiasBaseline {
    fn users(&self) -> &IdMap {
        &self.users
    }

    fn items(&self) -> &IdMap {
        &self.items
    }
}

impl Predictor for BiasBaseline {
    fn predict_indices(
        &self,
        user: Option<u32>,
        item: Option<u32>,
    ) -> Prediction {
        let user_bias = user.map_or(0.0, |u| self.user_bias[u as usize]);
        let item_bias = item.map_or(0.0, |i| self.item_bias[i as usize]);
        let fallback = match (user, item) {
            (Some(_), Some(_)) => None,
            (None, Some(_)) => Some(Fallback::UnknownUser),
            (Some(_), None) => Some(Fallback::UnknownItem),
            (None, None) => Some(Fallback::UnknownUserAndItem),
        };
        let raw = (self.global_mean + user_bias + item_bias) as f32;
        Prediction {
            value: raw.clamp(self.rating_range.0, self.rating_range.1),
            fallback,
        }
    }
}

/// Recommends the items rated most often in training that the user has
/// not rated, ties going to the item seen first.
///
/// It borrows the training matrix stored in a [`Model`], so it needs no
/// training ratings and ranks over the same catalogue as the model.
pub struct Popularity<'a> {
    model: &'a Model,
    /// Item indices, most rated first.
    order: Vec<u32>,
}

impl<'a> Popularity<'a> {
    /// Counts the training ratings of each item of `model`.
    pub fn new(model: &'a Model) -> Popularity<'a> {
        let counts = model.item_rating_counts();
        let mut order: Vec<u32> = (0..model.items.len() as u32).collect();
        order.sort_by_key(|&item| std::cmp::Reverse(counts[item as usize]));
        Popularity { model, order }
    }
}

impl Indexed for Popularity<'_> {
    fn users(&self) -> &IdMap {
        &self.model.users
    }

    fn items(&self) -> &IdMap {
        &self.model.items
    }
}

impl Ranker for Popularity<'_> {
    fn top_n(&self, user: u32, n: usize, allowed: Option<&[bool]>) -> Vec<u32> {
        let rated = self.model.rated_by(user);
        self.order
            .iter()
            .copied()
            .filter(|&item| allowed.is_none_or(|a| a[item as usize]))
            .filter(|item| rated.binary_search(item).is_err())
            .take(n)
            .collect()
    }
}

/// RMSE and MAE of a rating baseline, with its settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BaselineErrors {
    /// Root mean squared error over all test rows.
    pub rmse: f64,
    /// Mean absolute error over all test rows.
    pub mae: f64,
    /// `user_damping`, for the bias baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_damping: Option<f64>,
    /// `item_damping`, for the bias baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_damping: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Rating;

    fn ratings(rows: &[(&str, &str, f32)]) -> Ratings {
        let mut out = Ratings::default();
        for &(user, item, value) in rows {
            let user = out.users.intern(user);
            let item = out.items.intern(item);
            out.entries.push(Rating { user, item, value });
        }
        out
    }

    #[test]
    fn biases_by_hand() {
        // mu = (5 + 3 + 4 + 1 + 2) / 5 = 3.
        let train = ratings(&[
            ("u", "a", 5.0),
            ("u", "b", 3.0),
            ("v", "a", 4.0),
            ("v", "c", 1.0),
            ("w", "b", 2.0),
        ]);
        let baseline = BiasBaseline::fit(&train, 1.0, 2.0).unwrap();
        assert_eq!(baseline.global_mean, 3.0);
        // b_a = (2 + 1) / (2 + 2), b_b = (0 - 1) / (2 + 2), b_c = -2 / 3.
        let expected_items = [0.75, -0.25, -2.0 / 3.0];
        for (got, want) in baseline.item_bias.iter().zip(expected_items) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        // b_u = ((5-3-0.75) + (3-3+0.25)) / (1 + 2) = 0.5,
        // b_v = ((4-3-0.75) + (1-3+2/3)) / 3 = (0.25 - 4/3) / 3,
        // b_w = (2-3+0.25) / (1 + 1) = -0.375.
        let expected_users = [0.5, (0.25 - 4.0 / 3.0) / 3.0, -0.375];
        for (got, want) in baseline.user_bias.iter().zip(expected_users) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        let prediction = baseline.predict_indices(Some(0), Some(0));
        assert!((prediction.value - 4.25).abs() < 1e-6);
        assert_eq!(prediction.fallback, None);
        let cold = baseline.predict_indices(None, Some(2));
        assert!((cold.value - (3.0 - 2.0 / 3.0) as f32).abs() < 1e-6);
        assert_eq!(cold.fallback, Some(Fallback::UnknownUser));
    }

    #[test]
    fn predictions_clipped_to_range() {
        let train =
            ratings(&[("u", "a", 5.0), ("u", "b", 5.0), ("v", "b", 1.0)]);
        let baseline = BiasBaseline::fit(&train, 0.0, 0.0).unwrap();
        for (user, item) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let value = baseline.predict_indices(Some(user), Some(item)).value;
            assert!((1.0..=5.0).contains(&value), "{user}/{item}: {value}");
        }
    }

    #[test]
    fn repeated_pair_counts_once() {
        let once = ratings(&[("u", "a", 4.0), ("v", "a", 2.0)]);
        let twice =
            ratings(&[("u", "a", 1.0), ("u", "a", 4.0), ("v", "a", 2.0)]);
        let first = BiasBaseline::fit(&once, 10.0, 25.0).unwrap();
        let second = BiasBaseline::fit(&twice, 10.0, 25.0).unwrap();
        assert_eq!(first.global_mean, second.global_mean);
        assert_eq!(first.user_bias, second.user_bias);
        assert_eq!(first.item_bias, second.item_bias);
    }

    #[test]
    fn empty_and_bad_damping_rejected() {
        assert!(BiasBaseline::fit(&Ratings::default(), 10.0, 25.0).is_err());
        let train = ratings(&[("u", "a", 4.0)]);
        assert!(BiasBaseline::fit(&train, -1.0, 25.0).is_err());
        assert!(BiasBaseline::fit(&train, 10.0, f64::NAN).is_err());
    }
}

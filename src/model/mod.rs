//! A trained biased matrix-factorization model and its queries.
//!
//! A prediction is `global_mean + user_bias + item_bias + p_u . q_i`.

pub mod params;
pub mod persist;
pub(crate) mod sgd;
pub mod train;

use std::cmp::Ordering;

use crate::data::IdMap;
use crate::error::{Error, Result};
use params::TrainParams;

/// A trained model with the id maps of its training data.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The settings it was trained with.
    pub params: TrainParams,
    /// Mean of the training ratings.
    pub global_mean: f32,
    /// Smallest and largest training rating; predictions are clipped to it.
    pub rating_range: (f32, f32),
    /// Training user ids; index `u` is row `u` of `user_factors`.
    pub users: IdMap,
    /// Training item ids; index `i` is row `i` of `item_factors`.
    pub items: IdMap,
    /// Row-major `users.len() x factors` matrix.
    pub user_factors: Vec<f32>,
    /// Row-major `items.len() x factors` matrix.
    pub item_factors: Vec<f32>,
    /// One bias per user.
    pub user_bias: Vec<f32>,
    /// One bias per item.
    pub item_bias: Vec<f32>,
    /// CSR row pointers of the training matrix: user `u` rated
    /// `rated_items[rated_indptr[u]..rated_indptr[u + 1]]`.
    pub rated_indptr: Vec<usize>,
    /// Item indices rated in training, sorted within each user.
    pub rated_items: Vec<u32>,
}

/// How a prediction for an id absent from training was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The user is unknown: global mean plus item bias.
    UnknownUser,
    /// The item is unknown: global mean plus user bias.
    UnknownItem,
    /// Both are unknown: the global mean.
    UnknownUserAndItem,
}

impl Fallback {
    /// A description for output.
    pub fn describe(self) -> &'static str {
        match self {
            Fallback::UnknownUser => {
                "unknown user: global mean plus the item's bias"
            }
            Fallback::UnknownItem => {
                "unknown item: global mean plus the user's bias"
            }
            Fallback::UnknownUserAndItem => {
                "unknown user and item: global mean"
            }
        }
    }

    /// A short machine-readable name.
    pub fn name(self) -> &'static str {
        match self {
            Fallback::UnknownUser => "unknown_user",
            Fallback::UnknownItem => "unknown_item",
            Fallback::UnknownUserAndItem => "unknown_user_and_item",
        }
    }
}

/// A predicted rating, clipped to the training range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// The predicted rating.
    pub value: f32,
    /// Set when the user or the item was absent from training.
    pub fallback: Option<Fallback>,
}

/// An item in a ranked list, with its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Item index in [`Model::items`].
    pub item: u32,
    /// Predicted rating before clipping (for recommendations) or cosine
    /// similarity (for similar items).
    pub score: f32,
}

impl Model {
    /// Length of each factor vector.
    pub fn factors(&self) -> usize {
        self.params.factors
    }

    /// The factor vector of user index `user`.
    pub fn user_vector(&self, user: u32) -> &[f32] {
        let k = self.factors();
        &self.user_factors[user as usize * k..(user as usize + 1) * k]
    }

    /// The factor vector of item index `item`.
    pub fn item_vector(&self, item: u32) -> &[f32] {
        let k = self.factors();
        &self.item_factors[item as usize * k..(item as usize + 1) * k]
    }

    /// Items that user index `user` rated in training, sorted.
    pub fn rated_by(&self, user: u32) -> &[u32] {
        let user = user as usize;
        &self.rated_items[self.rated_indptr[user]..self.rated_indptr[user + 1]]
    }

    /// Number of training ratings.
    pub fn train_ratings(&self) -> usize {
        self.rated_items.len()
    }

    /// Training ratings of each item index.
    pub fn item_rating_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.items.len()];
        for &item in &self.rated_items {
            counts[item as usize] += 1;
        }
        counts
    }

    /// Returns whether `user` rated `item` in training, by id, and false
    /// when either is unknown.
    pub fn rated_in_training(&self, user: &str, item: &str) -> bool {
        match (self.users.get(user), self.items.get(item)) {
            (Some(user), Some(item)) => {
                self.rated_by(user).binary_search(&item).is_ok()
            }
            _ => false,
        }
    }

    /// Predicted rating of known indices, before clipping.
    pub fn score(&self, user: u32, item: u32) -> f32 {
        self.global_mean
            + self.user_bias[user as usize]
            + self.item_bias[item as usize]
            + sgd::dot(self.user_vector(user), self.item_vector(item))
    }

    /// Clips a value to the training rating range.
    pub fn clip(&self, value: f32) -> f32 {
        value.clamp(self.rating_range.0, self.rating_range.1)
    }

    /// Predicts the rating of `item` by `user`, both as written in the
    /// training file, clipped to the training range.
    ///
    /// An id absent from training gets the global mean plus the bias of the
    /// other id where that one is known, and the result says so.
    pub fn predict(&self, user: &str, item: &str) -> Prediction {
        self.predict_indices(self.users.get(user), self.items.get(item))
    }

    /// Like [`Model::predict`] with indices already looked up.
    pub fn predict_indices(
        &self,
        user: Option<u32>,
        item: Option<u32>,
    ) -> Prediction {
        let (raw, fallback) = match (user, item) {
            (Some(u), Some(i)) => (self.score(u, i), None),
            (None, Some(i)) => (
                self.global_mean + self.item_bias[i as usize],
                Some(Fallback::UnknownUser),
            ),
            (Some(u), None) => (
                self.global_mean + self.user_bias[u as usize],
                Some(Fallback::UnknownItem),
            ),
            (None, None) => {
                (self.global_mean, Some(Fallback::UnknownUserAndItem))
            }
        };
        Prediction {
            value: self.clip(raw),
            fallback,
        }
    }

    /// Returns the `n` items with the highest predicted rating for `user`,
    /// leaving out the items that user rated in training, best first.
    ///
    /// # Errors
    ///
    /// Fails with [`Error::UnknownUser`] when `user` had no training
    /// ratings.
    pub fn recommend(&self, user: &str, n: usize) -> Result<Vec<Scored>> {
        let index = self
            .users
            .get(user)
            .ok_or_else(|| Error::UnknownUser(user.to_string()))?;
        Ok(self.recommend_among(index, n, None))
    }

    /// Returns the `n` items with the highest predicted rating for user
    /// index `user` among the items it has not rated and, when `allowed`
    /// is given, whose flag in it is set. Ordered as [`Model::recommend`].
    ///
    /// # Panics
    ///
    /// Panics when `user` is out of range or `allowed` is shorter than
    /// the item count.
    pub fn recommend_among(
        &self,
        user: u32,
        n: usize,
        allowed: Option<&[bool]>,
    ) -> Vec<Scored> {
        let base = self.global_mean + self.user_bias[user as usize];
        let vector = self.user_vector(user);
        let mut excluded = match allowed {
            Some(allowed) => {
                allowed[..self.items.len()].iter().map(|&a| !a).collect()
            }
            None => vec![false; self.items.len()],
        };
        for &item in self.rated_by(user) {
            excluded[item as usize] = true;
        }
        let candidates = (0..self.items.len() as u32)
            .filter(|&item| !excluded[item as usize])
            .map(|item| Scored {
                item,
                score: base
                    + self.item_bias[item as usize]
                    + sgd::dot(vector, self.item_vector(item)),
            });
        top_n(candidates, n)
    }

    /// Returns the `n` items whose factor vectors have the highest cosine
    /// similarity to that of `item`, most similar first.
    ///
    /// # Errors
    ///
    /// Fails with [`Error::UnknownItem`] when `item` had no training
    /// ratings.
    pub fn similar_items(&self, item: &str, n: usize) -> Result<Vec<Scored>> {
        let index = self
            .items
            .get(item)
            .ok_or_else(|| Error::UnknownItem(item.to_string()))?;
        let norm = |v: &[f32]| sgd::dot(v, v).sqrt();
        let target = self.item_vector(index);
        let target_norm = norm(target);
        let candidates = (0..self.items.len() as u32)
            .filter(|&other| other != index)
            .map(|other| {
                let vector = self.item_vector(other);
                let denominator = target_norm * norm(vector);
                let score = if denominator > 0.0 {
                    sgd::dot(target, vector) / denominator
                } else {
                    0.0
                };
                Scored { item: other, score }
            });
        Ok(top_n(candidates, n))
    }
}

/// Keeps the `n` best of `candidates`, ordered by score (highest first)
/// with ties broken by the lower item index.
fn top_n(candidates: impl Iterator<Item = Scored>, n: usize) -> Vec<Scored> {
    let order = |a: &Scored, b: &Scored| {
        b.score
            .partial_cmp(&a.score)
            .unwrap_or(Ordering::Equal)
            .then(a.item.cmp(&b.item))
    };
    let mut all: Vec<Scored> = candidates.collect();
    if n == 0 {
        return Vec::new();
    }
    if all.len() > n {
        all.select_nth_unstable_by(n - 1, order);
        all.truncate(n);
    }
    all.sort_by(order);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_n_orders_and_breaks_ties() {
        let scored = |item, score| Scored { item, score };
        let list = vec![
            scored(0, 1.0),
            scored(1, 3.0),
            scored(2, 2.0),
            scored(3, 3.0),
            scored(4, 0.5),
        ];
        let best = top_n(list.clone().into_iter(), 3);
        let items: Vec<u32> = best.iter().map(|s| s.item).collect();
        assert_eq!(items, vec![1, 3, 2]);
        assert_eq!(top_n(list.clone().into_iter(), 10).len(), 5);
        assert!(top_n(list.into_iter(), 0).is_empty());
    }
}

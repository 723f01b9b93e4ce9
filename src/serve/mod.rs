//! Serving a trained model: filtered top-N lists, cold-start lists, fold-in
//! of new users, batch top-N for many users and an HTTP JSON API.
//!
//! [`Recommender`] wraps a [`Model`] with what queries need besides the
//! factors: the item catalog, a genre index, training rating counts and
//! item norms. The command-line tool and the HTTP server both query it.
//!
//! ```
//! use std::path::Path;
//! use descent::data::load::{parse_ratings, LoadOptions};
//! use descent::serve::{ColdStart, FilterSpec, ListKind, Recommender};
//! use descent::{fit, TrainParams};
//!
//! let text = "1,10,4\n1,20,2\n2,10,5\n2,30,3\n3,20,4\n";
//! let (ratings, _) =
//!     parse_ratings(text.as_bytes(), Path::new("r.csv"), &LoadOptions::default())?;
//! let model = fit(&ratings, &TrainParams { epochs: 5, ..TrainParams::default() })?;
//! let recommender = Recommender::new(model, None);
//!
//! let spec = FilterSpec { exclude: vec!["30".into()], ..FilterSpec::default() };
//! let filter = recommender.filter(&spec)?;
//! let list = recommender.recommend("1", 5, &filter, None)?;
//! assert_eq!(list.kind, ListKind::Personalized);
//! assert!(list.items.is_empty()); // 10 and 20 are rated, 30 is excluded
//!
//! // An unknown user is an error unless a cold-start list is requested.
//! assert!(recommender.recommend("99", 5, &filter, None).is_err());
//! let popular = recommender.recommend("99", 2, &filter, Some(ColdStart::Popular))?;
//! assert_eq!(popular.kind, ListKind::Popular);
//! assert_eq!(recommender.model().items.id(popular.items[0].item), "10");
//! # Ok::<(), descent::Error>(())
//! ```

pub mod batch;
pub mod filter;
pub mod foldin;
pub mod http;
mod quantized;
pub mod rank;

use crate::data::items::ItemCatalog;
use crate::error::{Error, Result};
use crate::model::{sgd, Model, Scored};

pub use filter::{FilterSpec, GenreIndex, ItemFilter};
pub use foldin::{fold_in, FoldInOptions, FoldedUser};
use quantized::QuantizedItems;
use rank::{add_bias, panel_dots, push_scores, rank_order, ItemPanels, TopN};

/// The list to give a user the model has no factors for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColdStart {
    /// The items with the most training ratings; the score is that count.
    Popular,
    /// The items with the highest global mean plus item bias, which is the
    /// prediction for an unknown user; the score is that prediction.
    Bias,
}

/// The source of a ranked list: the user's factors or a cold-start
/// ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// From the user's own factors, trained or folded in.
    Personalized,
    /// Most-rated items, the same for every user.
    Popular,
    /// Highest item bias, the same for every user.
    Bias,
}

impl ListKind {
    /// Returns the name used in JSON and CSV output.
    pub fn name(self) -> &'static str {
        match self {
            ListKind::Personalized => "personalized",
            ListKind::Popular => "popular",
            ListKind::Bias => "bias",
        }
    }

    /// Returns a description of the list's contents, for output.
    pub fn describe(self) -> &'static str {
        match self {
            ListKind::Personalized => {
                "the items with the highest predicted rating"
            }
            ListKind::Popular => "the most-rated items in training",
            ListKind::Bias => {
                "the items with the highest global mean plus item bias"
            }
        }
    }

    /// Returns what the list's score means, for output.
    pub fn score_meaning(self) -> &'static str {
        match self {
            ListKind::Personalized => "the predicted rating",
            ListKind::Popular => "the number of training ratings",
            ListKind::Bias => "the global mean plus the item's bias",
        }
    }
}

impl From<ColdStart> for ListKind {
    fn from(cold: ColdStart) -> ListKind {
        match cold {
            ColdStart::Popular => ListKind::Popular,
            ColdStart::Bias => ListKind::Bias,
        }
    }
}

/// A ranked list of items and how it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedList {
    /// Personalized or one of the cold-start lists.
    pub kind: ListKind,
    /// Items, best first.
    pub items: Vec<Scored>,
}

/// A model ready for queries, with its catalog and the per-item data that
/// queries share.
#[derive(Debug, Clone)]
pub struct Recommender {
    model: Model,
    catalog: Option<ItemCatalog>,
    genres: Option<GenreIndex>,
    /// Training ratings of each item.
    rating_counts: Vec<u32>,
    /// Every item, most-rated first, ties by lower index.
    popular: Vec<u32>,
    /// Every item by global mean plus item bias, highest first.
    by_bias: Vec<u32>,
    /// Euclidean norm of each item's factors.
    item_norms: Vec<f32>,
    /// The item factors again, laid out for scoring all items at once.
    panels: ItemPanels,
    /// The item factors quantized, for top-N lists that skip most exact
    /// scores. `None` when the factors do not allow it (see
    /// [`QuantizedItems::new`]).
    quantized: Option<QuantizedItems>,
}

impl Recommender {
    /// Wraps `model`, with titles and genres from `catalog` if given.
    pub fn new(model: Model, catalog: Option<ItemCatalog>) -> Recommender {
        let items = model.items.len();
        let rating_counts = model.item_rating_counts();
        let mut popular: Vec<u32> = (0..items as u32).collect();
        popular.sort_by(|&a, &b| {
            rating_counts[b as usize]
                .cmp(&rating_counts[a as usize])
                .then(a.cmp(&b))
        });
        let mut by_bias: Vec<u32> = (0..items as u32).collect();
        by_bias.sort_by(|&a, &b| {
            let score = |i: u32| Scored {
                item: i,
                score: model.global_mean + model.item_bias[i as usize],
            };
            rank_order(&score(a), &score(b))
        });
        let item_norms = (0..items as u32)
            .map(|item| {
                let vector = model.item_vector(item);
                sgd::dot(vector, vector).sqrt()
            })
            .collect();
        let genres = catalog
            .as_ref()
            .map(|catalog| GenreIndex::new(&model.items, catalog));
        let panels =
            ItemPanels::new(&model.item_factors, items, model.factors());
        let quantized = QuantizedItems::new(
            &model.item_factors,
            &model.item_bias,
            model.factors(),
        );
        Recommender {
            model,
            catalog,
            genres,
            rating_counts,
            popular,
            by_bias,
            item_norms,
            panels,
            quantized,
        }
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The item catalog, when one was given.
    pub fn catalog(&self) -> Option<&ItemCatalog> {
        self.catalog.as_ref()
    }

    /// The genre index, when a catalog was given.
    pub fn genres(&self) -> Option<&GenreIndex> {
        self.genres.as_ref()
    }

    /// Training ratings of item index `item`.
    pub fn rating_count(&self, item: u32) -> u32 {
        self.rating_counts[item as usize]
    }

    /// Title of item index `item`, when the catalog has it.
    pub fn title(&self, item: u32) -> Option<&str> {
        let catalog = self.catalog.as_ref()?;
        catalog.title(self.model.items.id(item))
    }

    /// Genres of item index `item`; empty without a catalog.
    pub fn item_genres(&self, item: u32) -> &[String] {
        self.catalog
            .as_ref()
            .and_then(|c| c.items.get(self.model.items.id(item)))
            .map_or(&[], |info| info.genres.as_slice())
    }

    /// Resolves `spec` against the model's items and the genre index.
    ///
    /// # Errors
    ///
    /// As [`ItemFilter::resolve`].
    pub fn filter(&self, spec: &FilterSpec) -> Result<ItemFilter> {
        ItemFilter::resolve(
            spec,
            &self.model.items,
            self.genres.as_ref(),
            Some(&self.rating_counts),
        )
    }

    /// Returns the top `n` items for `user`, an id as written in the
    /// training file, among the items `filter` allows and the user has
    /// not rated.
    ///
    /// For a user absent from training, `cold_start` picks a labelled
    /// list that is the same for every such user.
    ///
    /// # Errors
    ///
    /// Fails with [`Error::UnknownUser`] when the model lacks `user` and
    /// `cold_start` is `None`.
    pub fn recommend(
        &self,
        user: &str,
        n: usize,
        filter: &ItemFilter,
        cold_start: Option<ColdStart>,
    ) -> Result<RankedList> {
        match (self.model.users.get(user), cold_start) {
            (Some(index), _) => Ok(RankedList {
                kind: ListKind::Personalized,
                items: self.recommend_index(index, n, filter),
            }),
            (None, Some(cold)) => Ok(self.cold_start(cold, n, filter, &[])),
            (None, None) => Err(Error::UnknownUser(user.to_string())),
        }
    }

    /// Top `n` for user index `user`, leaving out the items rated in
    /// training. Without a filter the list equals
    /// [`Model::recommend`]'s, scores included.
    pub fn recommend_index(
        &self,
        user: u32,
        n: usize,
        filter: &ItemFilter,
    ) -> Vec<Scored> {
        let base = self.model.global_mean + self.model.user_bias[user as usize];
        self.rank_vector(
            base,
            self.model.user_vector(user),
            self.model.rated_by(user),
            n,
            filter,
        )
    }

    /// Top `n` for a folded-in user, leaving out the items they rated.
    pub fn recommend_folded(
        &self,
        user: &FoldedUser,
        n: usize,
        filter: &ItemFilter,
    ) -> Vec<Scored> {
        let base = self.model.global_mean + user.bias;
        self.rank_vector(base, &user.factors, &user.rated, n, filter)
    }

    /// Ranks every item by `base + item bias + vector . q_i`, leaving out
    /// `rated` (sorted item indices) and what `filter` disallows.
    fn rank_vector(
        &self,
        base: f32,
        vector: &[f32],
        rated: &[u32],
        n: usize,
        filter: &ItemFilter,
    ) -> Vec<Scored> {
        let model = &self.model;
        let items = model.items.len();
        let mut top = TopN::new(n.min(items));
        let allowed = filter.allowed_items();
        // A short candidate list is cheaper to score one item at a time.
        if let Some(allowed) = allowed.filter(|list| list.len() * 8 < items) {
            for item in allowed {
                if rated.binary_search(&item).is_err() {
                    let score = base
                        + model.item_bias[item as usize]
                        + sgd::dot(vector, model.item_vector(item));
                    top.push(item, score);
                }
            }
            return top.take_sorted();
        }
        if let Some(list) = self.rank_quantized(base, vector, rated, n, filter)
        {
            return list;
        }

        let mut scores = vec![0.0f32; items];
        panel_dots(&self.panels, vector, &mut scores);
        add_bias(&mut scores, &model.item_bias, base);
        for &item in rated {
            scores[item as usize] = f32::NEG_INFINITY;
        }
        if let Some(mask) = filter.mask() {
            for (score, &ok) in scores.iter_mut().zip(mask) {
                if !ok {
                    *score = f32::NEG_INFINITY;
                }
            }
        }
        for (item, &score) in scores.iter().enumerate() {
            top.push(item as u32, score);
        }
        top.take_sorted()
    }

    /// Ranks as [`Recommender::rank_vector`] does, scoring exactly only
    /// the items that the quantized factors cannot rule out. Returns
    /// `None` when the full scan must run instead: for lists longer than a
    /// sixteenth of the items, where few items could be ruled out, and in
    /// the cases of [`QuantizedItems::candidates`].
    fn rank_quantized(
        &self,
        base: f32,
        vector: &[f32],
        rated: &[u32],
        n: usize,
        filter: &ItemFilter,
    ) -> Option<Vec<Scored>> {
        let quantized = self.quantized.as_ref()?;
        let model = &self.model;
        if n == 0 || n > model.items.len() / 16 {
            return None;
        }
        let query = quantized.query(vector)?;
        let mask = filter.mask();
        let eligible = |item: u32| {
            rated.binary_search(&item).is_err()
                && mask.is_none_or(|mask| mask[item as usize])
        };
        let candidates = quantized.candidates(&query, base, n, eligible)?;
        let mut top = TopN::new(n);
        push_scores(
            &mut top,
            &candidates,
            vector,
            &model.item_factors,
            &model.item_bias,
            base,
        );
        Some(top.take_sorted())
    }

    /// Returns the labelled cold-start list: the top `n` of `kind` among
    /// the items `filter` allows, leaving out `rated` (sorted item
    /// indices).
    pub fn cold_start(
        &self,
        kind: ColdStart,
        n: usize,
        filter: &ItemFilter,
        rated: &[u32],
    ) -> RankedList {
        let order = match kind {
            ColdStart::Popular => &self.popular,
            ColdStart::Bias => &self.by_bias,
        };
        let items = order
            .iter()
            .copied()
            .filter(|&item| {
                filter.allows(item) && rated.binary_search(&item).is_err()
            })
            .take(n)
            .map(|item| Scored {
                item,
                score: match kind {
                    ColdStart::Popular => {
                        self.rating_counts[item as usize] as f32
                    }
                    ColdStart::Bias => {
                        self.model.global_mean
                            + self.model.item_bias[item as usize]
                    }
                },
            })
            .collect();
        RankedList {
            kind: kind.into(),
            items,
        }
    }

    /// Returns the `n` items whose factors have the highest cosine
    /// similarity to those of `item`, among the items `filter` allows.
    /// Without a filter the list equals [`Model::similar_items`]'s.
    ///
    /// # Errors
    ///
    /// Fails with [`Error::UnknownItem`] when the model lacks `item`.
    pub fn similar(
        &self,
        item: &str,
        n: usize,
        filter: &ItemFilter,
    ) -> Result<Vec<Scored>> {
        let index = self
            .model
            .items
            .get(item)
            .ok_or_else(|| Error::UnknownItem(item.to_string()))?;
        Ok(self.similar_index(index, n, filter))
    }

    /// Like [`Recommender::similar`] with the index already looked up.
    pub fn similar_index(
        &self,
        item: u32,
        n: usize,
        filter: &ItemFilter,
    ) -> Vec<Scored> {
        let items = self.model.items.len();
        let mut dots = vec![0.0f32; items];
        panel_dots(&self.panels, self.model.item_vector(item), &mut dots);
        let target_norm = self.item_norms[item as usize];
        let mut top = TopN::new(n.min(items));
        for (other, &dot) in dots.iter().enumerate() {
            let other = other as u32;
            if other == item || !filter.allows(other) {
                continue;
            }
            let denominator = target_norm * self.item_norms[other as usize];
            let score = if denominator > 0.0 {
                dot / denominator
            } else {
                0.0
            };
            top.push(other, score);
        }
        top.take_sorted()
    }

    /// Finds the item whose title is `title`: an exact match ignoring
    /// case, else the only title that contains it ignoring case. Only
    /// items the model has count.
    ///
    /// # Errors
    ///
    /// Fails with [`Error::Invalid`] when there is no catalog, when no
    /// title matches, or when several titles contain `title` and none
    /// equals it. The message then lists up to five of them with their ids.
    pub fn find_title(&self, title: &str) -> Result<u32> {
        let catalog = self.catalog.as_ref().ok_or_else(|| {
            Error::Invalid(format!(
                "cannot look up the title {title:?} without an items file: \
                 pass --items"
            ))
        })?;
        let query = title.trim().to_lowercase();
        let mut exact = Vec::new();
        let mut partial = Vec::new();
        for (index, id) in self.model.items.ids().enumerate() {
            let Some(found) = catalog.title(id) else {
                continue;
            };
            let lower = found.to_lowercase();
            if lower == query {
                exact.push(index as u32);
            } else if lower.contains(&query) {
                partial.push(index as u32);
            }
        }
        let matches = if exact.is_empty() { partial } else { exact };
        match matches.as_slice() {
            [single] => Ok(*single),
            [] => Err(Error::Invalid(format!(
                "no item of the model has a title containing {title:?}"
            ))),
            several => {
                let shown: Vec<String> = several
                    .iter()
                    .take(5)
                    .map(|&item| {
                        format!(
                            "{} ({})",
                            self.title(item).unwrap_or(""),
                            self.model.items.id(item)
                        )
                    })
                    .collect();
                Err(Error::Invalid(format!(
                    "{} titles match {title:?}: {}{}; give a longer title or \
                     --item with the id",
                    several.len(),
                    shown.join("; "),
                    if several.len() > 5 { "; ..." } else { "" }
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate::{generate, SyntheticSpec};
    use crate::data::items::ItemInfo;
    use crate::TrainParams;

    fn trained() -> Model {
        let spec = SyntheticSpec {
            users: 120,
            items: 90,
            ratings: 3000,
            ..SyntheticSpec::default()
        };
        let synthetic = generate(&spec).unwrap();
        let params = TrainParams {
            factors: 6,
            epochs: 8,
            threads: 1,
            ..TrainParams::default()
        };
        crate::fit(&synthetic.ratings, &params).unwrap()
    }

    fn catalog(model: &Model) -> ItemCatalog {
        let mut catalog = ItemCatalog::default();
        for (index, id) in model.items.ids().enumerate() {
            let genre = if index % 3 == 0 { "Drama" } else { "Comedy" };
            catalog.items.insert(
                id.to_string(),
                ItemInfo {
                    title: format!("Film {id} ({})", 1990 + index % 20),
                    genres: vec![genre.to_string()],
                },
            );
        }
        catalog
    }

    #[test]
    fn unfiltered_lists_equal_model() {
        let model = trained();
        let recommender = Recommender::new(model.clone(), None);
        let none = ItemFilter::none();
        for user in model.users.ids().take(40) {
            let list = recommender.recommend(user, 7, &none, None).unwrap();
            assert_eq!(list.items, model.recommend(user, 7).unwrap());
        }
        for item in model.items.ids().take(20) {
            let list = recommender.similar(item, 5, &none).unwrap();
            assert_eq!(list, model.similar_items(item, 5).unwrap());
        }
    }

    #[test]
    fn quantized_lists_equal_full_scan() {
        let spec = SyntheticSpec {
            users: 60,
            items: 700,
            ratings: 9000,
            ..SyntheticSpec::default()
        };
        let synthetic = generate(&spec).unwrap();
        let params = TrainParams {
            factors: 20,
            epochs: 6,
            threads: 1,
            ..TrainParams::default()
        };
        let model = crate::fit(&synthetic.ratings, &params).unwrap();
        let recommender =
            Recommender::new(model.clone(), Some(catalog(&model)));
        let none = ItemFilter::none();
        let drama = recommender
            .filter(&FilterSpec {
                genres: vec!["drama".into()],
                ..FilterSpec::default()
            })
            .unwrap();
        let items = model.items.len();
        for (index, user) in model.users.ids().enumerate() {
            let index = index as u32;
            let full = model.recommend(user, items).unwrap();
            for n in [1, 10, 40] {
                let vector = model.user_vector(index);
                let base = model.global_mean + model.user_bias[index as usize];
                let rated = model.rated_by(index);
                let list = recommender
                    .rank_quantized(base, vector, rated, n, &none)
                    .expect("the quantized path applies");
                // A heavy user may have rated nearly every item.
                let head = &full[..n.min(full.len())];
                assert_eq!(list, head, "user {user}, n {n}");
                assert_eq!(recommender.recommend_index(index, n, &none), list);

                let expected: Vec<Scored> = full
                    .iter()
                    .filter(|s| recommender.item_genres(s.item) == ["Drama"])
                    .take(n)
                    .copied()
                    .collect();
                let list = recommender
                    .rank_quantized(base, vector, rated, n, &drama)
                    .expect("the quantized path applies");
                assert_eq!(list, expected, "user {user}, n {n}, drama");
            }
        }
    }

    #[test]
    fn filters_restrict_lists() {
        let model = trained();
        let recommender =
            Recommender::new(model.clone(), Some(catalog(&model)));
        let user = model.users.id(3).to_string();
        let best = recommender
            .recommend(&user, 3, &ItemFilter::none(), None)
            .unwrap();
        let excluded = model.items.id(best.items[0].item).to_string();
        let spec = FilterSpec {
            exclude: vec![excluded.clone()],
            genres: vec!["comedy".into()],
            ..FilterSpec::default()
        };
        let filter = recommender.filter(&spec).unwrap();
        let list = recommender.recommend(&user, 1000, &filter, None).unwrap();
        assert!(!list.items.is_empty());
        for scored in &list.items {
            assert_ne!(model.items.id(scored.item), excluded);
            assert_eq!(recommender.item_genres(scored.item), ["Comedy"]);
            assert!(model.rated_by(3).binary_search(&scored.item).is_err());
        }

        // A short candidate list takes the item-at-a-time path.
        let candidates: Vec<String> =
            model.items.ids().take(5).map(str::to_string).collect();
        let spec = FilterSpec {
            candidates: Some(candidates.clone()),
            ..FilterSpec::default()
        };
        let filter = recommender.filter(&spec).unwrap();
        let short = recommender.recommend(&user, 10, &filter, None).unwrap();
        let all = recommender
            .recommend(&user, 1000, &ItemFilter::none(), None)
            .unwrap();
        let expected: Vec<Scored> = all
            .items
            .into_iter()
            .filter(|s| candidates.iter().any(|c| c == model.items.id(s.item)))
            .collect();
        assert_eq!(short.items, expected);

        let similar = recommender.similar_index(0, 50, &filter);
        assert!(similar.iter().all(|s| s.item < 5 && s.item != 0));
    }

    #[test]
    fn cold_start_lists_labelled() {
        let model = trained();
        let recommender = Recommender::new(model.clone(), None);
        let none = ItemFilter::none();
        let error = recommender.recommend("nobody", 5, &none, None);
        assert!(matches!(error, Err(Error::UnknownUser(id)) if id == "nobody"));

        let popular = recommender
            .recommend("nobody", 5, &none, Some(ColdStart::Popular))
            .unwrap();
        assert_eq!(popular.kind, ListKind::Popular);
        let counts: Vec<f32> = popular.items.iter().map(|s| s.score).collect();
        let max = (0..model.items.len() as u32)
            .map(|i| recommender.rating_count(i))
            .max()
            .unwrap();
        assert_eq!(counts[0], max as f32);
        assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");

        let bias = recommender
            .recommend("nobody", 5, &none, Some(ColdStart::Bias))
            .unwrap();
        assert_eq!(bias.kind, ListKind::Bias);
        let first = bias.items[0].item;
        let prediction = model.predict("nobody", model.items.id(first));
        assert_eq!(model.clip(bias.items[0].score), prediction.value);
    }

    #[test]
    fn titles_found_exactly_or_uniquely() {
        let model = trained();
        let recommender =
            Recommender::new(model.clone(), Some(catalog(&model)));
        let id = model.items.id(4);
        let title = recommender.title(4).unwrap().to_uppercase();
        assert_eq!(recommender.find_title(&title).unwrap(), 4, "{id}");
        let error = recommender.find_title("Film").unwrap_err().to_string();
        assert!(error.contains("titles match"), "{error}");
        let error = recommender.find_title("Nothing").unwrap_err().to_string();
        assert!(error.contains("no item"), "{error}");
    }
}

//! Evaluation through the public API: split invariants, metrics and
//! baselines against hand-computed values, early stopping, parallel folds
//! and the settings search.

mod common;

use std::collections::HashMap;

use proptest::prelude::*;

use descent::data::load::{load_ratings, Format, LoadOptions};
use descent::data::split::{
    k_folds, random_split, temporal_split, user_split, HoldoutOrder,
    HoldoutSize, Split, TemporalCutoff, UserHoldout,
};
use descent::data::{IdMap, Rating, Ratings};
use descent::eval::baseline::{BiasBaseline, Popularity};
use descent::eval::early_stop::{train_tracked, EarlyStop};
use descent::eval::parallel::{pool, run_tasks};
use descent::eval::report::{train_and_measure, EvalSettings};
use descent::eval::tune::{
    tune, Choice, Metric, Search, SearchSpace, TuneSettings,
};
use descent::eval::{ranking_metrics, rating_errors, MinItemRatings};
use descent::model::train::Trainer;
use descent::{fit, Model, TrainParams};

/// Builds ratings from `(user, item, value, timestamp)` rows.
fn ratings(rows: &[(u32, u32, f32, i64)]) -> Ratings {
    let mut out = Ratings::default();
    for &(user, item, value, time) in rows {
        let user = out.users.intern(&user.to_string());
        let item = out.items.intern(&item.to_string());
        out.entries.push(Rating { user, item, value });
        out.timestamps.push(time);
    }
    out
}

/// Builds a deterministic set with structure: users and items fall into two
/// groups, and a user rates items of their own group higher.
fn grouped(users: u32, items: u32) -> Ratings {
    let mut rows = Vec::new();
    for user in 0..users {
        for item in 0..items {
            if (user * 7 + item * 3) % 4 == 0 {
                continue;
            }
            let same = (user % 2) == (item % 2);
            let value = if same { 4.5 } else { 1.5 } + (item % 3) as f32 * 0.2;
            rows.push((user, item, value, i64::from(user * items + item)));
        }
    }
    ratings(&rows)
}

/// Builds a set like [`grouped`], with user and item offsets on top of the group
/// effect, so that biases explain part of each rating and factors the
/// rest.
fn biased(users: u32, items: u32) -> Ratings {
    let mut rows = Vec::new();
    for user in 0..users {
        for item in 0..items {
            if (user * 5 + item * 3) % 7 == 0 {
                continue;
            }
            let group = if (user % 2) == (item % 2) { 0.8 } else { -0.8 };
            let user_offset = (user % 5) as f32 * 0.3 - 0.6;
            let item_offset = (item % 7) as f32 * 0.2 - 0.6;
            let value = 3.0 + group + user_offset + item_offset;
            rows.push((user, item, value, 0));
        }
    }
    ratings(&rows)
}

fn small_params() -> TrainParams {
    TrainParams {
        factors: 8,
        epochs: 12,
        blocks: 4,
        threads: 1,
        ..TrainParams::default()
    }
}

// ---------------------------------------------------------------------
// Split invariants

/// Checks that the parts partition `0..len`, are sorted and disjoint.
fn assert_partition(split: &Split, len: usize) {
    let mut all: Vec<usize> =
        split.train.iter().chain(&split.test).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..len).collect::<Vec<_>>(), "not a partition");
    assert!(
        split.train.windows(2).all(|w| w[0] < w[1]),
        "train unsorted"
    );
    assert!(split.test.windows(2).all(|w| w[0] < w[1]), "test unsorted");
}

/// Rows of up to 12 users and 30 items with timestamps, some shared.
fn arbitrary_rows() -> impl Strategy<Value = Vec<(u32, u32, f32, i64)>> {
    prop::collection::vec((0u32..12, 0u32..30, 1u32..=5, 0i64..50), 2..300)
        .prop_map(|rows| {
            rows.into_iter()
                .map(|(u, i, r, t)| (u, i, r as f32, t))
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_split_partitions(len in 2usize..500, seed: u64) {
        if let Ok(split) = random_split(len, 0.3, seed) {
            assert_partition(&split, len);
            let expected = (len as f64 * 0.3).round() as usize;
            prop_assert_eq!(split.test.len(), expected);
        }
    }

    #[test]
    fn user_split_counts_and_order(
        rows in arbitrary_rows(),
        count in 1usize..4,
        min_train in 0usize..3,
        latest: bool,
        seed: u64,
    ) {
        let data = ratings(&rows);
        let holdout = UserHoldout {
            size: HoldoutSize::Count(count),
            order: if latest {
                HoldoutOrder::Latest
            } else {
                HoldoutOrder::Random
            },
            min_train,
        };
        let Ok(split) = user_split(&data, &holdout, seed) else {
            return Ok(());
        };
        assert_partition(&split, data.len());
        let mut totals: HashMap<u32, usize> = HashMap::new();
        for rating in &data.entries {
            *totals.entry(rating.user).or_default() += 1;
        }
        let mut held_out: HashMap<u32, Vec<usize>> = HashMap::new();
        for &p in &split.test {
            held_out.entry(data.entries[p].user).or_default().push(p);
        }
        for (user, total) in &totals {
            let test = held_out.get(user).map_or(0, Vec::len);
            let eligible = *total >= count + min_train;
            let expected = if eligible { count } else { 0 };
            prop_assert_eq!(test, expected, "user {} has {}", user, total);
        }
        if latest {
            for &train in &split.train {
                let user = data.entries[train].user;
                for &test in held_out.get(&user).into_iter().flatten() {
                    let a = data.timestamps[train];
                    let b = data.timestamps[test];
                    prop_assert!(
                        a < b || (a == b && train < test),
                        "training row {} is later than test row {}",
                        train,
                        test
                    );
                }
            }
        }
    }

    #[test]
    fn temporal_split_orders_time(
        rows in arbitrary_rows(),
        fraction in 0.05f64..0.95,
    ) {
        let data = ratings(&rows);
        let Ok(split) =
            temporal_split(&data, TemporalCutoff::Fraction(fraction))
        else {
            return Ok(());
        };
        assert_partition(&split, data.len());
        let latest_train =
            split.train.iter().map(|&p| data.timestamps[p]).max().unwrap();
        let earliest_test =
            split.test.iter().map(|&p| data.timestamps[p]).min().unwrap();
        prop_assert!(latest_train <= earliest_test);
        let expected = (data.len() as f64 * fraction).round() as usize;
        prop_assert_eq!(split.test.len(), expected);
    }

    #[test]
    fn k_folds_cover_every_row_once(
        len in 10usize..400,
        k in 2usize..8,
        seed: u64,
    ) {
        let splits = k_folds(len, k, seed).unwrap();
        prop_assert_eq!(splits.len(), k);
        let mut seen = vec![0usize; len];
        for split in &splits {
            assert_partition(split, len);
            for &p in &split.test {
                seen[p] += 1;
            }
            let size = split.test.len();
            prop_assert!(size == len / k || size == len / k + 1, "{}", size);
        }
        prop_assert!(seen.iter().all(|&n| n == 1));
    }
}

#[test]
fn splits_are_seeded() {
    let data = grouped(30, 20);
    let holdout = UserHoldout {
        size: HoldoutSize::Fraction(0.25),
        order: HoldoutOrder::Random,
        min_train: 2,
    };
    let first = user_split(&data, &holdout, 9).unwrap();
    assert_eq!(first, user_split(&data, &holdout, 9).unwrap());
    assert_ne!(first, user_split(&data, &holdout, 10).unwrap());
    assert_eq!(k_folds(100, 5, 3).unwrap(), k_folds(100, 5, 3).unwrap());
    assert_ne!(k_folds(100, 5, 3).unwrap(), k_folds(100, 5, 4).unwrap());
}

// ---------------------------------------------------------------------
// Metrics and baselines by hand

/// Builds a model with one factor that scores every item by its bias alone:
/// item `i` of `items` has bias `-i`, so items rank in index order.
/// `rated[u]` lists the training items of user `u`.
fn ranking_model(users: usize, items: usize, rated: &[&[u32]]) -> Model {
    let mut user_map = IdMap::new();
    for user in 0..users {
        user_map.intern(&format!("u{user}"));
    }
    let mut item_map = IdMap::new();
    for item in 0..items {
        item_map.intern(&format!("i{item}"));
    }
    let mut indptr = vec![0usize];
    let mut rated_items = Vec::new();
    for list in rated {
        rated_items.extend_from_slice(list);
        indptr.push(rated_items.len());
    }
    Model {
        params: TrainParams {
            factors: 1,
            ..TrainParams::default()
        },
        global_mean: 3.0,
        rating_range: (1.0, 5.0),
        users: user_map,
        items: item_map,
        user_factors: vec![0.0; users],
        item_factors: vec![0.0; items],
        user_bias: vec![0.0; users],
        item_bias: (0..items).map(|i| -(i as f32)).collect(),
        rated_indptr: indptr,
        rated_items,
    }
}

fn test_set(rows: &[(&str, &str, f32)]) -> Ratings {
    let mut out = Ratings::default();
    for &(user, item, value) in rows {
        let user = out.users.intern(user);
        let item = out.items.intern(item);
        out.entries.push(Rating { user, item, value });
    }
    out
}

#[test]
fn ranking_metrics_by_hand() {
    // Six items; u0 rated i0 in training, u1 rated i1 and i2.
    let model = ranking_model(2, 6, &[&[0], &[1, 2]]);
    // u0's list of 3: i1 i2 i3; relevant i2, i5 (i4 rated 2 is not).
    // u1's list of 3: i0 i3 i4; relevant i0, i4 and the unknown i9.
    let test = test_set(&[
        ("u0", "i2", 4.0),
        ("u0", "i5", 5.0),
        ("u0", "i4", 2.0),
        ("u1", "i0", 4.0),
        ("u1", "i4", 4.5),
        ("u1", "i9", 5.0),
        ("u9", "i0", 5.0),
    ]);
    let any = MinItemRatings::any();
    let metrics = ranking_metrics(&model, &test, 3, 4.0, &any).unwrap();
    assert_eq!(metrics.users, 2, "the unknown u9 is left out");

    // u0: hit at rank 2 of 2 relevant; u1: hits at ranks 1 and 3 of 3.
    let precision = (1.0 / 3.0 + 2.0 / 3.0) / 2.0;
    let recall = (1.0 / 2.0 + 2.0 / 3.0) / 2.0;
    let g = |rank: f64| 1.0 / (rank + 1.0).log2();
    let ndcg_u0 = g(2.0) / (g(1.0) + g(2.0));
    let ndcg_u1 = (g(1.0) + g(3.0)) / (g(1.0) + g(2.0) + g(3.0));
    let ap_u0 = (1.0 / 2.0) / 2.0;
    let ap_u1 = (1.0 + 2.0 / 3.0) / 3.0;
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(metrics.precision, precision), "{}", metrics.precision);
    assert!(close(metrics.recall, recall), "{}", metrics.recall);
    assert!(
        close(metrics.ndcg, (ndcg_u0 + ndcg_u1) / 2.0),
        "{}",
        metrics.ndcg
    );
    assert!(close(metrics.map, (ap_u0 + ap_u1) / 2.0), "{}", metrics.map);
    assert_eq!(metrics.hit_rate, 1.0);
    // Lists hold i1 i2 i3 and i0 i3 i4: five of six items.
    assert_eq!(metrics.covered_items, 5);
    assert!(close(metrics.coverage, 5.0 / 6.0), "{}", metrics.coverage);
}

#[test]
fn popularity_ranks_most_rated_unseen() {
    // Training counts: i2 three times, i1 twice, i0 once, i3 never.
    let model = ranking_model(3, 4, &[&[1, 2], &[0, 2], &[1, 2]]);
    let popularity = Popularity::new(&model);
    use descent::eval::Ranker;
    assert_eq!(popularity.top_n(0, 2, None), vec![0, 3]);
    assert_eq!(popularity.top_n(1, 3, None), vec![1, 3]);
    // u0 finds i0 at rank 1 and misses i3; u1's i1 is at rank 1.
    let test =
        test_set(&[("u0", "i0", 5.0), ("u0", "i3", 4.0), ("u1", "i1", 4.0)]);
    let any = MinItemRatings::any();
    let metrics = ranking_metrics(&popularity, &test, 1, 4.0, &any).unwrap();
    assert_eq!(metrics.precision, 1.0);
    assert_eq!(metrics.recall, (0.5 + 1.0) / 2.0);
    assert_eq!(metrics.hit_rate, 1.0);
    assert_eq!(metrics.covered_items, 2);
}

#[test]
fn min_item_ratings_restricts_lists() {
    // Training counts: i2 three times, i1 twice, i0 once, i3 never.
    let model = ranking_model(3, 4, &[&[1, 2], &[0, 2], &[1, 2]]);
    let two = MinItemRatings::new(&model, 2);
    assert_eq!(two.min(), 2);

    // Only i1 and i2 have 2 ratings, and u0 rated both.
    let popularity = Popularity::new(&model);
    use descent::eval::Ranker;
    assert_eq!(
        popularity.top_n(1, 3, Some(&[false, true, true, false])),
        [1]
    );
    assert!(model
        .top_n(0, 3, Some(&[false, true, true, false]))
        .is_empty());
    assert_eq!(model.top_n(1, 3, Some(&[true, true, false, true])), [1, 3]);

    // u1's relevant i1 is the one item its list may hold; u2's i0 has one
    // rating, so it is never listed.
    let test = test_set(&[("u1", "i1", 5.0), ("u2", "i0", 5.0)]);
    let metrics = ranking_metrics(&model, &test, 2, 4.0, &two).unwrap();
    assert_eq!(metrics.min_item_ratings, 2);
    assert_eq!(metrics.users, 2);
    assert_eq!(metrics.hit_rate, 0.5);
    assert_eq!(metrics.covered_items, 1);
    let all = ranking_metrics(&model, &test, 2, 4.0, &MinItemRatings::any());
    assert_eq!(all.unwrap().covered_items, 3);
}

#[test]
fn baseline_errors_by_hand() {
    let train = test_set(&[
        ("u", "a", 5.0),
        ("u", "b", 3.0),
        ("v", "a", 4.0),
        ("v", "c", 1.0),
        ("w", "b", 2.0),
    ]);
    let test = test_set(&[("u", "c", 2.0), ("x", "a", 5.0)]);
    let mean = BiasBaseline::global_mean(&train).unwrap();
    let errors = rating_errors(&mean, &test).unwrap();
    // Both rows get 3: errors -1 and 2.
    assert!((errors.rmse - (2.5f64).sqrt()).abs() < 1e-12);
    assert!((errors.mae - 1.5).abs() < 1e-12);
    assert_eq!(errors.cold.unknown_user, 1);

    let bias = BiasBaseline::fit(&train, 1.0, 2.0).unwrap();
    // u/c: 3 + 0.5 - 2/3; x/a: 3 + 0.75 (unknown user).
    let predicted = [3.0 + 0.5 - 2.0 / 3.0, 3.75];
    let squares: f64 = [2.0 - predicted[0], 5.0 - predicted[1]]
        .iter()
        .map(|e: &f64| e * e)
        .sum();
    let errors = rating_errors(&bias, &test).unwrap();
    assert!((errors.rmse - (squares / 2.0).sqrt()).abs() < 1e-6);
}

// ---------------------------------------------------------------------
// Early stopping

#[test]
fn snapshot_equals_shorter_run() {
    let data = grouped(40, 30);
    let params = small_params();
    let mut trainer = Trainer::new(&data, &params).unwrap();
    for _ in 0..5 {
        trainer.epoch().unwrap();
    }
    let snapshot = trainer.snapshot();
    let short = fit(
        &data,
        &TrainParams {
            epochs: 5,
            ..params
        },
    )
    .unwrap();
    assert_eq!(snapshot.user_factors, short.user_factors);
    assert_eq!(snapshot.item_factors, short.item_factors);
    assert_eq!(snapshot.item_bias, short.item_bias);
}

#[test]
fn early_stop_keeps_best_epoch() {
    let data = grouped(60, 40);
    // A large fixed step and no penalty overfit quickly, so validation
    // RMSE turns up well before the epoch limit. AdaGrad steps shrink
    // instead and keep improving on this data for all 80 epochs.
    let params = TrainParams {
        factors: 16,
        epochs: 80,
        learning_rate: 0.08,
        adagrad: false,
        regularization: 0.0,
        decay: 1.0,
        blocks: 4,
        threads: 1,
        ..TrainParams::default()
    };
    let settings = EarlyStop {
        validation_fraction: 0.2,
        patience: 3,
    };
    let tracked =
        train_tracked(&data, &params, Some(&settings), None, &mut |_| {})
            .unwrap();
    let stop = tracked.stop.unwrap();
    let curve: Vec<f64> = tracked
        .curve
        .iter()
        .map(|p| p.validation_rmse.unwrap())
        .collect();
    let lowest = curve
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .unwrap();
    assert_eq!(stop.best_epoch, lowest.0 + 1, "curve {curve:?}");
    assert_eq!(stop.best_validation_rmse, *lowest.1);
    assert!(stop.epochs_run < params.epochs, "never stopped: {curve:?}");
    assert_eq!(stop.epochs_run, stop.best_epoch + settings.patience);
    assert_eq!(tracked.model.params.epochs, stop.best_epoch);
    assert_eq!(stop.fit_ratings + stop.validation_ratings, data.len());

    // The kept model is the best epoch count trained on all the data.
    let mut trainer = Trainer::new(&data, &params).unwrap();
    for _ in 0..stop.best_epoch {
        trainer.epoch().unwrap();
    }
    let expected = trainer.snapshot();
    assert_eq!(expected.user_factors, tracked.model.user_factors);
    assert_eq!(expected.item_factors, tracked.model.item_factors);
    assert_eq!(expected.item_bias, tracked.model.item_bias);
    assert_eq!(tracked.model.items.len(), data.items.len());
}

#[test]
fn test_data_never_changes_early_stop() {
    let data = grouped(50, 30);
    let split = random_split(data.len(), 0.2, 1).unwrap();
    let train = data.subset(&split.train);
    let test = data.subset(&split.test);
    let params = TrainParams {
        epochs: 30,
        ..small_params()
    };
    let settings = EarlyStop::default();
    let with_test = train_tracked(
        &train,
        &params,
        Some(&settings),
        Some(&test),
        &mut |_| {},
    )
    .unwrap();
    let without =
        train_tracked(&train, &params, Some(&settings), None, &mut |_| {})
            .unwrap();
    assert_eq!(
        with_test.stop.unwrap().best_epoch,
        without.stop.unwrap().best_epoch
    );
    assert_eq!(with_test.model.user_factors, without.model.user_factors);
    assert!(with_test.curve.iter().all(|p| p.test_rmse.is_some()));
    assert!(without.curve.iter().all(|p| p.test_rmse.is_none()));
}

#[test]
fn early_stop_rejects_bad_settings() {
    let data = grouped(10, 10);
    for (settings, message) in [
        (
            EarlyStop {
                validation_fraction: 1.0,
                patience: 3,
            },
            "invalid --validation-fraction 1",
        ),
        (
            EarlyStop {
                validation_fraction: 0.1,
                patience: 0,
            },
            "invalid --patience 0",
        ),
    ] {
        let error = train_tracked(
            &data,
            &small_params(),
            Some(&settings),
            None,
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with(message), "{error}");
    }
}

// ---------------------------------------------------------------------
// Folds and tuning

#[test]
fn parallel_folds_match_sequential() {
    let data = grouped(40, 30);
    let splits = k_folds(data.len(), 3, 5).unwrap();
    let params = small_params();
    let settings = EvalSettings::default();
    let run = |at_once: usize| {
        run_tasks(
            at_once,
            2,
            splits.len(),
            |fold| {
                let train = data.subset(&splits[fold].train);
                let test = data.subset(&splits[fold].test);
                let (_, report) = train_and_measure(
                    &train,
                    &test,
                    &params,
                    &settings,
                    &mut |_| {},
                )?;
                Ok((report.errors, report.ranking, report.baselines))
            },
            |_, _| {},
        )
        .unwrap()
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn report_has_baselines() {
    let data = biased(40, 30);
    let split = random_split(data.len(), 0.2, 2).unwrap();
    let train = data.subset(&split.train);
    let test = data.subset(&split.test);
    let (_, report) = pool(1)
        .unwrap()
        .install(|| {
            train_and_measure(
                &train,
                &test,
                &small_params(),
                &EvalSettings::default(),
                &mut |_| {},
            )
        })
        .unwrap();
    let bias = report.baselines.bias.unwrap();
    let mean = report.baselines.global_mean;
    // Offsets make biases informative and groups make factors
    // informative, so each step of the ladder beats the one before.
    assert!(bias.rmse < mean.rmse, "{} vs {}", bias.rmse, mean.rmse);
    assert!(report.errors.rmse < bias.rmse, "{report:?}");
    assert!(report.baselines.popularity.is_some());
    assert_eq!(bias.user_damping, Some(10.0));
    assert_eq!(bias.item_damping, Some(25.0));
}

fn tune_settings(at_once: usize) -> TuneSettings {
    TuneSettings {
        base: TrainParams {
            blocks: 4,
            ..TrainParams::default()
        },
        space: SearchSpace {
            factors: Choice::List(vec![4, 8]),
            epochs: Choice::List(vec![3, 8]),
            learning_rate: Choice::List(vec![0.01, 0.03]),
            regularization: Choice::List(vec![0.05]),
            regularization_exponent: Choice::List(vec![0.75]),
        },
        search: Search::Grid,
        folds: 3,
        metric: Metric::Rmse,
        n: 5,
        relevance_threshold: None,
        min_item_ratings: 1,
        at_once,
    }
}

#[test]
fn tune_reproducible_and_parallel_safe() {
    let data = grouped(40, 30);
    let strip = |outcome: descent::eval::tune::TuneOutcome| {
        outcome
            .results
            .into_iter()
            .map(|mut r| {
                r.train_seconds = 0.0;
                r
            })
            .collect::<Vec<_>>()
    };
    let first = tune(&data, &tune_settings(2), &|_, _| {}).unwrap();
    assert_eq!(first.results.len(), 8);
    assert_eq!(first.trainings, 4 * 3, "epochs share a training run");
    let best = first.best();
    let again = strip(tune(&data, &tune_settings(2), &|_, _| {}).unwrap());
    let sequential = strip(tune(&data, &tune_settings(1), &|_, _| {}).unwrap());
    let first = strip(first);
    assert_eq!(first, again);
    assert_eq!(first, sequential);
    for pair in first.windows(2) {
        assert!(pair[0].score.mean <= pair[1].score.mean, "not sorted");
    }
    assert_eq!(best.factors, first[0].factors);
    assert_eq!(best.blocks, 4);
}

#[test]
fn tune_scores_match_direct_training() {
    let data = grouped(40, 30);
    let settings = tune_settings(2);
    let outcome = tune(&data, &settings, &|_, _| {}).unwrap();
    let splits = k_folds(data.len(), 3, settings.base.seed).unwrap();
    // Retrain the candidate ranked last on fold 1, epochs and all.
    let worst = outcome.results.last().unwrap();
    let params = worst.params(&outcome.base);
    let train = data.subset(&splits[0].train);
    let test = data.subset(&splits[0].test);
    let model = fit(&train, &params).unwrap();
    let rmse = rating_errors(&model, &test).unwrap().rmse;
    assert_eq!(worst.fold_scores[0], rmse);
}

// ---------------------------------------------------------------------
// Real data sets

#[test]
fn filmtrust_files_join() {
    let mut parts = Vec::new();
    for index in 0..4 {
        let Some(path) =
            common::shared_data(&format!("filmtrust/ratings_{index}.txt"))
        else {
            return;
        };
        parts.push(load_ratings(&path, &LoadOptions::default()).unwrap().0);
    }
    let rows: usize = parts.iter().map(Ratings::len).sum();
    // 35,497 rows, of which three repeat a pair within ratings_2.txt.
    assert_eq!(rows, 35_494);
    let users: std::collections::HashSet<&str> =
        parts.iter().flat_map(|p| p.users.ids()).collect();
    assert_eq!(users.len(), 1_508);
}

#[test]
fn coat_matrix_loads() {
    let Some(path) = common::shared_data("coat/train.ascii") else {
        return;
    };
    let options = LoadOptions {
        format: Some(Format::Matrix),
        skip_bad_rows: false,
    };
    let (train, report) = load_ratings(&path, &options).unwrap();
    // 24 ratings from each of the 290 users.
    assert_eq!(train.len(), 6_960);
    assert_eq!(train.users.len(), 290);
    assert_eq!(train.items.len(), 300);
    assert_eq!(report.format, Format::Matrix);
    assert_eq!(train.range(), Some((1.0, 5.0)));
}

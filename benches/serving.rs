//! Batch top-N against the bare matrix product of the same sizes.
//!
//! Builds a model with random factors (no training), then times, in the
//! same run and on rayon's global pool:
//!
//! 1. the bare product: every user block times every item tile with
//!    `matrixmultiply::sgemm`, in the block and tile sizes of
//!    `descent::serve::batch`, with nothing done to the scores;
//! 2. `BatchScorer::stream` for top-N lists, which adds biases, removes
//!    rated items and selects the top N, without formatting output;
//! 3. the same with each block rendered as CSV, as `recommend --all`
//!    writes it, into memory that is then dropped.
//!
//! It then times one-user queries as the HTTP server runs them,
//! `Recommender::recommend_index` on one thread, on a model of the size of
//! MovieLens latest-small with the default 128 factors.
//!
//! `cargo bench --bench serving -- --users 100000 --items 20000 --factors
//! 64 --n 10 --rated 20 --repeats 3` (these are the defaults).

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

use descent::data::IdMap;
use descent::serve::batch::{BatchScorer, BLOCK_USERS, TILE_ITEMS};
use descent::serve::{ItemFilter, Recommender};
use descent::{Model, TrainParams};

struct Settings {
    users: usize,
    items: usize,
    factors: usize,
    n: usize,
    rated: usize,
    repeats: usize,
}

fn settings() -> Settings {
    let mut settings = Settings {
        users: 100_000,
        items: 20_000,
        factors: 64,
        n: 10,
        rated: 20,
        repeats: 3,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut index = 0;
    while index < args.len() {
        let value = || -> usize {
            args.get(index + 1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{} needs a number", args[index]))
        };
        let slot = match args[index].as_str() {
            "--users" => &mut settings.users,
            "--items" => &mut settings.items,
            "--factors" => &mut settings.factors,
            "--n" => &mut settings.n,
            "--rated" => &mut settings.rated,
            "--repeats" => &mut settings.repeats,
            // cargo bench passes --bench; other flags are ignored too.
            _ => {
                index += 1;
                continue;
            }
        };
        *slot = value();
        index += 2;
    }
    settings
}

/// Builds a model with Gaussian factors and biases and `rated` random
/// training items per user.
fn random_model(settings: &Settings) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let normal = Normal::new(0.0f32, 0.3).unwrap();
    let mut draw = |count: usize| -> Vec<f32> {
        (0..count).map(|_| normal.sample(&mut rng)).collect()
    };
    let user_factors = draw(settings.users * settings.factors);
    let item_factors = draw(settings.items * settings.factors);
    let user_bias = draw(settings.users);
    let item_bias = draw(settings.items);

    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut rated_indptr = vec![0];
    let mut rated_items = Vec::new();
    for _ in 0..settings.users {
        let mut items: Vec<u32> = (0..settings.rated)
            .map(|_| rng.random_range(0..settings.items as u32))
            .collect();
        items.sort_unstable();
        items.dedup();
        rated_items.extend(items);
        rated_indptr.push(rated_items.len());
    }
    let ids = |count: usize| {
        IdMap::from_ids((1..=count).map(|i| i.to_string())).unwrap()
    };
    Model {
        params: TrainParams {
            factors: settings.factors,
            ..TrainParams::default()
        },
        global_mean: 3.5,
        rating_range: (0.5, 5.0),
        users: ids(settings.users),
        items: ids(settings.items),
        user_factors,
        item_factors,
        user_bias,
        item_bias,
        rated_indptr,
        rated_items,
    }
}

/// Computes the product of all user factors and all item factors, block
/// by tile, and discards the scores. Returns a sum of a few scores so that the work
/// cannot be optimized away.
fn bare_product(model: &Model) -> f32 {
    let k = model.factors();
    let items = model.items.len();
    model
        .user_factors
        .par_chunks(BLOCK_USERS * k)
        .map_init(Vec::new, |scores: &mut Vec<f32>, block| {
            let rows = block.len() / k;
            let mut sum = 0.0;
            for start in (0..items).step_by(TILE_ITEMS) {
                let width = TILE_ITEMS.min(items - start);
                scores.resize(rows * width, 0.0);
                let tile = &model.item_factors[start * k..(start + width) * k];
                // SAFETY: the same shapes and strides as
                // BatchScorer::multiply: `block` is rows x k, `tile` is
                // width x k read transposed, `scores` is rows x width.
                unsafe {
                    matrixmultiply::sgemm(
                        rows,
                        k,
                        width,
                        1.0,
                        block.as_ptr(),
                        k as isize,
                        1,
                        tile.as_ptr(),
                        1,
                        k as isize,
                        0.0,
                        scores.as_mut_ptr(),
                        width as isize,
                        1,
                    );
                }
                sum += scores[0] + scores[scores.len() - 1];
            }
            sum
        })
        .sum()
}

fn top_lists(model: &Model, n: usize, users: &[Option<u32>]) -> usize {
    let scorer = BatchScorer::new(model, n, &ItemFilter::none());
    let mut listed = 0;
    scorer
        .stream(
            users,
            |_, lists| lists.iter().flatten().map(Vec::len).sum::<usize>(),
            |count, _| {
                listed += count;
                Ok(())
            },
        )
        .unwrap();
    listed
}

fn top_lists_csv(model: &Model, n: usize, users: &[Option<u32>]) -> usize {
    let scorer = BatchScorer::new(model, n, &ItemFilter::none());
    let mut bytes = 0;
    scorer
        .stream(
            users,
            |offset, lists| {
                let mut writer = csv::Writer::from_writer(Vec::new());
                for (position, list) in lists.iter().enumerate() {
                    let user = model.users.id((offset + position) as u32);
                    for (rank, scored) in list.iter().flatten().enumerate() {
                        writer
                            .write_record([
                                user,
                                &(rank + 1).to_string(),
                                model.items.id(scored.item),
                                &scored.score.to_string(),
                            ])
                            .unwrap();
                    }
                }
                writer.into_inner().unwrap()
            },
            |block: Vec<u8>, _| {
                bytes += block.len();
                Ok(())
            },
        )
        .unwrap();
    bytes
}

/// Times top-`n` queries of every user, one at a time on this thread, and
/// returns the mean time per query.
fn single_queries(settings: &Settings) -> Duration {
    let model = random_model(settings);
    let users = model.users.len() as u32;
    let recommender = Recommender::new(model, None);
    let none = ItemFilter::none();
    let rounds = 20;
    let started = Instant::now();
    for _ in 0..rounds {
        for user in 0..users {
            let list = recommender.recommend_index(user, settings.n, &none);
            std::hint::black_box(list);
        }
    }
    started.elapsed() / (rounds * users)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn time<T>(repeats: usize, mut run: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        last = Some(std::hint::black_box(run()));
        times.push(started.elapsed());
    }
    (median(times), last.unwrap())
}

fn main() {
    let settings = settings();
    let threads = rayon::current_num_threads();
    println!(
        "{} users x {} items x {} factors, top {}, {} rated items per \
         user, {threads} threads, median of {}",
        settings.users,
        settings.items,
        settings.factors,
        settings.n,
        settings.rated,
        settings.repeats
    );
    let model = random_model(&settings);
    let users: Vec<Option<u32>> =
        (0..settings.users as u32).map(Some).collect();
    let flops = 2.0
        * settings.users as f64
        * settings.items as f64
        * settings.factors as f64;

    let (product, _) = time(settings.repeats, || bare_product(&model));
    let (top, listed) =
        time(settings.repeats, || top_lists(&model, settings.n, &users));
    let (csv, bytes) = time(settings.repeats, || {
        top_lists_csv(&model, settings.n, &users)
    });
    assert_eq!(listed, settings.users * settings.n);

    let seconds = |d: Duration| d.as_secs_f64();
    println!(
        "bare product      {:>7.3} s  ({:.1} GFLOP/s)",
        seconds(product),
        flops / seconds(product) / 1e9
    );
    println!(
        "top-{} lists      {:>7.3} s  ({:.2} x product)",
        settings.n,
        seconds(top),
        seconds(top) / seconds(product)
    );
    println!(
        "top-{} as CSV     {:>7.3} s  ({:.2} x product, {} MB)",
        settings.n,
        seconds(csv),
        seconds(csv) / seconds(product),
        bytes / 1_000_000
    );

    let small = Settings {
        users: 610,
        items: 9724,
        factors: 128,
        ..settings
    };
    let per_query = single_queries(&small);
    println!(
        "one user, top {} of {} items x {} factors: {:.1} us per query",
        small.n,
        small.items,
        small.factors,
        per_query.as_secs_f64() * 1e6
    );
}

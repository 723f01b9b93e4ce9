//! Synthetic rating data drawn from a planted low-rank model.
//!
//! Each rating is `mu + b_u + b_i + p_u · q_i + e`, rounded to hundredths
//! or, on request, to half stars from 0.5 to 5, where `e` is Gaussian
//! noise. The expected rating of every entry is kept, so a test can compare
//! the RMSE of a trained model with the best RMSE possible.
//!
//! The output depends only on the [`SyntheticSpec`]. Every random draw comes
//! from a ChaCha8 stream named by its purpose and, for per-user draws, the
//! user index, so the number of rayon threads does not change the result.

use std::f64::consts::SQRT_2;
use std::fs::File;
use std::io::{self, Write as _};
use std::path::Path;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::weighted::WeightedAliasIndex;
use rand_distr::{Distribution, Exp1, StandardNormal};
use rayon::prelude::*;

use crate::data::{IdMap, Rating, Ratings};
use crate::error::{Error, Result};

/// Global mean of the planted model.
const GLOBAL_MEAN: f64 = 3.5;
/// Standard deviation of the planted user biases.
const USER_BIAS_STD: f64 = 0.3;
/// Standard deviation of the planted item biases.
const ITEM_BIAS_STD: f64 = 0.4;
/// Standard deviation of the planted dot product `p_u · q_i`.
const INTERACTION_STD: f64 = 0.6;
/// Largest accepted `noise`. With it, ratings stay far below 40 000 in
/// magnitude. Below that bound, distinct hundredths are distinct f32
/// values, so the two-decimal text of a rating reads back to the same f32.
const MAX_NOISE: f32 = 100.0;
/// Earliest first rating of a user, in seconds since the Unix epoch
/// (2001-09-09).
const FIRST_TIMESTAMP: i64 = 1_000_000_000;
/// Range of the start times of users after [`FIRST_TIMESTAMP`], in seconds
/// (ten years of 365 days).
const START_SPREAD: i64 = 315_360_000;
/// Largest gap between consecutive ratings of one user, in seconds.
const MAX_GAP: i64 = 7_200;
/// Share of titles written with a trailing article, as in "Orchard, The".
const ARTICLE_TITLE_SHARE: f64 = 0.05;
/// Rows of `ratings.csv` formatted in parallel before they are written,
/// which bounds the memory of the formatted text to tens of megabytes.
const WRITE_BATCH_ROWS: usize = 1 << 20;
/// Rows of `ratings.csv` formatted by one rayon task.
const FORMAT_BLOCK_ROWS: usize = 1 << 14;
/// Typical length of a `ratings.csv` row in bytes, used to size buffers.
const ESTIMATED_ROW_BYTES: usize = 28;

/// Genre names as written in the genres column of MovieLens `movies.csv`
/// files, sorted, without "IMAX" and "(no genres listed)".
const GENRES: [&str; 18] = [
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

const ADJECTIVES: [&str; 40] = [
    "Silent",
    "Broken",
    "Golden",
    "Last",
    "Hidden",
    "Crimson",
    "Lonely",
    "Distant",
    "Wild",
    "Burning",
    "Frozen",
    "Secret",
    "Midnight",
    "Hollow",
    "Electric",
    "Quiet",
    "Savage",
    "Bitter",
    "Restless",
    "Endless",
    "Northern",
    "Velvet",
    "Iron",
    "Paper",
    "Glass",
    "Little",
    "Dark",
    "Bright",
    "Forgotten",
    "Final",
    "Lucky",
    "Perfect",
    "Strange",
    "Sweet",
    "Blue",
    "Scarlet",
    "Sudden",
    "Faithful",
    "Wandering",
    "Crooked",
];

const NOUNS: [&str; 48] = [
    "Harbor",
    "Orchard",
    "River",
    "Summer",
    "Highway",
    "Kingdom",
    "Promise",
    "Stranger",
    "Garden",
    "Mirror",
    "Horizon",
    "Island",
    "Letter",
    "Shadow",
    "Winter",
    "Station",
    "Circus",
    "Voyage",
    "Empire",
    "Witness",
    "Lantern",
    "Frontier",
    "Bridge",
    "Valley",
    "Signal",
    "Tide",
    "Country",
    "Heart",
    "Season",
    "Detective",
    "Carnival",
    "Storm",
    "Ballad",
    "Machine",
    "Journey",
    "Window",
    "Canyon",
    "Prophet",
    "Ghost",
    "Hotel",
    "Republic",
    "Inheritance",
    "Dream",
    "Orbit",
    "Affair",
    "Castle",
    "Desert",
    "Outlaw",
];

/// Maximum [`SyntheticSpec::rank`].
pub const MAX_RANK: usize = 1024;

/// Maximum count of planted factors, `(users + items) * rank`, which are
/// kept in memory as `f64`s: 2^30 of them take 8 GiB.
const MAX_PLANTED_VALUES: usize = 1 << 30;

/// Settings of a planted model and of the ratings drawn from it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    /// Number of users, with ids "1" to `users`.
    pub users: usize,
    /// Number of items, with ids "1" to `items`.
    pub items: usize,
    /// Number of ratings, at most `users * items`.
    pub ratings: usize,
    /// Latent dimension of the planted user and item factors, 1 to
    /// [`MAX_RANK`].
    pub rank: usize,
    /// Standard deviation of the Gaussian noise added to each planted mean.
    pub noise: f32,
    /// Exponent `s` of the item popularity weights `1 / (r + 1)^s`, where
    /// `r` is the popularity rank of the item. 0 makes all items equally
    /// likely.
    pub popularity_exponent: f64,
    /// Sigma of the lognormal activity weights of the users. 0 gives every
    /// user the same expected number of ratings.
    pub activity_spread: f64,
    /// Seed of every random draw.
    pub seed: u64,
    /// Whether each rating is rounded to the nearest half star and clipped
    /// to 0.5 to 5, as MovieLens ratings are. Otherwise ratings are
    /// rounded to hundredths and not clipped.
    pub stars: bool,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        Self {
            users: 2000,
            items: 1500,
            ratings: 150_000,
            rank: 10,
            noise: 0.5,
            popularity_exponent: 0.8,
            activity_spread: 1.0,
            seed: 1,
            stars: false,
        }
    }
}

impl SyntheticSpec {
    /// Checks that the settings describe a model that can be generated.
    ///
    /// # Errors
    ///
    /// Returns [`Error::InvalidParameter`], named as the command-line option,
    /// for the first invalid setting. Sizes must be from 1 to `u32::MAX`,
    /// and `ratings` at most `users * items`. `rank` must be from 1 to
    /// [`MAX_RANK`], with at most 2^30 planted factors in all, and `noise`
    /// from 0 to 100. `popularity_exponent` and `activity_spread` must be
    /// finite and not negative.
    pub fn validate(&self) -> Result<()> {
        check_size("--users", self.users)?;
        check_size("--items", self.items)?;
        check_size("--ratings", self.ratings)?;
        if let Some(cells) = self.users.checked_mul(self.items) {
            if self.ratings > cells {
                return Err(invalid(
                    "--ratings",
                    self.ratings,
                    format!(
                        "must be at most users × items = {} × {} = {cells}, \
                         because a user rates an item at most once",
                        self.users, self.items
                    ),
                ));
            }
        }
        if !(1..=MAX_RANK).contains(&self.rank) {
            return Err(invalid(
                "--rank",
                self.rank,
                format!("must be 1 to {MAX_RANK}"),
            ));
        }
        let rows = self.users.saturating_add(self.items);
        if rows.saturating_mul(self.rank) > MAX_PLANTED_VALUES {
            return Err(invalid(
                "--rank",
                self.rank,
                format!(
                    "with {} and {} needs (users + items) × rank = {} \
                     planted factors, more than the limit of \
                     {MAX_PLANTED_VALUES}; lower --rank, --users or --items",
                    crate::plural::count(self.users, "user"),
                    crate::plural::count(self.items, "item"),
                    rows.saturating_mul(self.rank)
                ),
            ));
        }
        if !(self.noise.is_finite() && (0.0..=MAX_NOISE).contains(&self.noise))
        {
            return Err(invalid(
                "--noise",
                self.noise,
                format!("must be a number from 0 to {MAX_NOISE}"),
            ));
        }
        check_non_negative("--popularity-exponent", self.popularity_exponent)?;
        check_non_negative("--activity-spread", self.activity_spread)?;
        Ok(())
    }
}

fn invalid(
    name: &'static str,
    value: impl ToString,
    reason: impl Into<String>,
) -> Error {
    Error::InvalidParameter {
        name,
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn check_size(name: &'static str, value: usize) -> Result<()> {
    if value == 0 {
        return Err(invalid(name, value, "must be at least 1"));
    }
    if u32::try_from(value).is_err() {
        return Err(invalid(
            name,
            value,
            format!("must be at most {}", u32::MAX),
        ));
    }
    Ok(())
}

fn check_non_negative(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(
            name,
            value,
            "must be a finite number of at least 0",
        ))
    }
}

/// Ratings drawn from a planted model, with their planted means and an
/// invented item catalog.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// The ratings. User index `u` has id `u + 1` and item index `i` has id
    /// `i + 1`. Entries are sorted by user, and the entries of one user by
    /// strictly increasing timestamp. Every user and every item has at least
    /// one rating when `ratings` is at least `users` and at least `items`.
    /// Otherwise some ids in the maps have no rating.
    pub ratings: Ratings,
    /// Expected rating of each entry under the planted model, parallel to
    /// `ratings.entries`: the planted mean `mu + b_u + b_i + p_u · q_i`,
    /// or with [`SyntheticSpec::stars`] the mean star rating given it.
    pub expected: Vec<f32>,
    /// Title of each item index, such as "Golden Harbor (1994)".
    pub titles: Vec<String>,
    /// Genres of each item index, one to three names joined by `|`.
    pub genres: Vec<String>,
}

impl Synthetic {
    /// Computes the RMSE of the expected ratings against the ratings, which
    /// is the lowest RMSE that any model can expect to reach.
    ///
    /// Without stars it is close to `noise`, because rounding to hundredths
    /// adds a variance of only about 0.01² / 12. Half stars add rounding
    /// error, and clipping at 0.5 and 5 removes some. Returns NaN when there
    /// are no ratings.
    pub fn noise_floor(&self) -> f64 {
        root_mean_square(
            self.ratings
                .entries
                .iter()
                .zip(&self.expected)
                .map(|(rating, &mean)| rating.value - mean),
        )
    }

    /// Computes [`Synthetic::noise_floor`] over the entries at `positions`,
    /// for example a held-out split.
    ///
    /// # Panics
    ///
    /// Panics if a position is out of range.
    pub fn noise_floor_at(&self, positions: &[usize]) -> f64 {
        root_mean_square(positions.iter().map(|&position| {
            self.ratings.entries[position].value - self.expected[position]
        }))
    }

    /// Writes `ratings.csv` (`userId,movieId,rating,timestamp`) and
    /// `movies.csv` (`movieId,title,genres`) into `dir`, creating `dir` if
    /// it is missing.
    ///
    /// Each file is written to a temporary file in `dir` and then renamed,
    /// so a reader never sees a partly written file. Ratings are written
    /// with two decimals, or one when the second is 0, which parse back to
    /// the same f32 values.
    ///
    /// # Errors
    ///
    /// As [`check_destination`], and [`Error::Io`] if a file cannot be
    /// written.
    pub fn write(&self, dir: &Path, force: bool) -> Result<()> {
        check_destination(dir, force)?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let ratings_path = dir.join("ratings.csv");
        let movies_path = dir.join("movies.csv");
        write_atomically(&ratings_path, force, |file| {
            self.write_ratings(file)
        })?;
        write_atomically(&movies_path, force, |file| self.write_movies(file))
    }

    /// Writes the ratings rows. Blocks of rows are formatted in parallel and
    /// written in order, so the file does not depend on the thread count.
    fn write_ratings(&self, file: &mut File) -> io::Result<()> {
        let entries = &self.ratings.entries;
        let timestamps = &self.ratings.timestamps;
        assert_eq!(
            entries.len(),
            timestamps.len(),
            "synthetic ratings need one timestamp per entry"
        );
        let mut header = csv::Writer::from_writer(&mut *file);
        header.write_record(["userId", "movieId", "rating", "timestamp"])?;
        header.flush()?;
        drop(header);

        let user_fields = encode_ids(&self.ratings.users)?;
        let item_fields = encode_ids(&self.ratings.items)?;
        for (entries, timestamps) in entries
            .chunks(WRITE_BATCH_ROWS)
            .zip(timestamps.chunks(WRITE_BATCH_ROWS))
        {
            let blocks: Vec<Vec<u8>> = entries
                .par_chunks(FORMAT_BLOCK_ROWS)
                .zip(timestamps.par_chunks(FORMAT_BLOCK_ROWS))
                .map(|(entries, timestamps)| {
                    format_rating_rows(
                        entries,
                        timestamps,
                        &user_fields,
                        &item_fields,
                    )
                })
                .collect();
            for block in blocks {
                file.write_all(&block)?;
            }
        }
        Ok(())
    }

    fn write_movies(&self, file: &mut File) -> io::Result<()> {
        let items = &self.ratings.items;
        assert!(
            self.titles.len() == items.len()
                && self.genres.len() == items.len(),
            "synthetic items need one title and one genre list each"
        );
        let mut writer = csv::WriterBuilder::new()
            .buffer_capacity(1 << 16)
            .from_writer(file);
        writer.write_record(["movieId", "title", "genres"])?;
        for ((id, title), genres) in
            items.ids().zip(&self.titles).zip(&self.genres)
        {
            writer.write_record([id, title.as_str(), genres.as_str()])?;
        }
        writer.flush()
    }
}

fn root_mean_square(errors: impl Iterator<Item = f32>) -> f64 {
    let (sum, count) = errors.fold((0.0f64, 0usize), |(sum, count), error| {
        let error = f64::from(error);
        (sum + error * error, count + 1)
    });
    (sum / count as f64).sqrt()
}

/// Writes `path` through a temporary file in the same directory, which is
/// renamed to `path` once complete. Without `force` the rename fails if
/// `path` exists.
fn write_atomically(
    path: &Path,
    force: bool,
    body: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = crate::model::persist::output_tempfile(dir)?;
    body(file.as_file_mut()).map_err(|e| Error::io(path, e))?;
    let persisted = if force {
        file.persist(path)
    } else {
        file.persist_noclobber(path)
    };
    persisted.map_err(|e| {
        if !force && e.error.kind() == io::ErrorKind::AlreadyExists {
            Error::AlreadyExists {
                path: path.to_path_buf(),
            }
        } else {
            Error::io(path, e.error)
        }
    })?;
    Ok(())
}

/// Rounds `value` to a whole number of hundredths.
/// Checks that [`Synthetic::write`] can write both its files into `dir`:
/// `dir` is a folder or missing, and each file is missing or, with
/// `force`, a regular file.
///
/// # Errors
///
/// Returns [`Error::Invalid`] when `dir` is not a folder or a file is a
/// folder, link or device, and [`Error::AlreadyExists`] when a file exists
/// and `force` is false.
pub fn check_destination(dir: &Path, force: bool) -> Result<()> {
    if dir == Path::new("-") {
        return Err(Error::Invalid(
            "cannot write into - (standard output): two files are written, \
             so name a folder"
                .into(),
        ));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Invalid(format!(
            "cannot write into {}: it is a file, not a folder; name a \
             folder for ratings.csv and movies.csv",
            dir.display()
        )));
    }
    for name in ["ratings.csv", "movies.csv"] {
        let path = dir.join(name);
        crate::model::persist::check_replaceable(&path)?;
        if !force && path.try_exists().map_err(|e| Error::io(&path, e))? {
            return Err(Error::AlreadyExists { path });
        }
    }
    Ok(())
}

/// Lowest star rating of [`SyntheticSpec::stars`].
const MIN_STARS: f64 = 0.5;
/// Highest star rating of [`SyntheticSpec::stars`].
const MAX_STARS: f64 = 5.0;

/// Rounds `value` to the nearest half star within 0.5 to 5.
fn to_stars(value: f64) -> f32 {
    ((value * 2.0).round() / 2.0).clamp(MIN_STARS, MAX_STARS) as f32
}

/// Returns the mean of [`to_stars`] of `mean` plus Gaussian noise of
/// deviation `noise`: the rating a perfect model predicts.
fn expected_stars(mean: f64, noise: f64) -> f64 {
    if noise == 0.0 {
        return f64::from(to_stars(mean));
    }
    // Star s is drawn when the noisy value lies in [s - 0.25, s + 0.25),
    // and the lowest and highest stars also take the tails.
    let below = |edge: f64| 0.5 * libm::erfc((mean - edge) / (noise * SQRT_2));
    let mut total = 0.0;
    let mut star = MIN_STARS;
    while star <= MAX_STARS {
        let low = if star == MIN_STARS {
            0.0
        } else {
            below(star - 0.25)
        };
        let high = if star == MAX_STARS {
            1.0
        } else {
            below(star + 0.25)
        };
        total += star * (high - low);
        star += 0.5;
    }
    total
}

fn round_to_hundredths(value: f64) -> i64 {
    (value * 100.0).round() as i64
}

/// Converts whole hundredths to the f32 nearest to their decimal value,
/// which is also what parsing the decimal text gives. Both operands are
/// exact in f32 below 2^24, so the division rounds only once.
fn rating_from_hundredths(hundredths: i64) -> f32 {
    hundredths as f32 / 100.0
}

/// Inverts [`rating_from_hundredths`]. The f32 error of a rating below
/// 40 000 in magnitude is far less than half a hundredth.
fn hundredths_of(value: f32) -> i64 {
    (f64::from(value) * 100.0).round() as i64
}

/// Encodes each id as a CSV field, quoted where the csv crate finds it
/// necessary.
fn encode_ids(ids: &IdMap) -> io::Result<Vec<Box<[u8]>>> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let mut fields = Vec::with_capacity(ids.len());
    let mut start = 0;
    for id in ids.ids() {
        writer.write_record([id])?;
        writer.flush()?;
        let text = writer.get_ref();
        // Each record is the field followed by the one-byte terminator.
        fields.push(text[start..text.len() - 1].into());
        start = text.len();
    }
    Ok(fields)
}

/// Formats `ratings.csv` rows from pre-encoded id fields. The rating and
/// timestamp fields contain only digits, '-' and '.', which CSV never
/// quotes.
fn format_rating_rows(
    entries: &[Rating],
    timestamps: &[i64],
    user_fields: &[Box<[u8]>],
    item_fields: &[Box<[u8]>],
) -> Vec<u8> {
    let mut text = Vec::with_capacity(entries.len() * ESTIMATED_ROW_BYTES);
    for (rating, &timestamp) in entries.iter().zip(timestamps) {
        text.extend_from_slice(&user_fields[rating.user as usize]);
        text.push(b',');
        text.extend_from_slice(&item_fields[rating.item as usize]);
        text.push(b',');
        push_hundredths(&mut text, hundredths_of(rating.value));
        text.push(b',');
        push_integer(&mut text, timestamp);
        text.push(b'\n');
    }
    text
}

/// Appends `hundredths / 100` with two decimals, or one when the second
/// is 0, so that half stars read as in MovieLens files ("3.5", "4.0").
fn push_hundredths(text: &mut Vec<u8>, hundredths: i64) {
    if hundredths < 0 {
        text.push(b'-');
    }
    let magnitude = hundredths.unsigned_abs();
    push_digits(text, magnitude / 100);
    let fraction = (magnitude % 100) as u8;
    text.extend_from_slice(&[b'.', b'0' + fraction / 10]);
    if !fraction.is_multiple_of(10) {
        text.push(b'0' + fraction % 10);
    }
}

/// Appends `value` in decimal.
fn push_integer(text: &mut Vec<u8>, value: i64) {
    if value < 0 {
        text.push(b'-');
    }
    push_digits(text, value.unsigned_abs());
}

fn push_digits(text: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    text.extend_from_slice(&digits[start..]);
}

/// Purposes of the ChaCha8 streams. The purpose is the high half of the
/// stream number and the user index is the low half.
#[derive(Clone, Copy)]
enum Stream {
    UserParameters = 1,
    ItemParameters,
    Popularity,
    Activity,
    Catalog,
    Coverage,
    UserItems,
    UserRatings,
}

fn stream_rng(key: &[u8; 32], stream: Stream, index: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::from_seed(*key);
    rng.set_stream(((stream as u64) << 32) | u64::from(index));
    rng
}

/// Draws ratings from the planted model that `spec` describes.
///
/// Users receive rating counts in proportion to lognormal activity weights,
/// capped at `spec.items`. Each user rates distinct items, drawn without
/// replacement in proportion to item popularity.
///
/// # Errors
///
/// Returns the errors of [`SyntheticSpec::validate`], and
/// [`Error::Invalid`] if the rating buffers cannot be allocated.
pub fn generate(spec: &SyntheticSpec) -> Result<Synthetic> {
    spec.validate()?;
    let key = ChaCha8Rng::seed_from_u64(spec.seed).get_seed();
    let planted = Planted::draw(spec, &key);
    let popularity =
        Popularity::new(spec.items, spec.popularity_exponent, &key);
    let counts = user_counts(spec, &key);

    let mut items = filled_vec(spec.ratings, 0u32)?;
    split_by_counts(&mut items, &counts)
        .into_par_iter()
        .enumerate()
        .for_each_init(Scratch::default, |scratch, (user, out)| {
            let user = user as u32;
            let mut rng = stream_rng(&key, Stream::UserItems, user);
            popularity.sample_distinct(&mut rng, user + 1, scratch, out);
        });
    cover_all_items(&mut items, &counts, spec.items, &key);

    let empty = Rating {
        user: 0,
        item: 0,
        value: 0.0,
    };
    let mut entries = filled_vec(spec.ratings, empty)?;
    let mut expected = filled_vec(spec.ratings, 0f32)?;
    let mut timestamps = filled_vec(spec.ratings, 0i64)?;
    let noise = f64::from(spec.noise);
    (
        split_by_counts(&mut items, &counts),
        split_by_counts(&mut entries, &counts),
        split_by_counts(&mut expected, &counts),
        split_by_counts(&mut timestamps, &counts),
    )
        .into_par_iter()
        .enumerate()
        .for_each(|(user, (items, entries, expected, timestamps))| {
            let user = user as u32;
            let mut rng = stream_rng(&key, Stream::UserRatings, user);
            // Sampled items come roughly in order of popularity, so they
            // are shuffled before timestamps are assigned.
            items.shuffle(&mut rng);
            let mut time = FIRST_TIMESTAMP + rng.random_range(0..START_SPREAD);
            for (k, &item) in items.iter().enumerate() {
                let mean = planted.mean(user as usize, item as usize);
                let error: f64 = rng.sample(StandardNormal);
                let drawn = mean + noise * error;
                time += rng.random_range(1..=MAX_GAP);
                let (value, expectation) = if spec.stars {
                    (to_stars(drawn), expected_stars(mean, noise))
                } else {
                    let hundredths = round_to_hundredths(drawn);
                    (rating_from_hundredths(hundredths), mean)
                };
                entries[k] = Rating { user, item, value };
                expected[k] = expectation as f32;
                timestamps[k] = time;
            }
        });

    let (titles, genres) = catalog(spec.items, &key);
    Ok(Synthetic {
        ratings: Ratings {
            users: numbered_ids(spec.users),
            items: numbered_ids(spec.items),
            entries,
            timestamps,
        },
        expected,
        titles,
        genres,
    })
}

/// Allocates `len` copies of `value`, returning an error in place of an
/// abort when the memory is not available.
fn filled_vec<T: Clone>(len: usize, value: T) -> Result<Vec<T>> {
    let mut vec = Vec::new();
    vec.try_reserve_exact(len).map_err(|e| {
        Error::Invalid(format!(
            "cannot allocate memory for {len} synthetic ratings: {e}"
        ))
    })?;
    vec.resize(len, value);
    Ok(vec)
}

/// Builds the map of ids "1" to `count`.
fn numbered_ids(count: usize) -> IdMap {
    IdMap::from_ids((1..=count).map(|id| id.to_string()))
        .expect("numbered ids are distinct")
}

/// Splits `values` into consecutive slices of the lengths in `counts`.
fn split_by_counts<'a, T>(
    mut values: &'a mut [T],
    counts: &[u32],
) -> Vec<&'a mut [T]> {
    let mut slices = Vec::with_capacity(counts.len());
    for &count in counts {
        let (head, tail) =
            std::mem::take(&mut values).split_at_mut(count as usize);
        slices.push(head);
        values = tail;
    }
    slices
}

/// Biases and factors of the planted model.
struct Planted {
    rank: usize,
    user_bias: Vec<f64>,
    item_bias: Vec<f64>,
    /// Row-major, `rank` values per user.
    user_factors: Vec<f64>,
    /// Row-major, `rank` values per item.
    item_factors: Vec<f64>,
}

impl Planted {
    fn draw(spec: &SyntheticSpec, key: &[u8; 32]) -> Self {
        // Each factor has variance s², so the dot product of two factor
        // vectors has variance s⁴ · rank.
        let factor_std = (INTERACTION_STD / (spec.rank as f64).sqrt()).sqrt();
        let (user_bias, user_factors) = draw_parameters(
            &mut stream_rng(key, Stream::UserParameters, 0),
            spec.users,
            spec.rank,
            USER_BIAS_STD,
            factor_std,
        );
        let (item_bias, item_factors) = draw_parameters(
            &mut stream_rng(key, Stream::ItemParameters, 0),
            spec.items,
            spec.rank,
            ITEM_BIAS_STD,
            factor_std,
        );
        Self {
            rank: spec.rank,
            user_bias,
            item_bias,
            user_factors,
            item_factors,
        }
    }

    fn mean(&self, user: usize, item: usize) -> f64 {
        let p = &self.user_factors[user * self.rank..][..self.rank];
        let q = &self.item_factors[item * self.rank..][..self.rank];
        let dot: f64 = p.iter().zip(q).map(|(a, b)| a * b).sum();
        GLOBAL_MEAN + self.user_bias[user] + self.item_bias[item] + dot
    }
}

/// Draws a Gaussian bias and `rank` Gaussian factors for each of `count`
/// rows.
fn draw_parameters(
    rng: &mut ChaCha8Rng,
    count: usize,
    rank: usize,
    bias_std: f64,
    factor_std: f64,
) -> (Vec<f64>, Vec<f64>) {
    let mut biases = Vec::with_capacity(count);
    let mut factors = Vec::with_capacity(count * rank);
    for _ in 0..count {
        biases.push(bias_std * rng.sample::<f64, _>(StandardNormal));
        for _ in 0..rank {
            factors.push(factor_std * rng.sample::<f64, _>(StandardNormal));
        }
    }
    (biases, factors)
}

/// Splits `spec.ratings` among the users in proportion to lognormal
/// activity weights. Every user gets at least one rating when there are
/// enough ratings, and none gets more than `spec.items`.
fn user_counts(spec: &SyntheticSpec, key: &[u8; 32]) -> Vec<u32> {
    let weights = if spec.activity_spread == 0.0 {
        vec![1.0; spec.users]
    } else {
        let mut rng = stream_rng(key, Stream::Activity, 0);
        let logs: Vec<f64> = (0..spec.users)
            .map(|_| {
                spec.activity_spread * rng.sample::<f64, _>(StandardNormal)
            })
            .collect();
        // Subtracting the largest logarithm keeps exp() finite for any
        // spread.
        let largest = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        logs.iter().map(|log| (log - largest).exp()).collect()
    };
    let base = u64::from(spec.ratings >= spec.users);
    let total = spec.ratings as u64 - base * spec.users as u64;
    let cap = spec.items as u64 - base;
    apportion(total, &weights, cap)
        .into_iter()
        .map(|share| (share + base) as u32)
        .collect()
}

/// Splits `total` into whole shares proportional to `weights`, each at
/// most `cap`. Shares that would exceed `cap` are set to `cap` and the rest
/// is split again among the others. Whole units left over by rounding go to
/// the largest fractional parts.
///
/// Requires `total <= cap * weights.len()` and weights that are finite and
/// not negative.
fn apportion(total: u64, weights: &[f64], cap: u64) -> Vec<u64> {
    let n = weights.len();
    let mut capped = vec![false; n];
    let mut capped_count = 0u64;
    let scale = loop {
        let free_total = total - cap * capped_count;
        let free_weight: f64 = weights
            .iter()
            .zip(&capped)
            .filter(|(_, &is_capped)| !is_capped)
            .map(|(&weight, _)| weight)
            .sum();
        if free_weight <= 0.0 {
            break 0.0;
        }
        let scale = free_total as f64 / free_weight;
        let mut newly_capped = false;
        for (weight, is_capped) in weights.iter().zip(capped.iter_mut()) {
            if !*is_capped && weight * scale >= cap as f64 {
                *is_capped = true;
                capped_count += 1;
                newly_capped = true;
            }
        }
        if !newly_capped {
            break scale;
        }
    };

    let mut shares = vec![0u64; n];
    let mut fractions = Vec::new();
    for (i, (&weight, &is_capped)) in weights.iter().zip(&capped).enumerate() {
        if is_capped {
            shares[i] = cap;
        } else {
            let exact = weight * scale;
            shares[i] = (exact.floor() as u64).min(cap);
            fractions.push((exact - exact.floor(), i));
        }
    }
    fractions.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));

    let assigned: u64 = shares.iter().sum();
    let mut leftover = total as i64 - assigned as i64;
    for &(_, i) in &fractions {
        if leftover <= 0 {
            break;
        }
        if shares[i] < cap {
            shares[i] += 1;
            leftover -= 1;
        }
    }
    // Floating-point rounding of `scale` can leave a few units, which go
    // one at a time to the first shares with room.
    let mut i = 0;
    while leftover != 0 {
        if leftover > 0 && shares[i] < cap {
            shares[i] += 1;
            leftover -= 1;
        } else if leftover < 0 && shares[i] > 0 {
            shares[i] -= 1;
            leftover += 1;
        }
        i = (i + 1) % n;
    }
    shares
}

/// Item popularity: weight `1 / (r + 1)^s` for an item at rank `r` of a
/// random permutation.
struct Popularity {
    /// Weight of each item index.
    weights: Vec<f64>,
    alias: WeightedAliasIndex<f64>,
    /// Entry `n` bounds the expected number of draws that rejection
    /// sampling needs to collect `n` distinct items.
    rejection_draws: Vec<f64>,
}

impl Popularity {
    fn new(items: usize, exponent: f64, key: &[u8; 32]) -> Self {
        let by_rank: Vec<f64> = (0..items)
            .map(|r| (r as f64 + 1.0).powf(-exponent))
            .collect();
        let mut ranks: Vec<usize> = (0..items).collect();
        ranks.shuffle(&mut stream_rng(key, Stream::Popularity, 0));
        let weights: Vec<f64> = ranks.iter().map(|&r| by_rank[r]).collect();
        let alias = WeightedAliasIndex::new(weights.clone())
            .expect("popularity weights are finite and the largest is 1");

        // After k distinct items the next draw is new with probability
        // (1 - chosen mass), which is at least the mass outside the k most
        // popular items. The expected number of draws for n items is at
        // most the sum of the inverses of that mass for k < n.
        let mut tail_mass = vec![0.0; items + 1];
        for r in (0..items).rev() {
            tail_mass[r] = tail_mass[r + 1] + by_rank[r];
        }
        let total_mass = tail_mass[0];
        let mut rejection_draws = Vec::with_capacity(items + 1);
        rejection_draws.push(0.0);
        let mut draws = 0.0;
        for &mass in &tail_mass[..items] {
            draws += total_mass / mass;
            rejection_draws.push(draws);
        }
        Self {
            weights,
            alias,
            rejection_draws,
        }
    }

    /// Fills `out` with distinct items drawn in proportion to popularity
    /// without replacement. `stamp` must differ between calls that share
    /// `scratch`.
    fn sample_distinct(
        &self,
        rng: &mut ChaCha8Rng,
        stamp: u32,
        scratch: &mut Scratch,
        out: &mut [u32],
    ) {
        let items = self.weights.len();
        let n = out.len();
        if n == items {
            for (slot, item) in out.iter_mut().zip(0u32..) {
                *slot = item;
            }
        } else if self.rejection_draws[n] <= items as f64 {
            self.sample_by_rejection(rng, stamp, scratch, out);
        } else {
            self.sample_by_keys(rng, scratch, out);
        }
    }

    /// Draws from the popularity distribution and skips repeats, which
    /// gives the same distribution as drawing from the remaining items.
    fn sample_by_rejection(
        &self,
        rng: &mut ChaCha8Rng,
        stamp: u32,
        scratch: &mut Scratch,
        out: &mut [u32],
    ) {
        let stamps = &mut scratch.stamps;
        if stamps.len() != self.weights.len() {
            *stamps = vec![0; self.weights.len()];
        }
        let mut filled = 0;
        while filled < out.len() {
            let item = self.alias.sample(rng);
            if stamps[item] != stamp {
                stamps[item] = stamp;
                out[filled] = item as u32;
                filled += 1;
            }
        }
    }

    /// Keeps the `n` items with the smallest keys `E / w`, where `E` is a
    /// standard exponential draw and `w` the weight. This is the
    /// Efraimidis–Spirakis method of weighted sampling without replacement.
    fn sample_by_keys(
        &self,
        rng: &mut ChaCha8Rng,
        scratch: &mut Scratch,
        out: &mut [u32],
    ) {
        let keys = &mut scratch.keys;
        keys.clear();
        keys.extend(self.weights.iter().zip(0u32..).map(|(&weight, item)| {
            let draw: f64 = rng.sample(Exp1);
            (draw / weight, item)
        }));
        let n = out.len();
        if n < keys.len() {
            keys.select_nth_unstable_by(n, |a, b| a.0.total_cmp(&b.0));
        }
        for (slot, &(_, item)) in out.iter_mut().zip(keys.iter()) {
            *slot = item;
        }
    }
}

/// Buffers reused across the users sampled by one rayon task.
#[derive(Default)]
struct Scratch {
    /// The user stamp of each item drawn for that user.
    stamps: Vec<u32>,
    /// Sampling keys and item indices.
    keys: Vec<(f64, u32)>,
}

/// Gives every item without a rating one rating, when there are at least
/// as many ratings as items. Each such item replaces an item with two or
/// more ratings in the list of a random user, so user counts stay the same
/// and no user gets an item twice.
fn cover_all_items(
    items: &mut [u32],
    counts: &[u32],
    item_count: usize,
    key: &[u8; 32],
) {
    if items.len() < item_count {
        return;
    }
    let mut ratings_per_item = vec![0u32; item_count];
    for &item in items.iter() {
        ratings_per_item[item as usize] += 1;
    }
    let unrated: Vec<u32> = (0u32..)
        .zip(&ratings_per_item)
        .filter(|(_, &count)| count == 0)
        .map(|(item, _)| item)
        .collect();
    if unrated.is_empty() {
        return;
    }

    let mut lists = split_by_counts(items, counts);
    let users = lists.len();
    let mut rng = stream_rng(key, Stream::Coverage, 0);
    for item in unrated {
        // Some item has two or more ratings, because there are at least as
        // many ratings as items and this one has none, so the scan ends.
        let start = rng.random_range(0..users);
        for step in 0..users {
            let list = &mut lists[(start + step) % users];
            let donor = list
                .iter_mut()
                .max_by_key(|item| ratings_per_item[**item as usize]);
            if let Some(donor) = donor {
                if ratings_per_item[*donor as usize] >= 2 {
                    ratings_per_item[*donor as usize] -= 1;
                    ratings_per_item[item as usize] = 1;
                    *donor = item;
                    break;
                }
            }
        }
    }
}

/// Invents a MovieLens-like title and genre list for each item.
fn catalog(items: usize, key: &[u8; 32]) -> (Vec<String>, Vec<String>) {
    let mut rng = stream_rng(key, Stream::Catalog, 0);
    let mut titles = Vec::with_capacity(items);
    let mut genres = Vec::with_capacity(items);
    for _ in 0..items {
        titles.push(invent_title(&mut rng));
        genres.push(pick_genres(&mut rng));
    }
    (titles, genres)
}

fn invent_title(rng: &mut ChaCha8Rng) -> String {
    let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
    let noun = NOUNS[rng.random_range(0..NOUNS.len())];
    let other = NOUNS[rng.random_range(0..NOUNS.len())];
    // Squaring a uniform draw favors recent years.
    let age = (rng.random::<f64>().powi(2) * 90.0) as u32;
    let year = 2019 - age;
    let words = if rng.random_bool(ARTICLE_TITLE_SHARE) {
        // MovieLens moves a leading article behind a comma.
        if rng.random_bool(0.5) {
            format!("{noun}, The")
        } else {
            format!("{adjective} {noun}, The")
        }
    } else {
        match rng.random_range(0..6) {
            0 | 1 => format!("{adjective} {noun}"),
            2 => noun.to_string(),
            3 => format!("{noun} of the {other}"),
            4 => format!("{noun} and {other}"),
            _ => format!("{adjective} {noun} {}", rng.random_range(2..=4)),
        }
    };
    format!("{words} ({year})")
}

fn pick_genres(rng: &mut ChaCha8Rng) -> String {
    let count = match rng.random_range(0..20) {
        0..=8 => 1,
        9..=15 => 2,
        _ => 3,
    };
    let mut picked =
        rand::seq::index::sample(rng, GENRES.len(), count).into_vec();
    picked.sort_unstable();
    let names: Vec<&str> = picked.iter().map(|&g| GENRES[g]).collect();
    names.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_spec(seed: u64) -> SyntheticSpec {
        SyntheticSpec {
            users: 300,
            items: 200,
            ratings: 6000,
            seed,
            ..SyntheticSpec::default()
        }
    }

    fn pairs(data: &Synthetic) -> Vec<(u32, u32)> {
        data.ratings
            .entries
            .iter()
            .map(|r| (r.user, r.item))
            .collect()
    }

    fn values(data: &Synthetic) -> Vec<u32> {
        data.ratings
            .entries
            .iter()
            .map(|r| r.value.to_bits())
            .collect()
    }

    fn ratings_per_user(data: &Synthetic) -> Vec<usize> {
        let mut counts = vec![0; data.ratings.users.len()];
        for rating in &data.ratings.entries {
            counts[rating.user as usize] += 1;
        }
        counts
    }

    fn ratings_per_item(data: &Synthetic) -> Vec<usize> {
        let mut counts = vec![0; data.ratings.items.len()];
        for rating in &data.ratings.entries {
            counts[rating.item as usize] += 1;
        }
        counts
    }

    fn assert_no_repeated_pairs(data: &Synthetic) {
        let mut sorted = pairs(data);
        sorted.sort_unstable();
        let before = sorted.len();
        sorted.dedup();
        assert_eq!(sorted.len(), before, "repeated (user, item) pairs");
    }

    #[test]
    fn same_seed_same_data() {
        let a = generate(&small_spec(7)).unwrap();
        let b = generate(&small_spec(7)).unwrap();
        assert_eq!(pairs(&a), pairs(&b));
        assert_eq!(values(&a), values(&b));
        assert_eq!(a.expected, b.expected);
        assert_eq!(a.ratings.timestamps, b.ratings.timestamps);
        assert_eq!(a.titles, b.titles);
        assert_eq!(a.genres, b.genres);
    }

    #[test]
    fn different_seed_different_data() {
        let a = generate(&small_spec(7)).unwrap();
        let b = generate(&small_spec(8)).unwrap();
        assert_ne!(pairs(&a), pairs(&b));
        assert_ne!(values(&a), values(&b));
        assert_ne!(a.titles, b.titles);
    }

    #[test]
    fn thread_count_does_not_change_data() {
        let spec = SyntheticSpec {
            users: 2000,
            items: 3000,
            ratings: 200_000,
            ..SyntheticSpec::default()
        };
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| generate(&spec).unwrap())
        };
        let one = run(1);
        let three = run(3);
        assert_eq!(pairs(&one), pairs(&three));
        assert_eq!(values(&one), values(&three));
        assert_eq!(one.ratings.timestamps, three.ratings.timestamps);
    }

    #[test]
    fn counts_are_exact() {
        let spec = small_spec(3);
        let data = generate(&spec).unwrap();
        assert_eq!(data.ratings.len(), spec.ratings);
        assert_eq!(data.expected.len(), spec.ratings);
        assert_eq!(data.ratings.timestamps.len(), spec.ratings);
        assert_eq!(data.ratings.users.len(), spec.users);
        assert_eq!(data.ratings.items.len(), spec.items);
        assert_eq!(data.titles.len(), spec.items);
        assert_eq!(data.genres.len(), spec.items);
        assert_eq!(data.ratings.users.id(0), "1");
        assert_eq!(data.ratings.items.id(199), "200");
        assert!(ratings_per_user(&data).iter().all(|&n| n >= 1));
        assert!(ratings_per_item(&data).iter().all(|&n| n >= 1));
    }

    #[test]
    fn no_repeated_pairs() {
        assert_no_repeated_pairs(&generate(&small_spec(5)).unwrap());
    }

    #[test]
    fn entries_sorted_by_user_then_time() {
        let data = generate(&small_spec(9)).unwrap();
        let entries = &data.ratings.entries;
        let times = &data.ratings.timestamps;
        for k in 1..entries.len() {
            let (before, after) = (entries[k - 1].user, entries[k].user);
            assert!(before <= after, "users out of order at entry {k}");
            if before == after {
                assert!(times[k - 1] < times[k], "time not rising at {k}");
            }
        }
        let first = *times.iter().min().unwrap();
        assert!(first >= FIRST_TIMESTAMP);
        assert!(first < FIRST_TIMESTAMP + START_SPREAD);
    }

    #[test]
    fn stars_are_half_steps_in_range() {
        let data = generate(&SyntheticSpec {
            stars: true,
            ..small_spec(2)
        })
        .unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for rating in &data.ratings.entries {
            let doubled = rating.value * 2.0;
            assert_eq!(doubled, doubled.round(), "{}", rating.value);
            assert!((0.5..=5.0).contains(&rating.value), "{}", rating.value);
            seen.insert(doubled as u32);
        }
        assert_eq!(seen.len(), 10, "stars seen: {seen:?}");
    }

    #[test]
    fn expected_stars_limits() {
        assert_eq!(expected_stars(3.3, 0.0), 3.5);
        assert_eq!(expected_stars(-4.0, 0.0), 0.5);
        assert!((expected_stars(3.0, 0.01) - 3.0).abs() < 1e-9);
        assert!((expected_stars(40.0, 0.5) - 5.0).abs() < 1e-9);
        assert!((expected_stars(-40.0, 0.5) - 0.5).abs() < 1e-9);
        // Far from the bounds, rounding noise of a wide spread averages
        // out to the mean.
        assert!((expected_stars(2.8, 0.4) - 2.8).abs() < 1e-3);
        // Near a bound, clipping pulls the expectation inward.
        assert!(expected_stars(5.0, 0.5) < 4.9);
    }

    #[test]
    fn star_floor_beats_planted_mean() {
        let spec = SyntheticSpec {
            users: 500,
            items: 400,
            ratings: 60_000,
            stars: true,
            ..SyntheticSpec::default()
        };
        let data = generate(&spec).unwrap();
        let residuals: Vec<f64> = data
            .ratings
            .entries
            .iter()
            .zip(&data.expected)
            .map(|(rating, &e)| f64::from(rating.value) - f64::from(e))
            .collect();
        let bias = residuals.iter().sum::<f64>() / residuals.len() as f64;
        assert!(bias.abs() < 0.01, "mean residual {bias}");

        // The same draws without stars keep the planted means. Those,
        // clipped to the stars, score worse than the expected stars.
        let clean = generate(&SyntheticSpec {
            stars: false,
            ..spec
        })
        .unwrap();
        let planted = root_mean_square(
            data.ratings
                .entries
                .iter()
                .zip(&clean.expected)
                .map(|(rating, &mean)| rating.value - mean.clamp(0.5, 5.0)),
        );
        let floor = data.noise_floor();
        assert!(floor < planted, "floor {floor} against {planted}");
        assert!((0.45..0.6).contains(&floor), "floor {floor}");
    }

    #[test]
    fn values_are_whole_hundredths() {
        let data = generate(&small_spec(2)).unwrap();
        for rating in &data.ratings.entries {
            let hundredths = hundredths_of(rating.value);
            assert_eq!(rating_from_hundredths(hundredths), rating.value);
        }
    }

    #[test]
    fn planted_model_moments() {
        let data = generate(&SyntheticSpec {
            users: 3000,
            items: 2000,
            ratings: 300_000,
            ..SyntheticSpec::default()
        })
        .unwrap();
        let mean = data.ratings.mean().unwrap();
        assert!((mean - 3.5).abs() < 0.2, "mean {mean}");
        let n = data.expected.len() as f64;
        let expected_mean =
            data.expected.iter().map(|&e| f64::from(e)).sum::<f64>() / n;
        let spread = (data
            .expected
            .iter()
            .map(|&e| (f64::from(e) - expected_mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        // Biases and interaction give sqrt(0.3² + 0.4² + 0.6²) ≈ 0.78.
        assert!((0.6..1.0).contains(&spread), "planted std {spread}");
    }

    #[test]
    fn noise_floor_matches_noise() {
        let spec = SyntheticSpec {
            users: 5000,
            items: 4000,
            ratings: 500_000,
            noise: 0.5,
            ..SyntheticSpec::default()
        };
        let data = generate(&spec).unwrap();
        let floor = data.noise_floor();
        assert!((floor - 0.5).abs() < 0.005, "noise floor {floor}");
        let held_out: Vec<usize> =
            (0..data.ratings.len()).step_by(10).collect();
        let floor_at = data.noise_floor_at(&held_out);
        assert!((floor_at - 0.5).abs() < 0.01, "held-out floor {floor_at}");
    }

    #[test]
    fn zero_noise_floor_is_rounding_only() {
        let data = generate(&SyntheticSpec {
            noise: 0.0,
            ..small_spec(4)
        })
        .unwrap();
        // Rounding to hundredths moves a value by at most 0.005.
        assert!(data.noise_floor() <= 0.005);
    }

    #[test]
    fn dense_uniform_set_has_many_ratings_per_row() {
        let spec = SyntheticSpec {
            users: 1000,
            items: 1000,
            ratings: 700_000,
            popularity_exponent: 0.0,
            activity_spread: 0.0,
            ..SyntheticSpec::default()
        };
        let data = generate(&spec).unwrap();
        assert_eq!(data.ratings.len(), 700_000);
        assert_no_repeated_pairs(&data);
        let per_user = ratings_per_user(&data);
        assert!(per_user.iter().all(|&n| n == 700), "users {per_user:?}");
        let fewest = *ratings_per_item(&data).iter().min().unwrap();
        assert!(fewest >= 500, "least-rated item has {fewest}");
    }

    #[test]
    fn dense_skewed_set_respects_caps() {
        let spec = SyntheticSpec {
            users: 500,
            items: 400,
            ratings: 180_000,
            ..SyntheticSpec::default()
        };
        let data = generate(&spec).unwrap();
        assert_eq!(data.ratings.len(), spec.ratings);
        assert_no_repeated_pairs(&data);
        let per_user = ratings_per_user(&data);
        assert!(per_user.iter().all(|&n| (1..=400).contains(&n)));
        assert!(ratings_per_item(&data).iter().all(|&n| n >= 1));
    }

    #[test]
    fn full_matrix() {
        let spec = SyntheticSpec {
            users: 40,
            items: 30,
            ratings: 1200,
            ..SyntheticSpec::default()
        };
        let data = generate(&spec).unwrap();
        assert_no_repeated_pairs(&data);
        assert!(ratings_per_user(&data).iter().all(|&n| n == 30));
    }

    #[test]
    fn every_item_rated_when_ratings_equal_items() {
        let spec = SyntheticSpec {
            users: 10,
            items: 5000,
            ratings: 5000,
            popularity_exponent: 1.5,
            ..SyntheticSpec::default()
        };
        let data = generate(&spec).unwrap();
        assert_no_repeated_pairs(&data);
        assert!(ratings_per_item(&data).iter().all(|&n| n == 1));
        assert!(ratings_per_user(&data).iter().all(|&n| n >= 1));
    }

    #[test]
    fn fewer_ratings_than_users() {
        let spec = SyntheticSpec {
            users: 100,
            items: 50,
            ratings: 30,
            ..SyntheticSpec::default()
        };
        let data = generate(&spec).unwrap();
        assert_eq!(data.ratings.len(), 30);
        assert_eq!(data.ratings.users.len(), 100);
        assert_no_repeated_pairs(&data);
    }

    #[test]
    fn apportion_sums_and_caps() {
        let weights = [1.0, 100.0, 3.0, 0.5, 7.0];
        for total in [0, 1, 7, 20, 49, 50] {
            let shares = apportion(total, &weights, 10);
            assert_eq!(shares.iter().sum::<u64>(), total, "total {total}");
            assert!(shares.iter().all(|&s| s <= 10), "cap, total {total}");
        }
        assert_eq!(apportion(20, &[1.0, 1.0, 2.0, 0.0], 100), [5, 5, 10, 0]);
    }

    #[test]
    fn titles_and_genres_look_like_movielens() {
        let data = generate(&SyntheticSpec {
            items: 4000,
            ratings: 150_000,
            ..SyntheticSpec::default()
        })
        .unwrap();
        for title in &data.titles {
            let (_, year) = title.rsplit_once(" (").expect("year suffix");
            let year: u32 = year.trim_end_matches(')').parse().unwrap();
            assert!((1930..=2019).contains(&year), "{title}");
        }
        let with_article =
            data.titles.iter().filter(|t| t.contains(", The (")).count();
        assert!((120..=280).contains(&with_article), "{with_article}");
        for genres in &data.genres {
            let names: Vec<&str> = genres.split('|').collect();
            assert!((1..=3).contains(&names.len()), "{genres}");
            assert!(names.iter().all(|name| GENRES.contains(name)));
            assert!(names.is_sorted(), "{genres}");
        }
    }

    #[test]
    fn number_formatting() {
        for (hundredths, expected) in [
            (347, "3.47"),
            (-5, "-0.05"),
            (-1234, "-12.34"),
            (0, "0.0"),
            (500, "5.0"),
            (350, "3.5"),
            (-50, "-0.5"),
            (-305, "-3.05"),
        ] {
            let mut text = Vec::new();
            push_hundredths(&mut text, hundredths);
            assert_eq!(text, expected.as_bytes());
        }
        for value in [0, 7, 1_000_000_000, -42, i64::MAX, i64::MIN] {
            let mut text = Vec::new();
            push_integer(&mut text, value);
            assert_eq!(text, value.to_string().as_bytes());
        }
    }

    #[test]
    fn ids_with_commas_are_quoted() {
        let ids = IdMap::from_ids(["7", "a,b", "say \"hi\"", ""]).unwrap();
        let fields = encode_ids(&ids).unwrap();
        let fields: Vec<&[u8]> = fields.iter().map(|f| &f[..]).collect();
        assert_eq!(
            fields,
            [&b"7"[..], b"\"a,b\"", b"\"say \"\"hi\"\"\"", b"\"\""]
        );
    }

    #[test]
    fn written_files_read_back() {
        let data = generate(&small_spec(11)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested");
        data.write(&out, false).unwrap();

        let mut reader =
            csv::Reader::from_path(out.join("ratings.csv")).unwrap();
        assert_eq!(
            reader.headers().unwrap(),
            vec!["userId", "movieId", "rating", "timestamp"]
        );
        let mut rows = 0;
        for (record, (rating, &time)) in reader
            .records()
            .zip(data.ratings.entries.iter().zip(&data.ratings.timestamps))
        {
            let record = record.unwrap();
            assert_eq!(&record[0], data.ratings.users.id(rating.user));
            assert_eq!(&record[1], data.ratings.items.id(rating.item));
            let value: f32 = record[2].parse().unwrap();
            assert_eq!(value.to_bits(), rating.value.to_bits(), "{record:?}");
            assert_eq!(record[3].parse::<i64>().unwrap(), time);
            rows += 1;
        }
        assert_eq!(rows, data.ratings.len());

        let mut reader =
            csv::Reader::from_path(out.join("movies.csv")).unwrap();
        assert_eq!(
            reader.headers().unwrap(),
            vec!["movieId", "title", "genres"]
        );
        let movies: Vec<csv::StringRecord> =
            reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(movies.len(), data.titles.len());
        for (i, movie) in movies.iter().enumerate() {
            assert_eq!(&movie[0], (i + 1).to_string());
            assert_eq!(&movie[1], data.titles[i]);
            assert_eq!(&movie[2], data.genres[i]);
        }
    }

    #[test]
    fn extreme_values_read_back() {
        // Large noise gives negative ratings and ratings above 10.
        let data = generate(&SyntheticSpec {
            noise: 5.0,
            ..small_spec(12)
        })
        .unwrap();
        assert!(data.ratings.range().unwrap().0 < 0.0);
        let dir = tempfile::tempdir().unwrap();
        data.write(dir.path(), false).unwrap();
        let mut reader =
            csv::Reader::from_path(dir.path().join("ratings.csv")).unwrap();
        for (record, rating) in reader.records().zip(&data.ratings.entries) {
            let value: f32 = record.unwrap()[2].parse().unwrap();
            assert_eq!(value.to_bits(), rating.value.to_bits());
        }
    }

    #[test]
    fn write_rejects_existing_files() {
        let data = generate(&small_spec(13)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("movies.csv"), "old").unwrap();
        let err = data.write(dir.path(), false).unwrap_err();
        assert!(
            matches!(&err, Error::AlreadyExists { path }
                if path.ends_with("movies.csv")),
            "{err}"
        );
        assert!(!dir.path().join("ratings.csv").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("movies.csv")).unwrap(),
            "old"
        );

        data.write(dir.path(), true).unwrap();
        let movies =
            std::fs::read_to_string(dir.path().join("movies.csv")).unwrap();
        assert!(movies.starts_with("movieId,title,genres\n"));
        let err = data.write(dir.path(), false).unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "temporary files left behind");
    }

    #[test]
    fn validate_rejects_bad_settings() {
        let base = SyntheticSpec::default();
        let cases: Vec<(SyntheticSpec, &str)> = vec![
            (
                SyntheticSpec {
                    users: 0,
                    ..base.clone()
                },
                "--users",
            ),
            (
                SyntheticSpec {
                    items: 0,
                    ..base.clone()
                },
                "--items",
            ),
            (
                SyntheticSpec {
                    ratings: 0,
                    ..base.clone()
                },
                "--ratings",
            ),
            (
                SyntheticSpec {
                    users: 10,
                    items: 10,
                    ratings: 101,
                    ..base.clone()
                },
                "--ratings",
            ),
            (
                SyntheticSpec {
                    rank: 0,
                    ..base.clone()
                },
                "--rank",
            ),
            (
                SyntheticSpec {
                    noise: -0.1,
                    ..base.clone()
                },
                "--noise",
            ),
            (
                SyntheticSpec {
                    noise: f32::NAN,
                    ..base.clone()
                },
                "--noise",
            ),
            (
                SyntheticSpec {
                    noise: 1000.0,
                    ..base.clone()
                },
                "--noise",
            ),
            (
                SyntheticSpec {
                    popularity_exponent: -1.0,
                    ..base.clone()
                },
                "--popularity-exponent",
            ),
            (
                SyntheticSpec {
                    activity_spread: f64::INFINITY,
                    ..base.clone()
                },
                "--activity-spread",
            ),
            (
                SyntheticSpec {
                    rank: MAX_RANK + 1,
                    ..base.clone()
                },
                "--rank",
            ),
            (
                SyntheticSpec {
                    users: 4_000_000,
                    rank: MAX_RANK,
                    ..base.clone()
                },
                "--rank",
            ),
        ];
        for (spec, expected) in cases {
            match spec.validate() {
                Err(Error::InvalidParameter { name, .. }) => {
                    assert_eq!(name, expected)
                }
                other => panic!("{expected}: got {other:?}"),
            }
            assert!(generate(&spec).is_err(), "{expected}");
        }
        assert!(base.validate().is_ok());
    }
}

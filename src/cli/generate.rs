//! `descent generate`: write a synthetic data set from a planted model.

use super::values::{whole, Real};
use super::*;

use descent::data::generate::MAX_RANK;

/// Maximum --users, --items and --ratings: ids and rating counts are
/// 32-bit.
const MAX_SIZE: u64 = u32::MAX as u64;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct GenerateCommand {
    /// Folder to write ratings.csv and movies.csv into (created if
    /// missing).
    #[arg(long)]
    out: PathBuf,
    /// Number of users, 1 to 4294967295.
    #[arg(
        long,
        default_value_t = SyntheticSpec::default().users,
        value_parser = whole(1, MAX_SIZE)
    )]
    users: usize,
    /// Number of items, 1 to 4294967295.
    #[arg(
        long,
        default_value_t = SyntheticSpec::default().items,
        value_parser = whole(1, MAX_SIZE)
    )]
    items: usize,
    /// Number of ratings, 1 to users x items.
    #[arg(
        long,
        default_value_t = SyntheticSpec::default().ratings,
        value_parser = whole(1, MAX_SIZE)
    )]
    ratings: usize,
    /// Dimension of the planted factors, 1 to 1024.
    #[arg(
        long,
        default_value_t = SyntheticSpec::default().rank,
        value_parser = whole(1, MAX_RANK as u64)
    )]
    rank: usize,
    /// Standard deviation of the Gaussian noise added to each rating, in
    /// rating points, 0 to 100.
    #[arg(
        long,
        allow_hyphen_values = true,
        value_parser = Real,
        default_value_t = SyntheticSpec::default().noise
    )]
    noise: f32,
    /// Skew of item popularity: item at popularity rank r is drawn with
    /// weight 1/(r+1)^exponent; 0 or more, and 0 draws items evenly.
    #[arg(long, default_value_t = SyntheticSpec::default().popularity_exponent)]
    popularity_exponent: f64,
    /// Spread of user activity: sigma of the lognormal weights that share
    /// out ratings among users; 0 or more, and 0 gives every user the
    /// same count.
    #[arg(long, default_value_t = SyntheticSpec::default().activity_spread)]
    activity_spread: f64,
    /// Seed; the same seed and settings give the same bytes.
    #[arg(long, default_value_t = SyntheticSpec::default().seed)]
    seed: u64,
    /// Round each rating to the nearest half star and clip it to 0.5 to 5,
    /// as in MovieLens. Without it, ratings have two decimals and no
    /// bounds, so they spread beyond 0 to 5 with the planted spread.
    #[arg(long)]
    stars: bool,
    /// Replace ratings.csv and movies.csv if they exist.
    #[arg(long)]
    force: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

pub(super) fn run(command: GenerateCommand) -> Result<()> {
    let spec = SyntheticSpec {
        users: command.users,
        items: command.items,
        ratings: command.ratings,
        rank: command.rank,
        noise: command.noise,
        popularity_exponent: command.popularity_exponent,
        activity_spread: command.activity_spread,
        seed: command.seed,
        stars: command.stars,
    };
    spec.validate()?;
    descent::data::generate::check_destination(&command.out, command.force)?;
    let data = generate(&spec)?;
    data.write(&command.out, command.force)?;
    let floor = data.noise_floor();
    if command.json {
        return emit_json(&json!({
            "ratings": data.ratings.len(),
            "users": data.ratings.users.len(),
            "items": data.ratings.items.len(),
            "noise_floor_rmse": floor,
            "out": command.out,
        }));
    }
    emit(&format!(
        "wrote {} ({}, {}) to {} and movies.csv beside it\nnoise floor \
         RMSE {floor:.4}: the planted model's expected ratings score this \
         on these ratings, and no model can do better on average\n",
        count(data.ratings.len(), "rating"),
        count(data.ratings.users.len(), "user"),
        count(data.ratings.items.len(), "item"),
        command.out.join("ratings.csv").display()
    ))
}

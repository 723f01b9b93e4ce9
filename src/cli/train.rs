//! `descent train`: fit a model to a ratings file and save it.

use super::*;

// Commands accept negative numbers as values (here and below), and the
// options that take a real number accept any value that starts with a
// hyphen, such as `-inf`. So a range check rather than the parser rejects
// `--learning-rate -0.01`, and the message names the option and the value.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct TrainCommand {
    /// Ratings file to train on. Its optional fourth column, the timestamp,
    /// is checked but does not affect training. Of repeated (user, item)
    /// pairs the last row is kept.
    #[arg(long)]
    ratings: PathBuf,
    /// Where to write the model (a safetensors file).
    #[arg(long)]
    model: PathBuf,
    /// Replace the model file if it exists.
    #[arg(long)]
    force: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    training: TrainingArgs,
}

pub(super) fn run(command: TrainCommand) -> Result<()> {
    let params = command.training.params();
    params.validate()?;
    if !command.force && command.model.exists() {
        return Err(Error::AlreadyExists {
            path: command.model.clone(),
        });
    }
    check_output_folder(&command.model)?;
    let (ratings, report) = load(&command.ratings, &command.input)?;
    let summary = describe_load(&ratings, &report);
    if !command.json {
        eprintln!("{summary}");
    }
    let started = Instant::now();
    let model = train_with_progress(&ratings, &command.training, None)?;
    let seconds = started.elapsed().as_secs_f64();
    let bytes = persist::to_bytes(&model)?;
    persist::write_atomically(&command.model, &bytes, command.force)?;

    if command.json {
        return emit_json(&json!({
            "ratings": ratings.len(),
            "users": ratings.users.len(),
            "items": ratings.items.len(),
            "duplicates": report.duplicates,
            "skipped_rows": report.skipped_rows,
            "global_mean": model.global_mean,
            "rating_min": model.rating_range.0,
            "rating_max": model.rating_range.1,
            "train_seconds": seconds,
            "model": command.model,
            "model_bytes": bytes.len(),
            "params": model.params,
        }));
    }
    emit(&format!(
        "trained {} factors for {} epochs on {} ratings ({} users, {} \
         items) in {seconds:.2} s\nglobal mean {:.4}, rating range {} to \
         {}\nsaved {} ({} bytes)\n",
        params.factors,
        params.epochs,
        ratings.len(),
        ratings.users.len(),
        ratings.items.len(),
        model.global_mean,
        model.rating_range.0,
        model.rating_range.1,
        command.model.display(),
        bytes.len()
    ))
}

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
    /// Replace the model file, and the --curve and --plot files, if they
    /// exist.
    #[arg(long)]
    force: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    early_stop: evaluate::EarlyStopArgs,
    #[command(flatten)]
    curve: evaluate::CurveArgs,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    training: TrainingArgs,
}

pub(super) fn run(command: TrainCommand) -> Result<()> {
    let params = command.training.params();
    params.validate()?;
    command.training.warn_extra_threads();
    check_output_folder(&command.model)?;
    if !command.force && command.model.exists() {
        return Err(Error::AlreadyExists {
            path: command.model.clone(),
        });
    }
    let mut outputs = vec![("--model", command.model.as_path())];
    outputs.extend(command.curve.named_paths());
    check_distinct_files(&[("--ratings", &command.ratings)], &outputs)?;
    let early_stop = command.early_stop.settings()?;
    command.curve.check(command.force)?;
    let (ratings, report) = load(&command.ratings, &command.input)?;
    let summary = describe_load(&ratings, &report);
    if !command.json {
        eprintln!("{summary}");
    }
    let started = Instant::now();
    let (model, stop, curve) =
        if early_stop.is_some() || command.curve.requested() {
            let tracked = evaluate::train_tracked_with_progress(
                &ratings,
                &command.training,
                early_stop.as_ref(),
            )?;
            (tracked.model, tracked.stop, tracked.curve)
        } else {
            let model = train_with_progress(&ratings, &command.training, None)?;
            (model, None, Vec::new())
        };
    let seconds = started.elapsed().as_secs_f64();
    let bytes = persist::to_bytes(&model)?;
    persist::write_atomically(&command.model, &bytes, command.force)?;
    let best: Vec<_> = stop
        .iter()
        .map(|stop| descent::eval::curve::BestEpoch {
            fold: None,
            epoch: stop.best_epoch,
        })
        .collect();
    let title = "Training RMSE per epoch";
    command.curve.write(&curve, &best, title, command.force)?;

    if command.json {
        return emit_json(&json!({
            "ratings": ratings.len(),
            "users": ratings.users.len(),
            "items": ratings.items.len(),
            "duplicates": report.duplicates,
            "skipped_rows": report.skipped_rows,
            "global_mean": to_json(&model.global_mean),
            "rating_min": to_json(&model.rating_range.0),
            "rating_max": to_json(&model.rating_range.1),
            "train_seconds": seconds,
            "model": command.model,
            "model_bytes": bytes.len(),
            "params": to_json(&model.params),
            "early_stop": to_json(&stop),
        }));
    }
    let mut text = format!(
        "trained {} for {} on {} ({}, {}) in {seconds:.2} s\nglobal mean \
         {:.4}, rating range {} to {}\nsaved {} ({})\n",
        count(params.factors, "factor"),
        count(model.params.epochs, "epoch"),
        count(ratings.len(), "rating"),
        count(ratings.users.len(), "user"),
        count(ratings.items.len(), "item"),
        model.global_mean,
        model.rating_range.0,
        model.rating_range.1,
        command.model.display(),
        count(bytes.len(), "byte")
    );
    if let Some(stop) = &stop {
        text.push_str(&format!(
            "early stopping: best epoch {} of {} run (limit {}), validation \
             RMSE {:.4} on {} held out from the other {}; the saved model \
             then trained for {} on all {} in {:.2} s\n",
            stop.best_epoch,
            stop.epochs_run,
            stop.max_epochs,
            stop.best_validation_rmse,
            count(stop.validation_ratings, "rating"),
            count(stop.fit_ratings, "rating"),
            count(stop.best_epoch, "epoch"),
            count(ratings.len(), "rating"),
            stop.refit_seconds
        ));
    }
    emit(&text)
}

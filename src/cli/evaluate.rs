//! `descent evaluate`: train on one part of the data, measure on the rest.

use super::*;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
#[command(group(clap::ArgGroup::new("source").required(true)
    .args(["ratings", "train", "model"])))]
pub(super) struct EvaluateCommand {
    /// Training ratings; evaluated on --test.
    #[arg(long, requires = "test")]
    train: Option<PathBuf>,
    /// Test ratings, for --train or --model.
    #[arg(long)]
    test: Option<PathBuf>,
    /// A saved model to evaluate on --test instead of training one.
    #[arg(long, requires = "test")]
    model: Option<PathBuf>,
    /// All ratings, split at random into training and test parts by
    /// --test-fraction and --seed. Each row is drawn alone, so users and
    /// items whose rows all land in the test part are cold there.
    #[arg(long, conflicts_with_all = ["train", "test", "model"])]
    ratings: Option<PathBuf>,
    /// Share of the rows of --ratings held out for testing.
    #[arg(long, allow_hyphen_values = true, default_value_t = 0.2)]
    test_fraction: f64,
    /// Length of the top-N lists behind precision, recall and NDCG.
    #[arg(short = 'n', long = "count", default_value_t = 10)]
    n: usize,
    /// Print exactly one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    training: TrainingArgs,
}

pub(super) fn run(command: EvaluateCommand) -> Result<()> {
    let params = command.training.params();
    params.validate()?;
    let (train_part, test_part) = if let Some(path) = &command.ratings {
        let (all, report) = load(path, &command.input)?;
        if !command.json {
            eprintln!("{}", describe_load(&all, &report));
        }
        let split =
            random_split(all.len(), command.test_fraction, params.seed)?;
        (Some(all.subset(&split.train)), all.subset(&split.test))
    } else {
        let test_path = command.test.as_ref().expect("clap requires --test");
        let train_part = match &command.train {
            Some(path) => Some(load(path, &command.input)?.0),
            None => None,
        };
        (train_part, load(test_path, &command.input)?.0)
    };

    let started = Instant::now();
    let (model, train_seconds) = match &train_part {
        Some(train) => {
            let model = train_with_progress(
                train,
                &command.training,
                Some(&test_part),
            )?;
            (model, Some(started.elapsed().as_secs_f64()))
        }
        None => {
            let path = command.model.as_ref().expect("clap requires a source");
            (persist::load(path)?, None)
        }
    };
    let errors = rating_errors(&model, &test_part)
        .expect("loading rejects files without ratings");
    let threshold = default_relevance_threshold(&model);
    let ranking = ranking_metrics(&model, &test_part, command.n, threshold);

    if command.json {
        return emit_json(&json!({
            "rmse": errors.rmse,
            "mae": errors.mae,
            "warm_rmse": errors.warm_rmse,
            "test_ratings": errors.test_ratings,
            "train_ratings": model.train_ratings(),
            "cold_ratings": errors.cold.total(),
            "cold": errors.cold,
            "cold_scoring": "global mean plus the bias of the known id, \
                             or the global mean when both are unknown",
            "train_seconds": train_seconds,
            "ranking": ranking,
            "params": model.params,
        }));
    }
    let cold = errors.cold;
    let mut text = format!(
        "train: {} ratings ({} users, {} items); test: {} ratings\n",
        model.train_ratings(),
        model.users.len(),
        model.items.len(),
        errors.test_ratings
    );
    text.push_str(&format!(
        "cold test ratings: {} ({} of unknown users, {} of unknown items, {} \
         of both), scored with the global mean plus the known bias\n",
        cold.total(),
        cold.unknown_user,
        cold.unknown_item,
        cold.unknown_both
    ));
    text.push_str(&format!("RMSE {:.4}  MAE {:.4}", errors.rmse, errors.mae));
    if let (Some(warm), true) = (errors.warm_rmse, cold.total() > 0) {
        text.push_str(&format!("  (RMSE without cold ratings {warm:.4})"));
    }
    text.push('\n');
    if let Some(ranking) = ranking {
        text.push_str(&format!(
            "top-{n}: precision {:.4}  recall {:.4}  NDCG {:.4} over {} users \
             (relevant: test rating >= {})\n",
            ranking.precision,
            ranking.recall,
            ranking.ndcg,
            ranking.users,
            ranking.relevance_threshold,
            n = ranking.n
        ));
    }
    if let Some(seconds) = train_seconds {
        text.push_str(&format!("trained in {seconds:.2} s\n"));
    }
    emit(&text)
}

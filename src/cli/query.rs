//! `descent recommend`, `predict` and `similar`: queries of a saved model.

use super::*;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct RecommendCommand {
    /// Model file written by `descent train`.
    #[arg(long)]
    model: PathBuf,
    /// User id as written in the training file.
    #[arg(long)]
    user: String,
    /// Number of items to list.
    #[arg(short = 'n', long = "count", default_value_t = 10)]
    n: usize,
    /// Items file with titles: movies.csv, movies.dat or u.item.
    #[arg(long, visible_alias = "movies")]
    items: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct PredictCommand {
    /// Model file written by `descent train`.
    #[arg(long)]
    model: PathBuf,
    /// User id as written in the training file.
    #[arg(long)]
    user: String,
    /// Item id as written in the training file.
    #[arg(long)]
    item: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct SimilarCommand {
    /// Model file written by `descent train`.
    #[arg(long)]
    model: PathBuf,
    /// Item id as written in the training file.
    #[arg(long)]
    item: String,
    /// Number of items to list.
    #[arg(short = 'n', long = "count", default_value_t = 10)]
    n: usize,
    /// Items file with titles: movies.csv, movies.dat or u.item.
    #[arg(long, visible_alias = "movies")]
    items: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn load_titles(path: Option<&Path>) -> Result<Option<ItemCatalog>> {
    let Some(path) = path else { return Ok(None) };
    let catalog = ItemCatalog::load(path)?;
    for warning in &catalog.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(Some(catalog))
}

/// Prints a ranked list as a table or as JSON with the given key.
fn emit_ranked(
    model: &Model,
    list: &[descent::model::Scored],
    catalog: Option<&ItemCatalog>,
    heading: String,
    json_head: serde_json::Value,
    json: bool,
) -> Result<()> {
    let title = |item: &str| catalog.and_then(|c| c.title(item));
    if json {
        let mut object = json_head;
        let rows: Vec<_> = list
            .iter()
            .enumerate()
            .map(|(rank, scored)| {
                let item = model.items.id(scored.item);
                json!({
                    "rank": rank + 1,
                    "item": item,
                    "score": scored.score,
                    "title": title(item),
                })
            })
            .collect();
        let key = if object.get("similar_to").is_some() {
            "similar"
        } else {
            "recommendations"
        };
        object[key] = serde_json::Value::Array(rows);
        return emit_json(&object);
    }
    let width = list
        .iter()
        .map(|s| model.items.id(s.item).len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut text =
        format!("{heading}\nrank  {:<width$}  score  title\n", "item");
    for (rank, scored) in list.iter().enumerate() {
        let item = model.items.id(scored.item);
        text.push_str(&format!(
            "{:>4}  {item:<width$}  {:>5.3}  {}\n",
            rank + 1,
            scored.score,
            title(item).unwrap_or("-")
        ));
    }
    emit(&text)
}

pub(super) fn recommend(command: RecommendCommand) -> Result<()> {
    let model = persist::load(&command.model)?;
    let catalog = load_titles(command.items.as_deref())?;
    let list = model.recommend(&command.user, command.n)?;
    let user = model
        .users
        .get(&command.user)
        .expect("recommend checked it");
    let rated = model.rated_by(user).len();
    let heading = format!(
        "top {} of {} unrated items for user {} (rated {rated} items in \
         training); score is the predicted rating",
        list.len(),
        model.items.len() - rated,
        command.user
    );
    let head = json!({ "user": command.user, "n": command.n });
    emit_ranked(&model, &list, catalog.as_ref(), heading, head, command.json)
}

pub(super) fn similar(command: SimilarCommand) -> Result<()> {
    let model = persist::load(&command.model)?;
    let catalog = load_titles(command.items.as_deref())?;
    let list = model.similar_items(&command.item, command.n)?;
    let heading = format!(
        "{} items most similar to item {}; score is the cosine similarity of \
         item factors",
        list.len(),
        command.item
    );
    let head = json!({ "similar_to": command.item, "n": command.n });
    emit_ranked(&model, &list, catalog.as_ref(), heading, head, command.json)
}

pub(super) fn predict(command: PredictCommand) -> Result<()> {
    let model = persist::load(&command.model)?;
    let prediction = model.predict(&command.user, &command.item);
    if command.json {
        return emit_json(&json!({
            "user": command.user,
            "item": command.item,
            "prediction": prediction.value,
            "fallback": prediction.fallback.map(|f| f.name()),
        }));
    }
    match prediction.fallback {
        None => emit(&format!("{:.4}\n", prediction.value)),
        Some(fallback) => emit(&format!(
            "{:.4}  (fallback for {})\n",
            prediction.value,
            fallback.describe()
        )),
    }
}

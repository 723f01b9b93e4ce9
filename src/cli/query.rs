//! `descent recommend`, `predict` and `similar`: queries of a saved model.

use super::batch::{self, BatchOutputArgs};
use super::values::{whole, IdArg, MAX_COUNT};
use super::*;

use clap::ArgGroup;
use descent::data::ids::{escape_invisible, find_invalid_char};
use descent::data::input;
use descent::model::Scored;
use descent::serve::foldin::parse_user_ratings;
use descent::serve::{
    fold_in, ColdStart, FilterSpec, FoldInOptions, ItemFilter, ListKind,
    RankedList, Recommender,
};
use std::collections::HashMap;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
#[command(group(
    ArgGroup::new("target")
        .required(true)
        .args(["user", "all", "users", "ratings_of"])
))]
#[command(group(ArgGroup::new("batch").args(["all", "users"])))]
pub(super) struct RecommendCommand {
    /// Model file written by `descent train`.
    #[arg(long)]
    pub(super) model: PathBuf,
    /// User id as written in the training file.
    #[arg(long, value_parser = IdArg)]
    pub(super) user: Option<String>,
    /// List every user of the model, in training order, as CSV or JSON
    /// lines (see --output-format).
    #[arg(long)]
    pub(super) all: bool,
    /// List the users in FILE, one id per line, in file order, as CSV or
    /// JSON lines (see --output-format). A repeated id is listed once, and
    /// blank lines and lines starting with # are skipped.
    #[arg(long, value_name = "FILE")]
    pub(super) users: Option<PathBuf>,
    /// Recommend for a user the model has not seen, from their ratings in
    /// FILE: `item,rating` lines or a ratings file of one user. The user's
    /// bias and factors are fitted to those ratings against the model's
    /// item factors (fold-in), and the rated items are left out.
    #[arg(long, value_name = "FILE")]
    pub(super) ratings_of: Option<PathBuf>,
    /// Number of items to list, 1 to 100000.
    #[arg(
        short = 'n',
        long = "count",
        default_value_t = 10,
        value_parser = whole(1, MAX_COUNT as u64)
    )]
    pub(super) n: usize,
    /// Items file with titles: movies.csv, movies.dat or u.item.
    #[arg(long, visible_alias = "movies")]
    pub(super) items: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long, conflicts_with = "batch")]
    pub(super) json: bool,
    /// For a user absent from training, list the most-rated items
    /// (popular) or the items with the highest global mean plus item bias
    /// (bias), labelled as not personalized, instead of failing.
    #[arg(long, value_enum, value_name = "LIST")]
    pub(super) cold_start: Option<ColdStartArg>,
    #[command(flatten)]
    pub(super) filters: FilterArgs,
    #[command(flatten)]
    pub(super) output: BatchOutputArgs,
}

/// The list for a user absent from training.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(super) enum ColdStartArg {
    /// The items with the most training ratings.
    Popular,
    /// The items with the highest global mean plus item bias.
    Bias,
}

impl From<ColdStartArg> for ColdStart {
    fn from(arg: ColdStartArg) -> ColdStart {
        match arg {
            ColdStartArg::Popular => ColdStart::Popular,
            ColdStartArg::Bias => ColdStart::Bias,
        }
    }
}

/// Restrictions on the listed items, shared by `recommend` and `similar`.
#[derive(Args, Debug)]
pub(super) struct FilterArgs {
    /// Items never to list: ids separated by commas. May be repeated.
    #[arg(long, value_delimiter = ',', value_name = "ITEMS")]
    exclude: Vec<String>,
    /// File of item ids never to list, one per line; lines starting with #
    /// are skipped.
    #[arg(long, value_name = "FILE")]
    pub(super) exclude_file: Option<PathBuf>,
    /// File of item ids, one per line, to list only these items; lines
    /// starting with # are skipped.
    #[arg(long, value_name = "FILE")]
    pub(super) candidates: Option<PathBuf>,
    /// List only items of this genre, from the --items file, ignoring
    /// case. Repeat to allow any of several genres.
    #[arg(long, value_name = "NAME", requires = "items")]
    genre: Vec<String>,
    /// List only items with at least this many ratings in the training
    /// data, 1 to 4294967295. Items rated by only a few users can get
    /// extreme scores and top many lists. On MovieLens latest-small, 50
    /// kept them out. The default, 1, lists every item.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = whole(1, u64::from(u32::MAX))
    )]
    min_item_ratings: usize,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct PredictCommand {
    /// Model file written by `descent train`.
    #[arg(long)]
    model: PathBuf,
    /// User id as written in the training file.
    #[arg(long, value_parser = IdArg)]
    user: String,
    /// Item id as written in the training file.
    #[arg(long, value_parser = IdArg)]
    item: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
#[command(group(
    ArgGroup::new("target").required(true).args(["item", "title"])
))]
pub(super) struct SimilarCommand {
    /// Model file written by `descent train`.
    #[arg(long)]
    model: PathBuf,
    /// Item id as written in the training file.
    #[arg(long, value_parser = IdArg)]
    item: Option<String>,
    /// Item title in the --items file, instead of --item: an exact match
    /// ignoring case, or else the only title that contains it.
    #[arg(long, requires = "items")]
    title: Option<String>,
    /// Number of items to list, 1 to 100000.
    #[arg(
        short = 'n',
        long = "count",
        default_value_t = 10,
        value_parser = whole(1, MAX_COUNT as u64)
    )]
    n: usize,
    /// Items file with titles: movies.csv, movies.dat or u.item.
    #[arg(long, visible_alias = "movies")]
    items: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    filters: FilterArgs,
}

fn load_titles(path: Option<&Path>) -> Result<Option<ItemCatalog>> {
    let Some(path) = path else { return Ok(None) };
    let catalog = ItemCatalog::load(path)?;
    print_warnings(&catalog.warnings);
    Ok(Some(catalog))
}

/// Prints the first few warnings about an items file and a count of the
/// rest, so a file with many Latin-1 titles does not flood the terminal.
pub(super) fn print_warnings(warnings: &[String]) {
    const SHOWN: usize = 3;
    for warning in warnings.iter().take(SHOWN) {
        eprintln!("warning: {warning}");
    }
    if warnings.len() > SHOWN {
        let more = warnings.len() - SHOWN;
        eprintln!(
            "warning: {} about the items file {} not shown",
            count(more, "more warning"),
            form(more, "is", "are")
        );
    }
}

/// Loads a model and, if given, an items file, for queries.
pub(super) fn load_recommender(
    model: &Path,
    items: Option<&Path>,
) -> Result<Recommender> {
    let model = persist::load(model)?;
    let recommender = Recommender::new(model, load_titles(items)?);
    if let Some(path) = items {
        warn_few_titles(&recommender, path);
    }
    Ok(recommender)
}

/// Warns when fewer than half of the model's items have a title in the
/// items file, which usually means the file belongs to another data set.
fn warn_few_titles(recommender: &Recommender, path: &Path) {
    let items = recommender.model().items.len();
    let titled = (0..items as u32)
        .filter(|&item| recommender.title(item).is_some())
        .count();
    if titled * 2 < items {
        eprintln!(
            "warning: {}: only {titled} of the model's {} have a title \
             there; is it the items file of the data the model was \
             trained on?",
            path.display(),
            count(items, "item")
        );
    }
}

/// Reads a file of ids, one per line, with the line number of each.
/// Blank lines and lines starting with `#` are skipped.
///
/// # Errors
///
/// Fails as [`input::read_text`] does, and when an id contains a control
/// character or a byte order mark, naming the line.
pub(super) fn read_id_lines(path: &Path) -> Result<Vec<(u64, String)>> {
    let bytes = input::read_text(path)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = String::from_utf8_lossy(bytes);
    let mut ids = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index as u64 + 1;
        let id = line.trim();
        if id.is_empty() || id.starts_with('#') {
            continue;
        }
        if let Some(invalid) = find_invalid_char(id) {
            return Err(Error::Row {
                path: path.to_path_buf(),
                line: number,
                message: format!(
                    "the id \"{}\" contains {invalid}",
                    escape_invisible(id)
                ),
            });
        }
        ids.push((number, id.to_string()));
    }
    Ok(ids)
}

fn read_ids(path: &Path) -> Result<Vec<String>> {
    Ok(read_id_lines(path)?.into_iter().map(|(_, id)| id).collect())
}

/// Resolves the filter options, warning about ids the model lacks.
pub(super) fn resolve_filter(
    recommender: &Recommender,
    args: &FilterArgs,
) -> Result<ItemFilter> {
    let mut exclude: Vec<String> = args
        .exclude
        .iter()
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
        .collect();
    if let Some(path) = &args.exclude_file {
        exclude.extend(read_ids(path)?);
    }
    let candidates = match &args.candidates {
        Some(path) => {
            let ids = read_ids(path)?;
            if ids.is_empty() {
                eprintln!(
                    "warning: {}: no item ids, so every list will be empty",
                    path.display()
                );
            }
            Some(ids)
        }
        None => None,
    };
    let spec = FilterSpec {
        exclude,
        candidates,
        genres: args.genre.clone(),
        min_item_ratings: args.min_item_ratings as u32,
    };
    let filter = recommender.filter(&spec)?;
    let max_count = (0..recommender.model().items.len() as u32)
        .map(|item| recommender.rating_count(item))
        .max()
        .unwrap_or(0);
    if max_count < spec.min_item_ratings {
        eprintln!(
            "warning: no item has {} or more training ratings (the most \
             rated has {max_count}), so every list will be empty",
            spec.min_item_ratings
        );
    }
    let unknown = filter.unknown_ids();
    if !unknown.is_empty() {
        let shown: Vec<&str> =
            unknown.iter().take(5).map(String::as_str).collect();
        eprintln!(
            "warning: {} of --exclude, --exclude-file or --candidates {} \
             not in the model and cannot be listed anyway: {}{}",
            count(unknown.len(), "item id"),
            form(unknown.len(), "is", "are"),
            shown.join(", "),
            if unknown.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        );
    }
    Ok(filter)
}

/// Returns the decimals of a score of a `kind` list in a table: none for
/// rating counts, 3 otherwise.
fn score_decimals(kind: ListKind) -> usize {
    if kind == ListKind::Popular {
        0
    } else {
        3
    }
}

/// Prints a ranked list as a table, with `decimals` digits after the
/// point of each score, or as JSON with the given key.
fn emit_ranked(
    recommender: &Recommender,
    list: &[Scored],
    decimals: usize,
    heading: String,
    json_head: serde_json::Value,
    json: bool,
) -> Result<()> {
    let model = recommender.model();
    if json {
        let mut object = json_head;
        let rows: Vec<_> = list
            .iter()
            .enumerate()
            .map(|(rank, scored)| {
                json!({
                    "rank": rank + 1,
                    "item": model.items.id(scored.item),
                    "score": to_json(&scored.score),
                    "title": recommender.title(scored.item),
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
            "{:>4}  {item:<width$}  {:>5.decimals$}  {}\n",
            rank + 1,
            scored.score,
            recommender.title(scored.item).unwrap_or("-")
        ));
    }
    emit(&text)
}

/// Number of items `filter` allows that are not in `rated` (sorted).
fn unrated_count(
    recommender: &Recommender,
    filter: &ItemFilter,
    rated: &[u32],
) -> usize {
    (0..recommender.model().items.len() as u32)
        .filter(|&item| {
            filter.allows(item) && rated.binary_search(&item).is_err()
        })
        .count()
}

/// Returns the heading and JSON note of a cold-start list for `subject`.
fn cold_heading(list: &RankedList, subject: &str) -> (String, String) {
    let contents = list.kind.describe();
    let score = list.kind.score_meaning();
    let note =
        format!("{subject}; not personalized: {contents}; score is {score}");
    let heading = format!(
        "{subject}; not personalized: top {} of {contents}; score is {score}",
        list.items.len()
    );
    (heading, note)
}

pub(super) fn recommend(command: RecommendCommand) -> Result<()> {
    let batch = command.all || command.users.is_some();
    if command.output.has_out() && !batch {
        use clap::CommandFactory;
        let mut cli = super::Cli::command();
        // Building sets the subcommand's name in its usage line.
        cli.build();
        let recommend = cli
            .find_subcommand_mut("recommend")
            .expect("recommend is a subcommand");
        recommend
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--out writes the lists of --all or --users; the list of \
                 --user or --ratings-of goes to standard output, so \
                 redirect it (> list.txt) or add --json",
            )
            .exit();
    }
    if let Some(out) = command.output.out_file() {
        let filters = &command.filters;
        let inputs: Vec<(&str, &Path)> = [
            ("--model", Some(command.model.as_path())),
            ("--items", command.items.as_deref()),
            ("--users", command.users.as_deref()),
            ("--ratings-of", command.ratings_of.as_deref()),
            ("--candidates", filters.candidates.as_deref()),
            ("--exclude-file", filters.exclude_file.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, path)| Some((name, path?)))
        .collect();
        check_distinct_files(&inputs, &[("--out", out)])?;
    }
    let recommender =
        load_recommender(&command.model, command.items.as_deref())?;
    let filter = resolve_filter(&recommender, &command.filters)?;
    if command.all || command.users.is_some() {
        return batch::run(&command, &recommender, &filter);
    }
    if let Some(path) = &command.ratings_of {
        return recommend_folded(&command, path, &recommender, &filter);
    }
    let user = command
        .user
        .as_deref()
        .expect("clap requires --user, --all, --users or --ratings-of");
    let cold_start = command.cold_start.map(ColdStart::from);
    let list = recommender.recommend(user, command.n, &filter, cold_start)?;

    let model = recommender.model();
    let mut head = json!({ "user": user, "n": command.n });
    head["kind"] = json!(list.kind.name());
    let heading = match model.users.get(user) {
        Some(index) => {
            let rated = model.rated_by(index);
            let unrated = if filter.mask().is_some() {
                unrated_count(&recommender, &filter, rated)
            } else {
                model.items.len() - rated.len()
            };
            format!(
                "top {} of {} for user {user} (rated {} in training); score \
                 is the predicted rating before clipping to the rating range",
                list.items.len(),
                count(unrated, "unrated item"),
                count(rated.len(), "item")
            )
        }
        None => {
            let subject = format!("user {user} is unknown to the model");
            let (heading, note) = cold_heading(&list, &subject);
            head["note"] = json!(note);
            heading
        }
    };
    emit_ranked(
        &recommender,
        &list.items,
        score_decimals(list.kind),
        heading,
        head,
        command.json,
    )
}

/// Warns about items rated more than once in a fold-in file, whose last
/// rating is the one used.
fn warn_repeated_items(ratings: &[(String, f32)], path: &Path) {
    let mut times: HashMap<&str, usize> = HashMap::new();
    let mut repeated: Vec<&str> = Vec::new();
    for (item, _) in ratings {
        let seen = times.entry(item.as_str()).or_insert(0);
        *seen += 1;
        if *seen == 2 {
            repeated.push(item);
        }
    }
    if repeated.is_empty() {
        return;
    }
    let shown: Vec<String> = repeated
        .iter()
        .take(5)
        .map(|item| format!("{item} ({} times)", times[item]))
        .collect();
    eprintln!(
        "warning: {}: {} rated more than once, and only the last rating of \
         each counts: {}{}",
        path.display(),
        count(repeated.len(), "item"),
        shown.join(", "),
        if repeated.len() > shown.len() {
            ", ..."
        } else {
            ""
        }
    );
}

/// `recommend --ratings-of FILE`: fold-in of a new user.
fn recommend_folded(
    command: &RecommendCommand,
    path: &Path,
    recommender: &Recommender,
    filter: &ItemFilter,
) -> Result<()> {
    let bytes = input::read_text(path)?;
    let ratings = parse_user_ratings(&bytes, path)?;
    warn_repeated_items(&ratings, path);
    let model = recommender.model();
    let none_known = ratings
        .iter()
        .all(|(item, _)| model.items.get(item).is_none());
    let mut head = json!({ "ratings_of": path, "n": command.n });
    if let (Some(cold), true) = (command.cold_start, none_known) {
        let list = recommender.cold_start(cold.into(), command.n, filter, &[]);
        let subject = match ratings.len() {
            1 => format!(
                "the item rated in {} is not known to the model",
                path.display()
            ),
            rated => format!(
                "none of the {rated} items rated in {} is known to the model",
                path.display()
            ),
        };
        let (heading, note) = cold_heading(&list, &subject);
        head["kind"] = json!(list.kind.name());
        head["note"] = json!(note);
        return emit_ranked(
            recommender,
            &list.items,
            score_decimals(list.kind),
            heading,
            head,
            command.json,
        );
    }

    let user = fold_in(model, &ratings, &FoldInOptions::default()).map_err(
        |error| match error {
            Error::Invalid(message) => {
                Error::Invalid(format!("{}: {message}", path.display()))
            }
            other => other,
        },
    )?;
    if !user.unknown_items.is_empty() {
        let shown: Vec<&str> = user
            .unknown_items
            .iter()
            .take(5)
            .map(String::as_str)
            .collect();
        let unknown = user.unknown_items.len();
        eprintln!(
            "warning: {}: {} {} not in the model and {} ignored: {}{}",
            path.display(),
            count(unknown, "rated item"),
            form(unknown, "is", "are"),
            form(unknown, "was", "were"),
            shown.join(", "),
            if user.unknown_items.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        );
    }

    let list = recommender.recommend_folded(&user, command.n, filter);
    let unrated = unrated_count(recommender, filter, &user.rated);
    let heading = format!(
        "top {} of {} for the user rating in {} (fitted to {}, user bias \
         {:.3}); score is the predicted rating before clipping to the \
         rating range",
        list.len(),
        count(unrated, "unrated item"),
        path.display(),
        count(user.rated.len(), "rating"),
        user.bias
    );
    head["kind"] = json!(ListKind::Personalized.name());
    head["user_bias"] = to_json(&user.bias);
    head["ratings_used"] = json!(user.rated.len());
    head["unknown_items"] = json!(user.unknown_items);
    emit_ranked(recommender, &list, 3, heading, head, command.json)
}

pub(super) fn similar(command: SimilarCommand) -> Result<()> {
    let recommender =
        load_recommender(&command.model, command.items.as_deref())?;
    let filter = resolve_filter(&recommender, &command.filters)?;
    let model = recommender.model();
    let index = match (&command.item, &command.title) {
        (Some(item), _) => model
            .items
            .get(item)
            .ok_or_else(|| Error::UnknownItem(item.clone()))?,
        (None, Some(title)) => recommender.find_title(title)?,
        (None, None) => unreachable!("clap requires --item or --title"),
    };
    let item = model.items.id(index);
    let list = recommender.similar_index(index, command.n, &filter);
    let named = match recommender.title(index) {
        Some(title) => format!("item {item} ({title})"),
        None => format!("item {item}"),
    };
    let heading = format!(
        "{} most similar to {named}; score is the cosine similarity of item \
         factors",
        count(list.len(), "item"),
    );
    let head = json!({
        "similar_to": item,
        "title": recommender.title(index),
        "n": command.n,
    });
    emit_ranked(&recommender, &list, 3, heading, head, command.json)
}

pub(super) fn predict(command: PredictCommand) -> Result<()> {
    let model = persist::load(&command.model)?;
    let prediction = model.predict(&command.user, &command.item);
    let in_training = model.rated_in_training(&command.user, &command.item);
    if in_training && !command.json {
        eprintln!(
            "note: user {} rated item {} in training, so this is the \
             model's fit to that rating rather than a prediction for an \
             unseen item",
            command.user, command.item
        );
    }
    if command.json {
        return emit_json(&json!({
            "user": command.user,
            "item": command.item,
            "prediction": to_json(&prediction.value),
            "fallback": prediction.fallback.map(|f| f.name()),
            "in_training": in_training,
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

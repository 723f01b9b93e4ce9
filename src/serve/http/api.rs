//! The endpoints of the HTTP API and their request and response bodies.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{read_body, ApiError, Id};
use super::{reload, AppState, Served};
use crate::model::Scored;
use crate::serve::{
    fold_in, ColdStart, FilterSpec, FoldInOptions, ItemFilter, ListKind,
    RankedList, Recommender,
};

/// Length of a list when the request gives no `n`.
const DEFAULT_N: usize = 10;

type ApiResult = Result<Response, ApiError>;

/// One item of a ranked list.
#[derive(Serialize)]
struct Row<'a> {
    rank: usize,
    item: &'a str,
    score: f32,
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    genres: Option<&'a [String]>,
}

fn rows<'a>(recommender: &'a Recommender, items: &[Scored]) -> Vec<Row<'a>> {
    let with_genres = recommender.catalog().is_some();
    items
        .iter()
        .enumerate()
        .map(|(rank, scored)| Row {
            rank: rank + 1,
            item: recommender.model().items.id(scored.item),
            score: scored.score,
            title: recommender.title(scored.item),
            genres: with_genres.then(|| recommender.item_genres(scored.item)),
        })
        .collect()
}

/// A list of recommendations, personalized or labelled cold-start.
#[derive(Serialize)]
struct ListResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    n: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_bias: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratings_used: Option<usize>,
    /// Ids in the request that the model does not have.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    unknown_items: &'a [String],
    recommendations: Vec<Row<'a>>,
}

fn cold_note(kind: ListKind, user: Option<&str>) -> Option<String> {
    if kind == ListKind::Personalized {
        return None;
    }
    let subject = match user {
        Some(user) => format!("user {user} is unknown to the model"),
        None => "no rated item is known to the model".to_string(),
    };
    Some(format!(
        "{subject}; not personalized: {}; score is {}",
        kind.describe(),
        kind.score_meaning()
    ))
}

/// Query parameters of `GET /users/{id}/recommendations`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct UserListParams {
    n: Option<String>,
    genre: Option<String>,
    exclude: Option<String>,
    candidates: Option<String>,
    min_item_ratings: Option<String>,
    cold_start: Option<String>,
}

/// Query parameters of `GET /items/{id}/similar`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SimilarParams {
    n: Option<String>,
    genre: Option<String>,
    exclude: Option<String>,
    candidates: Option<String>,
    min_item_ratings: Option<String>,
}

/// Splits a comma-separated parameter, dropping empty entries.
fn split_list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(str::to_string)
        .collect()
}

fn filter_spec(
    genre: Option<&str>,
    exclude: Option<&str>,
    candidates: Option<&str>,
    min_item_ratings: Option<&str>,
) -> Result<FilterSpec, ApiError> {
    Ok(FilterSpec {
        exclude: split_list(exclude),
        candidates: candidates.map(|list| split_list(Some(list))),
        genres: split_list(genre),
        min_item_ratings: parse_min_item_ratings(min_item_ratings)?,
    })
}

/// Parses `min_item_ratings`, a whole number from 1; missing means 1.
fn parse_min_item_ratings(text: Option<&str>) -> Result<u32, ApiError> {
    let Some(text) = text else {
        return Ok(1);
    };
    match text.trim().parse::<u32>() {
        Ok(count) if count >= 1 => Ok(count),
        _ => Err(ApiError::bad_request(format!(
            "invalid min_item_ratings {text:?}: expected a whole number \
             from 1 to {}",
            u32::MAX
        ))),
    }
}

fn check_n(n: usize, max_n: usize) -> Result<usize, ApiError> {
    if n > max_n {
        return Err(ApiError::bad_request(format!(
            "n {n} is above the limit of {max_n} (set by --max-n)"
        )));
    }
    Ok(n)
}

fn parse_n(text: Option<&str>, max_n: usize) -> Result<usize, ApiError> {
    let Some(text) = text else {
        return Ok(DEFAULT_N.min(max_n));
    };
    let n = text.trim().parse::<usize>().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid n {text:?}: expected a whole number from 0 to {max_n}"
        ))
    })?;
    check_n(n, max_n)
}

fn parse_cold_start(text: Option<&str>) -> Result<Option<ColdStart>, ApiError> {
    match text.map(str::trim) {
        None | Some("") | Some("none") => Ok(None),
        Some("popular") => Ok(Some(ColdStart::Popular)),
        Some("bias") => Ok(Some(ColdStart::Bias)),
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid cold_start {other:?}: expected popular, bias or none"
        ))),
    }
}

fn json_response<T: Serialize>(value: &T) -> Response {
    Json(value).into_response()
}

pub(super) async fn health(State(state): State<Arc<AppState>>) -> Response {
    let served = state.current.load_full();
    let model = served.recommender.model();
    json_response(&json!({
        "status": "ok",
        "model": state.model_path,
        "generation": served.generation,
        "loaded_at_unix": served.loaded_at,
        "users": model.users.len(),
        "items": model.items.len(),
        "factors": model.factors(),
        "titles": served.recommender.catalog().is_some(),
    }))
}

pub(super) async fn user_recommendations(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<UserListParams>, QueryRejection>,
) -> ApiResult {
    let Path(user) = path.map_err(ApiError::from_path)?;
    let Query(params) = query.map_err(ApiError::from_query)?;
    let n = parse_n(params.n.as_deref(), state.limits.max_n)?;
    let cold_start = parse_cold_start(params.cold_start.as_deref())?;
    let spec = filter_spec(
        params.genre.as_deref(),
        params.exclude.as_deref(),
        params.candidates.as_deref(),
        params.min_item_ratings.as_deref(),
    )?;
    let served = state.current.load_full();
    let recommender = &served.recommender;
    let filter = recommender.filter(&spec)?;
    let list = recommender.recommend(&user, n, &filter, cold_start)?;
    Ok(json_response(&ListResponse {
        user: Some(&user),
        kind: list.kind.name(),
        note: cold_note(list.kind, Some(&user)),
        n,
        user_bias: None,
        ratings_used: None,
        unknown_items: filter.unknown_ids(),
        recommendations: rows(recommender, &list.items),
    }))
}

/// Body of a `GET /items/{id}/similar` response.
#[derive(Serialize)]
struct SimilarResponse<'a> {
    item: &'a str,
    title: Option<&'a str>,
    n: usize,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    unknown_items: &'a [String],
    similar: Vec<Row<'a>>,
}

pub(super) async fn similar_items(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<SimilarParams>, QueryRejection>,
) -> ApiResult {
    let Path(item) = path.map_err(ApiError::from_path)?;
    let Query(params) = query.map_err(ApiError::from_query)?;
    let n = parse_n(params.n.as_deref(), state.limits.max_n)?;
    let spec = filter_spec(
        params.genre.as_deref(),
        params.exclude.as_deref(),
        params.candidates.as_deref(),
        params.min_item_ratings.as_deref(),
    )?;
    let served = state.current.load_full();
    let recommender = &served.recommender;
    let filter = recommender.filter(&spec)?;
    let list = recommender.similar(&item, n, &filter)?;
    let index = recommender.model().items.get(&item);
    Ok(json_response(&SimilarResponse {
        item: &item,
        title: index.and_then(|i| recommender.title(i)),
        n,
        unknown_items: filter.unknown_ids(),
        similar: rows(recommender, &list),
    }))
}

/// One (user, item) pair of `POST /predict`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pair {
    user: Id,
    item: Id,
}

/// The object form of a `POST /predict` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictRequest {
    pairs: Vec<Pair>,
}

#[derive(Serialize)]
struct PredictionRow<'a> {
    user: &'a str,
    item: &'a str,
    prediction: f32,
    fallback: Option<&'static str>,
}

#[derive(Serialize)]
struct PredictResponse<'a> {
    predictions: Vec<PredictionRow<'a>>,
}

/// `POST /predict`: the body is a JSON array of `{"user", "item"}`
/// objects, or an object whose `pairs` contains that array.
pub(super) async fn predict(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> ApiResult {
    let bytes = read_body(request, state.limits.max_body_bytes).await?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(ApiError::from_json)?;
    let pairs: Vec<Pair> =
        match value {
            serde_json::Value::Array(_) => {
                serde_json::from_value(value).map_err(ApiError::from_json)?
            }
            serde_json::Value::Object(_) => {
                let request: PredictRequest = serde_json::from_value(value)
                    .map_err(ApiError::from_json)?;
                request.pairs
            }
            _ => return Err(ApiError::bad_request(
                "invalid request body: expected a JSON array of {\"user\", \
                 \"item\"} objects or an object with such an array in \
                 \"pairs\"",
            )),
        };
    check_batch(pairs.len(), state.limits.max_batch, "pairs")?;
    let served = state.current.load_full();
    let model = served.recommender.model();
    let predictions: Vec<PredictionRow> = pairs
        .iter()
        .map(|pair| {
            let prediction = model.predict(&pair.user.0, &pair.item.0);
            PredictionRow {
                user: &pair.user.0,
                item: &pair.item.0,
                prediction: prediction.value,
                fallback: prediction.fallback.map(|f| f.name()),
            }
        })
        .collect();
    Ok(json_response(&PredictResponse { predictions }))
}

fn check_batch(count: usize, max: usize, what: &str) -> Result<(), ApiError> {
    if count > max {
        return Err(ApiError::bad_request(format!(
            "{count} {what} are above the limit of {max} per request (set by \
             --max-batch)"
        )));
    }
    Ok(())
}

/// One rating of a `POST /recommend` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RatingEntry {
    item: Id,
    rating: f64,
}

/// Body of `POST /recommend`: the ratings of a user the model has not
/// seen, and the same list options as the query parameters of
/// `GET /users/{id}/recommendations`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FoldInRequest {
    ratings: Vec<RatingEntry>,
    #[serde(default)]
    n: Option<usize>,
    #[serde(default)]
    genre: Option<String>,
    #[serde(default)]
    exclude: Vec<Id>,
    #[serde(default)]
    candidates: Option<Vec<Id>>,
    #[serde(default)]
    min_item_ratings: Option<u32>,
    #[serde(default)]
    cold_start: Option<String>,
}

/// `POST /recommend`: folds in the given ratings and lists the top items,
/// leaving out the rated ones.
pub(super) async fn recommend_for_ratings(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> ApiResult {
    let bytes = read_body(request, state.limits.max_body_bytes).await?;
    let request: FoldInRequest =
        serde_json::from_slice(&bytes).map_err(ApiError::from_json)?;
    check_batch(request.ratings.len(), state.limits.max_batch, "ratings")?;
    let n = check_n(request.n.unwrap_or(DEFAULT_N), state.limits.max_n)?;
    let cold_start = parse_cold_start(request.cold_start.as_deref())?;
    let spec = FilterSpec {
        exclude: request.exclude.into_iter().map(|id| id.0).collect(),
        candidates: request
            .candidates
            .map(|list| list.into_iter().map(|id| id.0).collect()),
        genres: split_list(request.genre.as_deref()),
        min_item_ratings: match request.min_item_ratings {
            Some(0) => {
                return Err(ApiError::bad_request(format!(
                    "invalid min_item_ratings 0: expected a whole number \
                     from 1 to {}",
                    u32::MAX
                )))
            }
            count => count.unwrap_or(1),
        },
    };
    let served = state.current.load_full();
    let (low, high) = served.recommender.model().rating_range;
    let mut ratings: Vec<(String, f32)> =
        Vec::with_capacity(request.ratings.len());
    for entry in request.ratings {
        // Checked as f64, so that 1e40 is reported as sent rather than as
        // the infinity it becomes in f32.
        if !(f64::from(low)..=f64::from(high)).contains(&entry.rating) {
            // Debug formatting writes 1e40 rather than its 41 digits.
            let value = if entry.rating.abs() < 1e16 {
                entry.rating.to_string()
            } else {
                format!("{:?}", entry.rating)
            };
            return Err(ApiError::bad_request(format!(
                "rating {value} of item {} is outside the model's rating \
                 range {low} to {high}",
                entry.item.0
            )));
        }
        ratings.push((entry.item.0, entry.rating as f32));
    }
    // The solve costs O(factors^3), so it runs off the async workers.
    let task = tokio::task::spawn_blocking(move || {
        fold_in_response(&served, &ratings, n, &spec, cold_start)
    });
    task.await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("fold-in task failed: {e}"),
        )
    })?
}

fn fold_in_response(
    served: &Served,
    ratings: &[(String, f32)],
    n: usize,
    spec: &FilterSpec,
    cold_start: Option<ColdStart>,
) -> ApiResult {
    let recommender = &served.recommender;
    let filter: ItemFilter = recommender.filter(spec)?;
    let model = recommender.model();
    let none_known = ratings
        .iter()
        .all(|(item, _)| model.items.get(item).is_none());
    let (list, user, unknown) = match cold_start {
        // Without a known item there is nothing to fold in.
        Some(cold) if none_known => {
            let unknown =
                ratings.iter().map(|(item, _)| item.clone()).collect();
            (recommender.cold_start(cold, n, &filter, &[]), None, unknown)
        }
        _ => {
            let user = fold_in(model, ratings, &FoldInOptions::default())?;
            let list = RankedList {
                kind: ListKind::Personalized,
                items: recommender.recommend_folded(&user, n, &filter),
            };
            let unknown = user.unknown_items.clone();
            (list, Some(user), unknown)
        }
    };
    let mut unknown_items: Vec<String> = unknown;
    unknown_items.extend(filter.unknown_ids().iter().cloned());
    unknown_items.sort();
    unknown_items.dedup();
    Ok(json_response(&ListResponse {
        user: None,
        kind: list.kind.name(),
        note: cold_note(list.kind, None),
        n,
        user_bias: user.as_ref().map(|u| u.bias),
        ratings_used: user.as_ref().map(|u| u.rated.len()),
        unknown_items: &unknown_items,
        recommendations: rows(recommender, &list.items),
    }))
}

/// `POST /reload`: loads the model file again and swaps it in.
pub(super) async fn reload_model(
    State(state): State<Arc<AppState>>,
) -> ApiResult {
    match reload(&state).await {
        Ok(served) => {
            let model = served.recommender.model();
            Ok(json_response(&json!({
                "status": "reloaded",
                "generation": served.generation,
                "users": model.users.len(),
                "items": model.items.len(),
                "factors": model.factors(),
            })))
        }
        Err(error) => {
            let current = state.current.load().generation;
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "reload failed: {error}; still serving generation \
                     {current}"
                ),
            ))
        }
    }
}

const ENDPOINTS: &str = "GET /health, GET /users/{id}/recommendations, GET \
                         /items/{id}/similar, POST /predict, POST /recommend, \
                         POST /reload";

pub(super) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint {method} {}; endpoints: {ENDPOINTS}",
            uri.path()
        ),
    )
}

pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {method} is not allowed on {}; endpoints: {ENDPOINTS}",
            uri.path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_parsed_and_limited() {
        assert_eq!(parse_n(None, 1000).unwrap(), 10);
        assert_eq!(parse_n(None, 4).unwrap(), 4);
        assert_eq!(parse_n(Some("25"), 1000).unwrap(), 25);
        let error = parse_n(Some("5000"), 1000).unwrap_err();
        assert!(error.message.contains("limit of 1000"), "{}", error.message);
        let error = parse_n(Some("-1"), 1000).unwrap_err();
        assert!(error.message.contains("\"-1\""), "{}", error.message);
    }

    #[test]
    fn lists_split_on_commas() {
        assert_eq!(split_list(Some(" a, ,b,")), vec!["a", "b"]);
        assert!(split_list(None).is_empty());
        let spec = filter_spec(Some("Drama"), None, Some(""), None).unwrap();
        assert_eq!(spec.candidates, Some(Vec::new()));
        assert_eq!(spec.genres, vec!["Drama"]);
        assert_eq!(spec.min_item_ratings, 1);
    }

    #[test]
    fn min_item_ratings_range() {
        assert_eq!(parse_min_item_ratings(Some(" 50")).unwrap(), 50);
        for bad in ["0", "-3", "1.5", "many", "4294967296"] {
            let error = parse_min_item_ratings(Some(bad)).unwrap_err();
            assert!(error.message.contains(bad), "{}", error.message);
        }
    }

    #[test]
    fn cold_start_names() {
        assert_eq!(
            parse_cold_start(Some("popular")).unwrap(),
            Some(ColdStart::Popular)
        );
        assert_eq!(parse_cold_start(None).unwrap(), None);
        assert!(parse_cold_start(Some("random")).is_err());
    }
}

//! Fold-in: fits the bias and factors of a user absent from training to
//! that user's ratings, against the model's fixed item factors, without
//! retraining.
//!
//! For ratings `r_i` of known items, with `y_i = r_i - mu - b_i`, fold-in
//! minimizes
//!
//! ```text
//! sum_i (y_i - b - p . q_i)^2 + lambda_b * b^2 + lambda_p * |p|^2
//! ```
//!
//! over the bias `b` and the factors `p`. That is regularized least
//! squares in `w = (b, p)`: `(X^T X + D) w = X^T y`, where row `i` of `X`
//! is `(1, q_i)` and `D = diag(lambda_b, lambda_p, ..., lambda_p)`. The
//! `(k + 1) x (k + 1)` matrix is symmetric positive definite whenever
//! `lambda_p > 0`, and a Cholesky factorization solves it.
//!
//! By default the penalties are the ones training gives a user with the
//! same number `n` of ratings. SGD shrinks the factors of such a row by
//! `regularization * (100 / n)^regularization_exponent` on each of its `n`
//! updates and the bias by `bias_regularization`, so summed over the
//! user's ratings `lambda_p = n * regularization * (100 / n)^exponent`
//! and `lambda_b = n * bias_regularization`.

use std::path::Path;

use nalgebra::{DMatrix, DVector};

use crate::data::ids::{escape_invisible, find_invalid_char};
use crate::data::load::{normalize_line_ends, parse_ratings, LoadOptions};
use crate::error::{Error, Result};
use crate::model::{sgd, Fallback, Model, Prediction};

/// Penalties of fold-in; `None` takes the value the model was trained
/// with.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FoldInOptions {
    /// Factor penalty per update of a row with 100 ratings, as the
    /// training setting `regularization`.
    pub regularization: Option<f32>,
    /// Bias penalty per update, as the training setting
    /// `bias_regularization`.
    pub bias_regularization: Option<f32>,
}

/// A user absent from training, fitted to their ratings.
#[derive(Debug, Clone, PartialEq)]
pub struct FoldedUser {
    /// The user's bias.
    pub bias: f32,
    /// The user's factor vector, of the model's length.
    pub factors: Vec<f32>,
    /// Indices of the rated items the model has, sorted. Recommendations
    /// leave them out.
    pub rated: Vec<u32>,
    /// Rated item ids the model does not have, in input order without
    /// repeats. Fold-in ignores them.
    pub unknown_items: Vec<String>,
}

impl FoldedUser {
    /// Predicted rating of item index `item`, before clipping. The
    /// additions run in the order of [`Model::score`].
    pub fn score(&self, model: &Model, item: u32) -> f32 {
        model.global_mean
            + self.bias
            + model.item_bias[item as usize]
            + sgd::dot(&self.factors, model.item_vector(item))
    }

    /// Predicts the rating of `item`, clipped to the training range. An
    /// item the model lacks gets the global mean plus the user's bias.
    pub fn predict(&self, model: &Model, item: &str) -> Prediction {
        match model.items.get(item) {
            Some(index) => Prediction {
                value: model.clip(self.score(model, index)),
                fallback: None,
            },
            None => Prediction {
                value: model.clip(model.global_mean + self.bias),
                fallback: Some(Fallback::UnknownItem),
            },
        }
    }
}

/// Fits a new user to `ratings`, pairs of item id and rating.
///
/// A repeated item keeps its last rating. Items the model lacks are
/// ignored and listed in [`FoldedUser::unknown_items`].
///
/// # Errors
///
/// Fails with [`Error::Invalid`] when a rating is not finite or outside
/// the training rating range, when no
/// rated item is known to the model, or when the penalties are negative or
/// leave the system singular (a zero factor penalty with fewer ratings
/// than factors).
pub fn fold_in(
    model: &Model,
    ratings: &[(String, f32)],
    options: &FoldInOptions,
) -> Result<FoldedUser> {
    let mut known: Vec<(u32, f32)> = Vec::with_capacity(ratings.len());
    let mut unknown_items: Vec<String> = Vec::new();
    for (item, value) in ratings {
        if !value.is_finite() {
            return Err(Error::Invalid(format!(
                "rating {value} of item {item} is not a finite number"
            )));
        }
        let (low, high) = model.rating_range;
        if *value < low || *value > high {
            return Err(Error::Invalid(format!(
                "rating {value} of item {item} is outside the model's \
                 rating range {low} to {high}"
            )));
        }
        match model.items.get(item) {
            Some(index) => known.push((index, *value)),
            None if !unknown_items.contains(item) => {
                unknown_items.push(item.clone())
            }
            None => {}
        }
    }
    // A stable sort keeps input order within an item, so the last rating
    // of a repeated item is the last of its run.
    known.sort_by_key(|&(item, _)| item);
    let mut deduplicated: Vec<(u32, f32)> = Vec::with_capacity(known.len());
    for (item, value) in known {
        match deduplicated.last_mut() {
            Some(last) if last.0 == item => last.1 = value,
            _ => deduplicated.push((item, value)),
        }
    }
    if deduplicated.is_empty() {
        return Err(no_known_items(ratings.len(), &unknown_items));
    }
    let (bias, factors) = solve(model, &deduplicated, options)?;
    Ok(FoldedUser {
        bias,
        factors,
        rated: deduplicated.iter().map(|&(item, _)| item).collect(),
        unknown_items,
    })
}

fn no_known_items(given: usize, unknown: &[String]) -> Error {
    if given == 0 {
        return Error::Invalid(
            "no ratings given: fold-in needs at least one rating of an item \
             the model was trained on"
                .into(),
        );
    }
    let shown: Vec<&str> = unknown.iter().take(5).map(String::as_str).collect();
    let more = if unknown.len() > shown.len() {
        format!(" and {} more", unknown.len() - shown.len())
    } else {
        String::new()
    };
    Error::Invalid(format!(
        "none of the {given} rated items is known to the model ({}{more}); \
         fold-in needs ratings of items the model was trained on",
        shown.join(", ")
    ))
}

/// Solves the regularized least-squares system for `(bias, factors)`.
fn solve(
    model: &Model,
    ratings: &[(u32, f32)],
    options: &FoldInOptions,
) -> Result<(f32, Vec<f32>)> {
    let params = &model.params;
    let regularization =
        options.regularization.unwrap_or(params.regularization);
    let bias_regularization = options
        .bias_regularization
        .unwrap_or(params.bias_regularization);
    for (name, value) in [
        ("regularization", regularization),
        ("bias regularization", bias_regularization),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(Error::Invalid(format!(
                "fold-in {name} {value} must be a finite number >= 0"
            )));
        }
    }
    let k = model.factors();
    let n = ratings.len();
    let count = n as f64;
    let reference = f64::from(sgd::REFERENCE_COUNT);
    let exponent = f64::from(params.regularization_exponent);
    let lambda_p =
        count * f64::from(regularization) * (reference / count).powf(exponent);
    let lambda_b = count * f64::from(bias_regularization);

    let design = DMatrix::<f64>::from_fn(n, k + 1, |row, column| {
        if column == 0 {
            1.0
        } else {
            f64::from(model.item_vector(ratings[row].0)[column - 1])
        }
    });
    let targets = DVector::<f64>::from_fn(n, |row, _| {
        let (item, value) = ratings[row];
        f64::from(value)
            - f64::from(model.global_mean)
            - f64::from(model.item_bias[item as usize])
    });
    let mut normal = design.tr_mul(&design);
    normal[(0, 0)] += lambda_b;
    for diagonal in 1..=k {
        normal[(diagonal, diagonal)] += lambda_p;
    }
    let right = design.tr_mul(&targets);
    let cholesky = normal.cholesky().ok_or_else(|| {
        Error::Invalid(format!(
            "fold-in of {} has no unique solution with factor penalty \
             {lambda_p}; use a model trained with --regularization above 0",
            crate::plural::count(n, "rating")
        ))
    })?;
    let solution = cholesky.solve(&right);
    let bias = solution[0] as f32;
    let factors: Vec<f32> =
        solution.iter().skip(1).map(|&v| v as f32).collect();
    if !bias.is_finite() || factors.iter().any(|v| !v.is_finite()) {
        return Err(Error::Invalid(format!(
            "fold-in of {} gave non-finite factors; the ratings may be far \
             outside the model's range {} to {}",
            crate::plural::count(n, "rating"),
            model.rating_range.0,
            model.rating_range.1
        )));
    }
    Ok((bias, factors))
}

/// Reads one user's ratings for fold-in: either lines of `item,rating`
/// (comma, tab, `::` or spaces between them, an optional header), or a
/// ratings file in any format the loader reads, holding a single user.
/// `path` is used in messages.
///
/// # Errors
///
/// Fails when a rating is not a number, when a line has a third field
/// while the first had two, or when a ratings file holds several users.
pub fn parse_user_ratings(
    bytes: &[u8],
    path: &Path,
) -> Result<Vec<(String, f32)>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let bytes = normalize_line_ends(bytes);
    let text = String::from_utf8_lossy(&bytes);
    let first = text.lines().find(|line| !line.trim().is_empty());
    let Some(first) = first else {
        return Err(Error::Empty {
            path: path.to_path_buf(),
            detail: "expected item,rating lines or a ratings file".into(),
        });
    };
    let fields = split_fields(first).len();
    if fields == 2 {
        return parse_pairs(&text, path);
    }
    if fields < 2 {
        let line = text.lines().position(|line| line == first).unwrap_or(0);
        return Err(Error::Row {
            path: path.to_path_buf(),
            line: line as u64 + 1,
            message: format!(
                "expected item,rating (or the columns of a ratings file), \
                 found one field {first:?}"
            ),
        });
    }
    let (ratings, _) = parse_ratings(&bytes, path, &LoadOptions::default())?;
    if ratings.users.len() > 1 {
        let shown: Vec<&str> = ratings.users.ids().take(5).collect();
        return Err(Error::Invalid(format!(
            "{}: holds ratings of {} users ({}{}); fold-in takes the \
             ratings of one user, so keep one user's rows or write \
             item,rating lines",
            path.display(),
            ratings.users.len(),
            shown.join(", "),
            if ratings.users.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        )));
    }
    Ok(ratings
        .entries
        .iter()
        .map(|r| (ratings.items.id(r.item).to_string(), r.value))
        .collect())
}

/// Splits a line at `::`, a tab, a comma or runs of spaces, whichever
/// comes first in that order, and strips surrounding quotes.
fn split_fields(line: &str) -> Vec<&str> {
    let fields: Vec<&str> = if line.contains("::") {
        line.split("::").collect()
    } else if line.contains('\t') {
        line.split('\t').collect()
    } else if line.contains(',') {
        line.split(',').collect()
    } else {
        line.split_whitespace().collect()
    };
    fields
        .into_iter()
        .map(|field| field.trim().trim_matches('"'))
        .collect()
}

fn parse_pairs(text: &str, path: &Path) -> Result<Vec<(String, f32)>> {
    let mut pairs = Vec::new();
    let mut first = true;
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_number = number as u64 + 1;
        let fields = split_fields(line);
        if fields.len() != 2 {
            return Err(Error::Row {
                path: path.to_path_buf(),
                line: line_number,
                message: format!(
                    "expected 2 fields (item, rating) like the first line, \
                     found {}",
                    fields.len()
                ),
            });
        }
        let value = fields[1].parse::<f32>();
        if std::mem::take(&mut first) && value.is_err() {
            // A first line whose rating is not a number is a header.
            continue;
        }
        let value = match value {
            Ok(value) if value.is_finite() => value,
            _ => {
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    line: line_number,
                    column: "rating".into(),
                    message: format!(
                        "expected a finite number, found {:?}",
                        fields[1]
                    ),
                })
            }
        };
        if fields[0].is_empty() {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line: line_number,
                column: "item".into(),
                message: "the item id is empty".into(),
            });
        }
        if let Some(invalid) = find_invalid_char(fields[0]) {
            return Err(Error::Parse {
                path: path.to_path_buf(),
                line: line_number,
                column: "item".into(),
                message: format!(
                    "the id \"{}\" contains {invalid}",
                    escape_invisible(fields[0])
                ),
            });
        }
        pairs.push((fields[0].to_string(), value));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate::{generate, SyntheticSpec};
    use crate::data::IdMap;
    use crate::TrainParams;

    /// A model with two factors and four items whose factors are chosen
    /// by hand, and no users.
    fn hand_model() -> Model {
        let items = IdMap::from_ids(["a", "b", "c", "d"]).unwrap();
        Model {
            params: TrainParams {
                factors: 2,
                ..TrainParams::default()
            },
            global_mean: 3.0,
            rating_range: (1.0, 5.0),
            users: IdMap::new(),
            items,
            user_factors: Vec::new(),
            item_factors: vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.5, -1.0],
            user_bias: Vec::new(),
            item_bias: vec![0.1, -0.2, 0.3, 0.0],
            rated_indptr: vec![0],
            rated_items: Vec::new(),
        }
    }

    fn pairs(rows: &[(&str, f32)]) -> Vec<(String, f32)> {
        rows.iter().map(|&(i, v)| (i.to_string(), v)).collect()
    }

    #[test]
    fn ratings_outside_range_rejected() {
        let model = hand_model();
        let (low, high) = model.rating_range;
        for value in [low - 1.0, high + 0.5] {
            let error =
                fold_in(&model, &pairs(&[("a", value)]), &Default::default())
                    .unwrap_err()
                    .to_string();
            assert!(error.contains("outside"), "{error}");
        }
    }

    #[test]
    fn recovers_exact_user_without_penalty() {
        let mut model = hand_model();
        // The exact ratings of this user fall outside the hand model's
        // range, which fold-in would reject.
        model.rating_range = (-10.0, 10.0);
        let (bias, p) = (0.5f32, [1.0f32, -2.0]);
        let ratings: Vec<(String, f32)> = ["a", "b", "c", "d"]
            .iter()
            .map(|&id| {
                let i = model.items.get(id).unwrap();
                let q = model.item_vector(i);
                let value = model.global_mean
                    + bias
                    + model.item_bias[i as usize]
                    + p[0] * q[0]
                    + p[1] * q[1];
                (id.to_string(), value)
            })
            .collect();
        let options = FoldInOptions {
            regularization: Some(0.0),
            bias_regularization: Some(0.0),
        };
        let user = fold_in(&model, &ratings, &options).unwrap();
        assert!((user.bias - bias).abs() < 1e-4, "bias {}", user.bias);
        assert!((user.factors[0] - p[0]).abs() < 1e-4, "{:?}", user.factors);
        assert!((user.factors[1] - p[1]).abs() < 1e-4, "{:?}", user.factors);
        assert_eq!(user.rated, vec![0, 1, 2, 3]);
    }

    #[test]
    fn unknown_and_repeated_items() {
        let model = hand_model();
        let ratings = pairs(&[("a", 1.0), ("x", 4.0), ("a", 5.0), ("x", 2.0)]);
        let user =
            fold_in(&model, &ratings, &FoldInOptions::default()).unwrap();
        assert_eq!(user.rated, vec![0]);
        assert_eq!(user.unknown_items, vec!["x".to_string()]);
        // The last rating of "a", 5, pulls the prediction above the mean.
        let prediction = user.predict(&model, "a");
        assert!(prediction.value > 3.1, "prediction {}", prediction.value);
        assert_eq!(
            user.predict(&model, "zz").fallback.map(|f| f.name()),
            Some("unknown_item")
        );
    }

    #[test]
    fn bad_inputs_rejected() {
        let model = hand_model();
        let cases: [(Vec<(String, f32)>, &str); 3] = [
            (Vec::new(), "no ratings given"),
            (
                pairs(&[("x", 4.0), ("y", 3.0)]),
                "none of the 2 rated items",
            ),
            (pairs(&[("a", f32::NAN)]), "rating NaN of item a"),
        ];
        for (ratings, expected) in cases {
            let error = fold_in(&model, &ratings, &FoldInOptions::default())
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error}");
        }
        let singular = FoldInOptions {
            regularization: Some(0.0),
            bias_regularization: Some(0.0),
        };
        let error = fold_in(&model, &pairs(&[("a", 4.0)]), &singular)
            .unwrap_err()
            .to_string();
        assert!(error.contains("no unique solution"), "{error}");
    }

    /// The objective that fold-in minimizes, for a given bias and vector.
    fn objective(
        model: &Model,
        ratings: &[(u32, f32)],
        bias: f32,
        factors: &[f32],
    ) -> f64 {
        let n = ratings.len() as f64;
        let params = &model.params;
        let lambda_p = n
            * f64::from(params.regularization)
            * (100.0 / n).powf(f64::from(params.regularization_exponent));
        let lambda_b = n * f64::from(params.bias_regularization);
        let squared: f64 = ratings
            .iter()
            .map(|&(item, value)| {
                let predicted = f64::from(model.global_mean)
                    + f64::from(bias)
                    + f64::from(model.item_bias[item as usize])
                    + f64::from(sgd::dot(factors, model.item_vector(item)));
                (f64::from(value) - predicted).powi(2)
            })
            .sum();
        let norm: f64 = factors.iter().map(|&v| f64::from(v).powi(2)).sum();
        squared + lambda_b * f64::from(bias).powi(2) + lambda_p * norm
    }

    #[test]
    fn beats_trained_user_on_objective() {
        let spec = SyntheticSpec {
            users: 200,
            items: 150,
            ratings: 8000,
            ..SyntheticSpec::default()
        };
        let synthetic = generate(&spec).unwrap();
        let params = TrainParams {
            factors: 8,
            epochs: 20,
            threads: 1,
            ..TrainParams::default()
        };
        let model = crate::fit(&synthetic.ratings, &params).unwrap();
        for user in [0u32, 17, 99] {
            let id = synthetic.ratings.users.id(user);
            let index = model.users.get(id).unwrap();
            let ratings: Vec<(String, f32)> = synthetic
                .ratings
                .entries
                .iter()
                .filter(|r| r.user == user)
                .map(|r| {
                    (synthetic.ratings.items.id(r.item).to_string(), r.value)
                })
                .collect();
            let folded =
                fold_in(&model, &ratings, &FoldInOptions::default()).unwrap();
            let indexed: Vec<(u32, f32)> = ratings
                .iter()
                .map(|(item, value)| (model.items.get(item).unwrap(), *value))
                .collect();
            let trained = objective(
                &model,
                &indexed,
                model.user_bias[index as usize],
                model.user_vector(index),
            );
            let fitted =
                objective(&model, &indexed, folded.bias, &folded.factors);
            assert!(
                fitted <= trained * (1.0 + 1e-5),
                "user {id}: fold-in objective {fitted} above trained {trained}"
            );
        }
    }

    #[test]
    fn pairs_with_header() {
        let text = b"item,rating\r\n318,5\r\n\r\n\"50\",4.5\r\n";
        let ratings = parse_user_ratings(text, Path::new("mine.csv")).unwrap();
        assert_eq!(ratings, pairs(&[("318", 5.0), ("50", 4.5)]));
        let tabs = parse_user_ratings(b"1\t3\n2\t4\n", Path::new("t")).unwrap();
        assert_eq!(tabs, pairs(&[("1", 3.0), ("2", 4.0)]));
    }

    #[test]
    fn pairs_errors_name_line() {
        let error = parse_user_ratings(b"1,3\n2,x\n", Path::new("mine.csv"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("mine.csv:2:"), "{error}");
        assert!(error.contains("\"x\""), "{error}");
        let error = parse_user_ratings(b"1,3\n2\n", Path::new("mine.csv"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("found 1"), "{error}");
    }

    #[test]
    fn pairs_reject_invisible_ids() {
        let text = "318,5\n\u{feff}50,4.5\n".as_bytes();
        let error = parse_user_ratings(text, Path::new("mine.csv"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("mine.csv:2: column \"item\""), "{error}");
        assert!(error.contains("\"\\u{feff}50\""), "{error}");
        assert!(error.contains("U+FEFF"), "{error}");
    }

    #[test]
    fn ratings_file_of_one_user() {
        let one = b"userId,movieId,rating,timestamp\n7,1,4,0\n7,2,3.5,0\n";
        let ratings = parse_user_ratings(one, Path::new("r.csv")).unwrap();
        assert_eq!(ratings, pairs(&[("1", 4.0), ("2", 3.5)]));
        let two = b"1\t10\t4\t0\n2\t10\t3\t0\n";
        let error = parse_user_ratings(two, Path::new("u.data"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("ratings of 2 users"), "{error}");
    }
}

//! Reads a dense rating matrix: one line per user, one column per item,
//! values separated by spaces or tabs, and 0 for a missing rating. This is
//! the layout of the Coat shopping data set (`train.ascii`,
//! `test.ascii`).
//!
//! User ids are the row numbers and item ids the column numbers, both
//! counted from 0 as in the matrix, so user `3` is the fourth non-blank
//! line. Blank lines are skipped and do not count as rows. Every row must
//! have as many values as the first. A value of 0 is no rating; any other
//! finite number is a rating, whatever its scale. There is no header and
//! no timestamp.

use std::path::Path;

use crate::data::load::{Format, LoadOptions, LoadReport};
use crate::data::{Rating, Ratings};
use crate::error::{Error, Result};

/// Messages of skipped rows kept in the report.
const SKIPPED_EXAMPLES: usize = 3;

/// Reads the matrix in `bytes`, whose line ends are already LF; `path`
/// is used in messages.
///
/// # Errors
///
/// Fails when a value is not a finite number or a row has another number
/// of values than the first (with `skip_bad_rows`, such rows are skipped
/// and counted instead), or when the matrix contains no rating.
pub(crate) fn parse_matrix(
    bytes: &[u8],
    path: &Path,
    options: &LoadOptions,
) -> Result<(Ratings, LoadReport)> {
    let mut ratings = Ratings::default();
    let mut width: Option<usize> = None;
    let mut row_index = 0usize;
    let mut skipped = 0usize;
    let mut skipped_examples = Vec::new();
    let mut values: Vec<f32> = Vec::new();
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_number = number as u64 + 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        let parsed = parse_row(line, line_number, width, path, &mut values);
        match parsed {
            Ok(count) => {
                width.get_or_insert(count);
            }
            Err(error) if options.skip_bad_rows => {
                skipped += 1;
                if skipped_examples.len() < SKIPPED_EXAMPLES {
                    skipped_examples.push(error.to_string());
                }
                row_index += 1;
                continue;
            }
            Err(error) => return Err(error),
        }
        let user_id = row_index.to_string();
        for (column, &value) in values.iter().enumerate() {
            if value == 0.0 {
                continue;
            }
            let user = ratings.users.intern(&user_id);
            let item = ratings.items.intern(&column.to_string());
            ratings.entries.push(Rating { user, item, value });
        }
        row_index += 1;
    }
    if ratings.is_empty() {
        let detail = if skipped > 0 {
            crate::data::load::skipped_detail(skipped)
        } else if width.is_some() {
            "every value of the matrix is 0, which marks a missing rating"
                .to_string()
        } else {
            "the file has no rows".to_string()
        };
        return Err(Error::Empty {
            path: path.to_path_buf(),
            detail,
        });
    }
    let report = LoadReport {
        path: path.to_path_buf(),
        format: Format::Matrix,
        header: false,
        rows: ratings.len(),
        skipped_rows: skipped,
        skipped_examples,
        duplicates: 0,
        repeated_pairs: 0,
        duplicate_examples: Vec::new(),
    };
    Ok((ratings, report))
}

/// Parses one row into `values` and returns its number of values.
fn parse_row(
    line: &[u8],
    line_number: u64,
    width: Option<usize>,
    path: &Path,
    values: &mut Vec<f32>,
) -> Result<usize> {
    values.clear();
    let fields = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    for (column, field) in fields.enumerate() {
        let parsed = fast_float2::parse::<f64, _>(field).ok();
        match parsed {
            Some(value) if value.is_finite() && (value as f32).is_finite() => {
                values.push(value as f32)
            }
            _ => {
                return Err(Error::Parse {
                    path: path.to_path_buf(),
                    line: line_number,
                    column: format!("item {column}"),
                    message: format!(
                        "expected a finite number (0 for no rating), found \
                         {:?}",
                        String::from_utf8_lossy(field)
                    ),
                })
            }
        }
    }
    match width {
        Some(width) if width != values.len() => Err(Error::Row {
            path: path.to_path_buf(),
            line: line_number,
            message: format!(
                "expected {}, one per item as in the first row, found {}",
                crate::plural::count(width, "value"),
                values.len()
            ),
        }),
        _ => Ok(values.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Ratings, LoadReport)> {
        parse_matrix(
            text.as_bytes(),
            Path::new("m.ascii"),
            &LoadOptions::default(),
        )
    }

    #[test]
    fn zeros_are_missing() {
        let (ratings, report) =
            parse("0 3 0\n\n5 0 1\n0 0 0\n2 0 0\n").unwrap();
        let triples: Vec<(&str, &str, f32)> = ratings
            .entries
            .iter()
            .map(|r| {
                (ratings.users.id(r.user), ratings.items.id(r.item), r.value)
            })
            .collect();
        assert_eq!(
            triples,
            vec![
                ("0", "1", 3.0),
                ("1", "0", 5.0),
                ("1", "2", 1.0),
                ("3", "0", 2.0),
            ]
        );
        assert!(ratings.timestamps.is_empty());
        assert_eq!(report.rows, 4);
        assert_eq!(report.format, Format::Matrix);
    }

    #[test]
    fn ragged_row_named() {
        let error = parse("1 2 3\n4 5\n").unwrap_err().to_string();
        assert!(error.starts_with("m.ascii:2:"), "{error}");
        assert!(error.contains("expected 3 values"), "{error}");
        assert!(error.contains("found 2"), "{error}");
    }

    #[test]
    fn bad_value_named() {
        let error = parse("1 2 3\n4 x 6\n").unwrap_err().to_string();
        assert!(error.starts_with("m.ascii:2: column \"item 1\""), "{error}");
        assert!(error.contains("\"x\""), "{error}");
        let error = parse("1 inf 3\n").unwrap_err().to_string();
        assert!(error.contains("finite"), "{error}");
    }

    #[test]
    fn bad_rows_skipped_on_request() {
        let options = LoadOptions {
            format: Some(Format::Matrix),
            skip_bad_rows: true,
        };
        let text = b"1 2\n3\n0 4\n";
        let (ratings, report) =
            parse_matrix(text, Path::new("m"), &options).unwrap();
        assert_eq!(report.skipped_rows, 1);
        // The skipped line still counts as user 1.
        let users: Vec<&str> = ratings.users.ids().collect();
        assert_eq!(users, vec!["0", "2"]);
    }

    #[test]
    fn all_zero_matrix_is_empty() {
        let error = parse("0 0\n0 0\n").unwrap_err().to_string();
        assert!(error.contains("every value"), "{error}");
    }
}

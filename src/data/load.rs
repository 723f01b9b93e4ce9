//! Reads rating files: MovieLens `ratings.csv`, the tab-separated ml-100k
//! files, the `::`-separated ml-1m/ml-10m files and whitespace-separated
//! `user item rating` triples.
//!
//! Each data row is `user, item, rating` with an optional fourth column of
//! Unix timestamps. The separator and a header line are detected from the
//! first non-blank line unless a [`Format`] is given. A UTF-8 byte order
//! mark, CRLF line ends, quoted fields and blank lines are accepted.

use std::path::{Path, PathBuf};

use crate::data::{Rating, Ratings};
use crate::error::{Error, Result};

/// The field separator of a ratings file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated, fields may be quoted (`ratings.csv`).
    Csv,
    /// Tab-separated (`u.data`, `u1.base`).
    Tsv,
    /// Separated by `::` (`ratings.dat` of ml-1m and ml-10m).
    DoubleColon,
    /// Runs of spaces or tabs.
    Whitespace,
}

impl Format {
    /// Guesses the separator from one line of the file.
    pub fn detect(line: &[u8]) -> Format {
        if memchr::memmem::find(line, b"::").is_some() {
            Format::DoubleColon
        } else if line.contains(&b'\t') {
            Format::Tsv
        } else if line.contains(&b',') {
            Format::Csv
        } else {
            Format::Whitespace
        }
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "comma-separated",
            Format::Tsv => "tab-separated",
            Format::DoubleColon => "'::'-separated",
            Format::Whitespace => "whitespace-separated",
        }
    }
}

/// How to read a ratings file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The separator, or `None` to detect it.
    pub format: Option<Format>,
    /// Skip rows that cannot be read, counting them, instead of failing.
    pub skip_bad_rows: bool,
}

/// What loading found besides the ratings.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The file read.
    pub path: PathBuf,
    /// The separator used.
    pub format: Format,
    /// Whether the first non-blank line was a header.
    pub header: bool,
    /// Data rows read, repeats included, bad rows excluded.
    pub rows: usize,
    /// Rows skipped as unreadable (only with `skip_bad_rows`).
    pub skipped_rows: usize,
    /// The messages of the first few skipped rows.
    pub skipped_examples: Vec<String>,
    /// Rows dropped because a later row rated the same (user, item) pair.
    pub duplicates: usize,
}

const SKIPPED_EXAMPLES: usize = 3;

/// Reads the ratings in `path`, then removes repeated (user, item) pairs,
/// keeping the last row of each (see [`Ratings::remove_duplicates`]).
///
/// # Errors
///
/// Fails when the file cannot be read, when a row cannot be read (unless
/// `skip_bad_rows` is set), or when the file holds no ratings. Messages
/// name the file, line, column and the text found.
pub fn load_ratings(
    path: impl AsRef<Path>,
    options: &LoadOptions,
) -> Result<(Ratings, LoadReport)> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_ratings(&bytes, path, options)
}

/// Reads ratings from bytes already in memory; `path` is used in messages.
///
/// # Errors
///
/// As [`load_ratings`].
pub fn parse_ratings(
    bytes: &[u8],
    path: &Path,
    options: &LoadOptions,
) -> Result<(Ratings, LoadReport)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = first_nonblank_line(bytes);
    let format = match (options.format, first) {
        (Some(format), _) => format,
        (None, Some(line)) => Format::detect(line),
        (None, None) => Format::Csv,
    };
    let mut reader = RowReader::new(path, format, options.skip_bad_rows);
    match format {
        Format::Csv => read_delimited(bytes, b',', &mut reader)?,
        Format::Tsv => read_delimited(bytes, b'\t', &mut reader)?,
        Format::DoubleColon | Format::Whitespace => {
            read_lines(bytes, format, &mut reader)?
        }
    }
    reader.finish(bytes)
}

fn first_nonblank_line(bytes: &[u8]) -> Option<&[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .find(|line| !line.trim_ascii().is_empty())
}

fn read_delimited(
    bytes: &[u8],
    delimiter: u8,
    reader: &mut RowReader,
) -> Result<()> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line());
                return Err(Error::Row {
                    path: reader.path.clone(),
                    line,
                    message: error.to_string(),
                });
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        for (slot, field) in fields.iter_mut().zip(record.iter()) {
            *slot = field;
        }
        let count = record.len();
        reader.row(&fields[..count.min(MAX_FIELDS)], count, line)?;
    }
}

fn read_lines(
    bytes: &[u8],
    format: Format,
    reader: &mut RowReader,
) -> Result<()> {
    let mut fields: Vec<&[u8]> = Vec::with_capacity(4);
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        fields.clear();
        if format == Format::DoubleColon {
            let mut rest = line;
            while let Some(at) = memchr::memmem::find(rest, b"::") {
                fields.push(rest[..at].trim_ascii());
                rest = &rest[at + 2..];
            }
            fields.push(rest.trim_ascii());
        } else {
            fields.extend(
                line.split(|b| b.is_ascii_whitespace())
                    .filter(|f| !f.is_empty()),
            );
        }
        reader.row(&fields, fields.len(), number as u64 + 1)?;
    }
    Ok(())
}

/// Turns rows of fields into ratings, with the checks and messages.
struct RowReader {
    path: PathBuf,
    format: Format,
    skip_bad_rows: bool,
    ratings: Ratings,
    columns: Vec<String>,
    /// Field count fixed by the header or the first data row.
    width: Option<usize>,
    seen_first: bool,
    header: bool,
    rows: usize,
    skipped: usize,
    skipped_examples: Vec<String>,
}

/// Fields kept per row; a longer row is an error, reported with its count.
const MAX_FIELDS: usize = 5;

const DEFAULT_COLUMNS: [&str; 4] = ["user", "item", "rating", "timestamp"];

impl RowReader {
    fn new(path: &Path, format: Format, skip_bad_rows: bool) -> Self {
        RowReader {
            path: path.to_path_buf(),
            format,
            skip_bad_rows,
            ratings: Ratings::default(),
            columns: DEFAULT_COLUMNS.iter().map(|c| c.to_string()).collect(),
            width: None,
            seen_first: false,
            header: false,
            rows: 0,
            skipped: 0,
            skipped_examples: Vec::new(),
        }
    }

    /// Reads one row; `count` is its number of fields, of which at most
    /// the first [`MAX_FIELDS`] are in `fields`.
    fn row(&mut self, fields: &[&[u8]], count: usize, line: u64) -> Result<()> {
        if count == fields.len() && fields.iter().all(|f| f.is_empty()) {
            return Ok(());
        }
        if !self.seen_first {
            self.seen_first = true;
            if is_header(fields) {
                self.read_header(fields, count, line)?;
                return Ok(());
            }
        }
        match self.parse_row(fields, count, line) {
            Ok(()) => {
                self.rows += 1;
                Ok(())
            }
            Err(error) if self.skip_bad_rows => {
                self.skipped += 1;
                if self.skipped_examples.len() < SKIPPED_EXAMPLES {
                    self.skipped_examples.push(error.to_string());
                }
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    fn read_header(
        &mut self,
        fields: &[&[u8]],
        count: usize,
        line: u64,
    ) -> Result<()> {
        self.header = true;
        if !(3..=4).contains(&count) {
            return Err(self.width_error(count, line));
        }
        self.width = Some(count);
        for (column, field) in self.columns.iter_mut().zip(fields) {
            *column = String::from_utf8_lossy(field).into_owned();
        }
        Ok(())
    }

    fn width_error(&self, found: usize, line: u64) -> Error {
        let expected = match self.width {
            Some(width) => format!(
                "{width} fields ({})",
                self.columns[..width].join(", ")
            ),
            None => "3 or 4 fields (user, item, rating[, timestamp])".into(),
        };
        Error::Row {
            path: self.path.clone(),
            line,
            message: format!(
                "expected {expected} separated by {}, found {found}",
                separator_name(self.format)
            ),
        }
    }

    fn parse_row(
        &mut self,
        fields: &[&[u8]],
        count: usize,
        line: u64,
    ) -> Result<()> {
        if !(3..=4).contains(&count) {
            return Err(self.width_error(count, line));
        }
        if count != *self.width.get_or_insert(count) {
            return Err(self.width_error(count, line));
        }
        let user = self.parse_id(fields[0], 0, line)?;
        let item = self.parse_id(fields[1], 1, line)?;
        let value = self.parse_rating(fields[2], line)?;
        let timestamp = match fields.get(3) {
            Some(field) => Some(self.parse_timestamp(field, line)?),
            None => None,
        };
        let user = self.ratings.users.intern(user);
        let item = self.ratings.items.intern(item);
        self.ratings.entries.push(Rating { user, item, value });
        if let Some(timestamp) = timestamp {
            self.ratings.timestamps.push(timestamp);
        }
        Ok(())
    }

    fn error(&self, column: usize, line: u64, message: String) -> Error {
        Error::Parse {
            path: self.path.clone(),
            line,
            column: self.columns[column].clone(),
            message,
        }
    }

    fn parse_id<'a>(
        &self,
        field: &'a [u8],
        column: usize,
        line: u64,
    ) -> Result<&'a str> {
        if field.is_empty() {
            return Err(self.error(
                column,
                line,
                "expected an id, found an empty field".into(),
            ));
        }
        std::str::from_utf8(field).map_err(|_| {
            self.error(
                column,
                line,
                format!("expected UTF-8 text, found {}", quote(field)),
            )
        })
    }

    fn parse_rating(&self, field: &[u8], line: u64) -> Result<f32> {
        let parsed = fast_float2::parse::<f64, _>(field).ok();
        match parsed {
            Some(value) if value.is_finite() && (value as f32).is_finite() => {
                Ok(value as f32)
            }
            Some(_) => Err(self.error(
                2,
                line,
                format!("a rating must be a finite number, found {}", quote(field)),
            )),
            None => Err(self.error(
                2,
                line,
                format!("expected a number, found {}", quote(field)),
            )),
        }
    }

    fn parse_timestamp(&self, field: &[u8], line: u64) -> Result<i64> {
        std::str::from_utf8(field)
            .ok()
            .and_then(|text| text.parse::<i64>().ok())
            .ok_or_else(|| {
                self.error(
                    3,
                    line,
                    format!(
                        "expected a whole number of seconds, found {}",
                        quote(field)
                    ),
                )
            })
    }

    fn finish(mut self, bytes: &[u8]) -> Result<(Ratings, LoadReport)> {
        if self.ratings.is_empty() {
            let detail = if bytes.is_empty() {
                "the file is empty".to_string()
            } else if self.skipped > 0 {
                format!("all {} rows were skipped as unreadable", self.skipped)
            } else if self.header {
                "it contains only a header line".to_string()
            } else {
                "it contains only blank lines".to_string()
            };
            return Err(Error::Empty {
                path: self.path,
                detail,
            });
        }
        let duplicates = self.ratings.remove_duplicates();
        let report = LoadReport {
            path: self.path,
            format: self.format,
            header: self.header,
            rows: self.rows,
            skipped_rows: self.skipped,
            skipped_examples: self.skipped_examples,
            duplicates,
        };
        Ok((self.ratings, report))
    }
}

/// A header is a first line in which no field is a number, so that a bad
/// first data row such as `1,2,x` is still reported as an error.
fn is_header(fields: &[&[u8]]) -> bool {
    fields
        .iter()
        .all(|field| fast_float2::parse::<f64, _>(field).is_err())
}

fn separator_name(format: Format) -> &'static str {
    match format {
        Format::Csv => "commas",
        Format::Tsv => "tabs",
        Format::DoubleColon => "'::'",
        Format::Whitespace => "spaces",
    }
}

/// Quotes a field for a message, cut to a readable length.
fn quote(field: &[u8]) -> String {
    const LIMIT: usize = 40;
    let text = String::from_utf8_lossy(field);
    if text.chars().count() > LIMIT {
        let cut: String = text.chars().take(LIMIT).collect();
        format!("\"{cut}...\"")
    } else {
        format!("\"{text}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Ratings, LoadReport)> {
        parse_ratings(
            text.as_bytes(),
            Path::new("r.csv"),
            &LoadOptions::default(),
        )
    }

    fn values(ratings: &Ratings) -> Vec<f32> {
        ratings.entries.iter().map(|r| r.value).collect()
    }

    #[test]
    fn movielens_csv_with_header() {
        let (ratings, report) =
            parse("userId,movieId,rating,timestamp\n1,10,4.5,99\n2,10,3,98\n")
                .unwrap();
        assert!(report.header);
        assert_eq!(report.format, Format::Csv);
        assert_eq!(values(&ratings), vec![4.5, 3.0]);
        assert_eq!(ratings.timestamps, vec![99, 98]);
        assert_eq!(ratings.users.len(), 2);
        assert_eq!(ratings.items.len(), 1);
    }

    #[test]
    fn separators_detected() {
        let cases = [
            ("1\t2\t3\t4\n", Format::Tsv),
            ("1::2::3::4\n", Format::DoubleColon),
            ("1 2   3\n", Format::Whitespace),
            ("1,2,3\n", Format::Csv),
        ];
        for (text, format) in cases {
            let (ratings, report) = parse(text).unwrap();
            assert_eq!(report.format, format, "{text:?}");
            assert_eq!(values(&ratings), vec![3.0], "{text:?}");
            assert_eq!(ratings.users.id(0), "1");
            assert_eq!(ratings.items.id(0), "2");
        }
    }

    #[test]
    fn bom_crlf_blank_lines_and_quotes() {
        let text = "\u{feff}\"userId\",\"movieId\",\"rating\"\r\n\
                    \"1\",\"a\",\"4\"\r\n\r\n   \n\t\n";
        let (ratings, report) = parse(text).unwrap();
        assert!(report.header);
        assert_eq!(ratings.users.id(0), "1");
        assert_eq!(ratings.items.id(0), "a");
        assert_eq!(values(&ratings), vec![4.0]);
    }

    #[test]
    fn bad_rating_names_line_column_value() {
        let text = "userId,movieId,rating\n1,2,3\n1,3,4,5\n";
        let error = parse(text).unwrap_err().to_string();
        assert!(error.starts_with("r.csv:3:"), "{error}");
        assert!(error.contains("expected 3 fields"), "{error}");

        let error = parse("userId,movieId,rating\n1,2,x4\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "r.csv:2: column \"rating\": expected a number, found \"x4\""
        );
    }

    #[test]
    fn nonfinite_ratings_rejected() {
        for value in ["NaN", "inf", "-inf", "1e999", "1e39"] {
            let text = format!("1,2,3\n1,3,{value}\n");
            let error = parse(&text).unwrap_err().to_string();
            assert!(error.contains("r.csv:2:"), "{error}");
            assert!(error.contains("finite"), "{error}");
            assert!(error.contains(value), "{error}");
        }
    }

    #[test]
    fn skip_bad_rows_counts() {
        let options = LoadOptions {
            format: None,
            skip_bad_rows: true,
        };
        let text = "1,2,3\n1,3\n2,2,x\n2,3,4\n";
        let (ratings, report) =
            parse_ratings(text.as_bytes(), Path::new("r.csv"), &options)
                .unwrap();
        assert_eq!(ratings.len(), 2);
        assert_eq!(report.skipped_rows, 2);
        assert_eq!(report.skipped_examples.len(), 2);
    }

    #[test]
    fn empty_inputs_rejected() {
        for (text, detail) in [
            ("", "empty"),
            ("\n\n\n", "blank"),
            ("userId,movieId,rating,timestamp\n", "header"),
        ] {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains("no ratings"), "{error}");
            assert!(error.contains(detail), "{error}");
        }
    }

    #[test]
    fn bad_timestamp_rejected() {
        let error = parse("1,2,3,abc\n").unwrap_err().to_string();
        assert!(error.contains("column \"timestamp\""), "{error}");
    }

    #[test]
    fn repeated_pairs_collapsed() {
        let (ratings, report) = parse("1,2,3\n1,2,5\n2,2,1\n").unwrap();
        assert_eq!(report.duplicates, 1);
        assert_eq!(values(&ratings), vec![5.0, 1.0]);
    }
}

//! Reads rating files: MovieLens `ratings.csv`, the tab-separated ml-100k
//! files, the `::`-separated ml-1m/ml-10m files and whitespace-separated
//! `user item rating` triples.
//!
//! Each data row is `user, item, rating` with an optional fourth column of
//! Unix timestamps. The separator and a header line are detected from the
//! first non-blank line unless a [`Format`] is given. A UTF-8 byte order
//! mark, LF, CRLF and CR line ends, quoted fields and lines of nothing but
//! whitespace are accepted. A row whose fields are all empty, such as
//! `,,`, is an error like any other short row. An id that contains a
//! control character or a byte order mark is an invalid row too (see
//! [`crate::data::ids::is_invalid_in_id`]), and a line longer than
//! [`MAX_LINE_BYTES`] stops reading whatever the options.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashSet;

use crate::data::ids::{escape_invisible, find_invalid_char};
use crate::data::input::{self, Input, MAX_LINE_BYTES};
use crate::data::{fast, matrix, Rating, Ratings};
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
    /// A dense matrix, one row per user and one column per item, with 0
    /// for a missing rating; read by [`crate::data::dense`] and never
    /// detected.
    Matrix,
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
            Format::Matrix => "dense matrix",
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
    /// Distinct (user, item) pairs rated on more than one row.
    pub repeated_pairs: usize,
    /// The first few repeated pairs with the lines that rate them, such as
    /// `user 3, item 104: lines 5, 7 and 9`.
    pub duplicate_examples: Vec<String>,
}

const SKIPPED_EXAMPLES: usize = 3;

/// Repeated pairs described in [`LoadReport::duplicate_examples`].
const DUPLICATE_EXAMPLES: usize = 3;

/// Reads the ratings in `path`, then removes repeated (user, item) pairs,
/// keeping the last row of each (see [`Ratings::remove_duplicates`]).
///
/// A regular file of valid rows without quotes is read in blocks, each
/// parsed in parallel on the current rayon thread pool, so that its text
/// is never in memory all at once. Any other regular file is read whole. A
/// pipe is read into memory once (see [`crate::data::input`]).
///
/// # Errors
///
/// Fails when the file cannot be read or is not a regular file or a pipe,
/// when a line is longer than [`MAX_LINE_BYTES`], when a row cannot be
/// read (unless `skip_bad_rows` is set), or when the file contains no
/// ratings. Messages name the file, line, column and the text found, and
/// the line of the next invalid row if there is one.
pub fn load_ratings(
    path: impl AsRef<Path>,
    options: &LoadOptions,
) -> Result<(Ratings, LoadReport)> {
    let path = path.as_ref();
    let input = input::open(path)?;
    if options.format == Some(Format::Matrix) {
        let bytes = input::read_text_from(input, path)?;
        return parse_matrix(&bytes, path, options);
    }
    let rows = match input {
        Input::File(file) => match fast::load(file, options)
            .map_err(|error| Error::io(path, error))?
        {
            Some(rows) => rows,
            None => {
                let bytes = input::read_text(path)?;
                read_rows_precise(without_bom(&bytes), path, options)?
            }
        },
        // A pipe cannot be read twice, so it is read into memory once.
        stream @ Input::Stream(_) => {
            let bytes = input::read_text_from(stream, path)?;
            read_rows(&bytes, path, options)?
        }
    };
    Ok(rows.finish(path))
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
    if options.format == Some(Format::Matrix) {
        return parse_matrix(bytes, path, options);
    }
    Ok(read_rows(bytes, path, options)?.finish(path))
}

/// Reads a dense matrix with [`crate::data::dense::parse_matrix`], which
/// takes the text without its byte order mark and with LF line ends.
fn parse_matrix(
    bytes: &[u8],
    path: &Path,
    options: &LoadOptions,
) -> Result<(Ratings, LoadReport)> {
    let bytes = normalize_line_ends(without_bom(bytes));
    crate::data::dense::parse_matrix(&bytes, path, options)
}

/// Reads the rows of a file, in parallel when [`fast::parse`] can, and
/// otherwise row by row with [`read_rows_precise`], which gives the
/// same rows and also the messages for rows that cannot be read.
fn read_rows(bytes: &[u8], path: &Path, options: &LoadOptions) -> Result<Rows> {
    let bytes = without_bom(bytes);
    match fast::parse(bytes, options) {
        Some(rows) => Ok(rows),
        None => read_rows_precise(bytes, path, options),
    }
}

fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Reads the rows of a file, without its byte order mark, one by one.
pub(crate) fn read_rows_precise(
    bytes: &[u8],
    path: &Path,
    options: &LoadOptions,
) -> Result<Rows> {
    let bytes = normalize_line_ends(bytes);
    if let Some(line) = first_long_line(&bytes) {
        return Err(input::long_line(path, line));
    }
    let first = first_nonblank_line(&bytes);
    let format = match (options.format, first) {
        (Some(format), _) => format,
        (None, Some(line)) => Format::detect(line),
        (None, None) => Format::Csv,
    };
    let mut reader = RowReader::new(path, format, options);
    match format {
        Format::Csv => read_delimited(&bytes, b',', &mut reader)?,
        Format::Tsv => read_delimited(&bytes, b'\t', &mut reader)?,
        Format::DoubleColon | Format::Whitespace => {
            read_lines(&bytes, format, &mut reader)?
        }
        Format::Matrix => {
            unreachable!("dense matrices are read by `parse_matrix`")
        }
    }
    reader.finish(bytes.is_empty())
}

/// Rewrites CRLF and lone CR line ends as LF. The `csv` crate (1.4)
/// numbers rows after the first one line short in CRLF files and never
/// counts a lone CR, so messages would name the wrong line.
pub(crate) fn normalize_line_ends(bytes: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(b'\r', bytes).is_none() {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = memchr::memchr(b'\r', rest) {
        out.extend_from_slice(&rest[..at]);
        out.push(b'\n');
        rest = &rest[at + 1..];
        if rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
    }
    out.extend_from_slice(rest);
    Cow::Owned(out)
}

/// Returns the number, from 1, of the first line of `bytes`, whose line
/// ends are LF, that is longer than [`MAX_LINE_BYTES`].
fn first_long_line(bytes: &[u8]) -> Option<u64> {
    bytes
        .split(|&b| b == b'\n')
        .position(|line| line.len() > MAX_LINE_BYTES)
        .map(|index| index as u64 + 1)
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
    // The `csv` crate (1.4) drops a byte order mark at the start of its
    // input. The caller has removed the one that may start the file, so a
    // second one is part of the first field, and a line end put before the
    // text keeps it there. Line numbers are then one too high.
    let second_mark = bytes.starts_with(b"\xEF\xBB\xBF");
    let prefix: &[u8] = if second_mark { b"\n" } else { b"" };
    let shift = prefix.len() as u64;
    // Fields are trimmed below, after the check for line breaks.
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(std::io::Read::chain(prefix, bytes));
    let mut record = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line() - shift);
                return Err(Error::Row {
                    path: reader.path.clone(),
                    line,
                    message: error.to_string(),
                });
            }
        }
        let line = record.position().map_or(0, |position| {
            // The position in `bytes`, where the first record starts at
            // byte 0 of line 1 rather than at the line end put before it.
            let mut position = position.clone();
            if position.byte() < shift {
                position.set_byte(0);
                position.set_line(1);
            } else {
                position.set_byte(position.byte() - shift);
                position.set_line(position.line() - shift);
            }
            record_line(bytes, &position)
        });
        // No rating field contains a line break, so one means that a quoted
        // field ran on to the following lines.
        // NOTE: a quote left open on the last line, with no line end after
        // it, is not caught, because the `csv` crate closes it at the end.
        if record.iter().any(|field| field.contains(&b'\n')) {
            reader.bad_row(reader.unclosed_quote(line), line)?;
            continue;
        }
        // A line of spaces is blank, and so is a line of tabs in a
        // tab-separated file, but `,,` is a row of empty fields.
        let blank = record.iter().all(|field| field.trim_ascii().is_empty());
        if blank && (record.len() == 1 || delimiter == b'\t') {
            continue;
        }
        let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
        for (slot, field) in fields.iter_mut().zip(record.iter()) {
            *slot = field.trim_ascii();
        }
        let count = record.len();
        reader.row(&fields[..count.min(MAX_FIELDS)], count, line)?;
    }
}

/// Returns the line on which a record starts. The `csv` crate (1.4) gives a
/// record that follows empty lines the number of the first of them, so the
/// empty lines at its start position are counted here.
pub(crate) fn record_line(bytes: &[u8], position: &csv::Position) -> u64 {
    let start = (position.byte() as usize).min(bytes.len());
    let empty = bytes[start..].iter().take_while(|&&b| b == b'\n').count();
    position.line() + empty as u64
}

fn read_lines(
    bytes: &[u8],
    format: Format,
    reader: &mut RowReader,
) -> Result<()> {
    let mut fields: Vec<&[u8]> = Vec::with_capacity(4);
    for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
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
    /// Whether `format` was detected rather than given.
    detected: bool,
    skip_bad_rows: bool,
    ratings: Ratings,
    /// Source line of each entry of `ratings`.
    entry_lines: EntryLines,
    columns: Vec<String>,
    /// Field count fixed by the header or the first data row.
    width: Option<usize>,
    seen_first: bool,
    /// Line of the header, when the file has one.
    header_line: Option<u64>,
    rows: usize,
    skipped: usize,
    skipped_examples: Vec<String>,
    /// The first invalid row, kept while reading on to find the next one.
    first_error: Option<Error>,
}

/// The rows of a file, read but with repeated pairs not yet removed.
pub(crate) struct Rows {
    pub(crate) format: Format,
    pub(crate) ratings: Ratings,
    pub(crate) entry_lines: EntryLines,
    /// Line of the header, when the file has one.
    pub(crate) header_line: Option<u64>,
    pub(crate) rows: usize,
    pub(crate) skipped: usize,
    pub(crate) skipped_examples: Vec<String>,
}

impl Rows {
    /// Removes repeated (user, item) pairs and describes the file.
    pub(crate) fn finish(mut self, path: &Path) -> (Ratings, LoadReport) {
        let repeats = remove_repeats(&mut self.ratings, &self.entry_lines);
        let report = LoadReport {
            path: path.to_path_buf(),
            format: self.format,
            header: self.header_line.is_some(),
            rows: self.rows,
            skipped_rows: self.skipped,
            skipped_examples: self.skipped_examples,
            duplicates: repeats.rows,
            repeated_pairs: repeats.pairs,
            duplicate_examples: repeats.examples,
        };
        (self.ratings, report)
    }
}

/// The source line of each entry, stored as runs of entries on
/// consecutive lines, so that it takes memory only where blank lines, a
/// header or skipped rows break a run.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct EntryLines {
    /// First entry of each run and its line.
    runs: Vec<(usize, u64)>,
}

impl EntryLines {
    /// Records that `entry` is on `line`. Entries are pushed in order.
    pub(crate) fn push(&mut self, entry: usize, line: u64) {
        if let Some(&(start, first)) = self.runs.last() {
            if first + (entry - start) as u64 == line {
                return;
            }
        }
        self.runs.push((entry, line));
    }

    fn line(&self, entry: usize) -> u64 {
        let run = self.runs.partition_point(|&(start, _)| start <= entry) - 1;
        let (start, first) = self.runs[run];
        first + (entry - start) as u64
    }
}

/// Repeated (user, item) pairs removed from a file's ratings.
#[derive(Debug, Default)]
struct Repeats {
    rows: usize,
    pairs: usize,
    examples: Vec<String>,
}

/// Fields kept per row; a longer row is an error, reported with its count.
const MAX_FIELDS: usize = 5;

const DEFAULT_COLUMNS: [&str; 4] = ["user", "item", "rating", "timestamp"];

impl RowReader {
    fn new(path: &Path, format: Format, options: &LoadOptions) -> Self {
        RowReader {
            path: path.to_path_buf(),
            format,
            detected: options.format.is_none(),
            skip_bad_rows: options.skip_bad_rows,
            ratings: Ratings::default(),
            entry_lines: EntryLines::default(),
            columns: DEFAULT_COLUMNS.iter().map(|c| c.to_string()).collect(),
            width: None,
            seen_first: false,
            header_line: None,
            rows: 0,
            skipped: 0,
            skipped_examples: Vec::new(),
            first_error: None,
        }
    }

    /// Reads one row that is not blank; `count` is its number of fields,
    /// of which at most the first [`MAX_FIELDS`] are in `fields`.
    fn row(&mut self, fields: &[&[u8]], count: usize, line: u64) -> Result<()> {
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
            Err(error) => {
                let error = match self.header_line {
                    Some(header) if self.repeats_header(fields) => with_note(
                        error,
                        &format!(
                            "the line repeats the header of line {header}"
                        ),
                    ),
                    _ => error,
                };
                self.bad_row(error, line)
            }
        }
    }

    /// Handles a row that cannot be read. With `skip_bad_rows` it is
    /// counted and skipped. Otherwise the first such row is kept and
    /// reading goes on, so that the error returned at the second one (or
    /// by [`RowReader::finish`]) can name the next invalid line too.
    fn bad_row(&mut self, error: Error, line: u64) -> Result<()> {
        if self.skip_bad_rows {
            self.skipped += 1;
            if self.skipped_examples.len() < SKIPPED_EXAMPLES {
                self.skipped_examples.push(error.to_string());
            }
            return Ok(());
        }
        match self.first_error.take() {
            None => {
                self.first_error = Some(error);
                Ok(())
            }
            Some(first) => Err(with_note(
                first,
                &format!(
                    "line {line} is also invalid (--skip-bad-rows skips \
                     invalid rows)"
                ),
            )),
        }
    }

    fn repeats_header(&self, fields: &[&[u8]]) -> bool {
        self.width == Some(fields.len())
            && fields
                .iter()
                .zip(&self.columns)
                .all(|(field, column)| *field == column.as_bytes())
    }

    fn unclosed_quote(&self, line: u64) -> Error {
        Error::Row {
            path: self.path.clone(),
            line,
            message: "a quoted field runs past the end of the line, so its \
                      closing quote is missing"
                .into(),
        }
    }

    fn read_header(
        &mut self,
        fields: &[&[u8]],
        count: usize,
        line: u64,
    ) -> Result<()> {
        self.header_line = Some(line);
        if !(3..=4).contains(&count) {
            return Err(self.width_error(fields, count, line));
        }
        self.width = Some(count);
        for (column, field) in self.columns.iter_mut().zip(fields) {
            *column = column_label(field);
        }
        Ok(())
    }

    fn width_error(&self, fields: &[&[u8]], found: usize, line: u64) -> Error {
        let expected = match self.width {
            Some(width) => {
                format!("{width} fields ({})", self.columns[..width].join(", "))
            }
            None => "3 or 4 fields (user, item, rating[, timestamp])".into(),
        };
        let mut message = format!(
            "expected {expected} separated by {}, found {found}",
            separator_name(self.format)
        );
        if found == 1 && self.detected {
            message.push_str(
                "; the separator was detected from the first line, and \
                 --format sets it",
            );
        }
        // Separators that other tools write but no --format reads.
        let unread = [(b';', "semicolons"), (b'|', "bars")]
            .into_iter()
            .find(|(byte, _)| fields.iter().any(|f| f.contains(byte)));
        if let Some((byte, name)) = unread {
            let byte = byte as char;
            message.push_str(&format!(
                "; the line has {name}, which descent does not read as \
                 a separator: convert them to commas first, for example \
                 with tr '{byte}' ','"
            ));
        }
        if unread.is_none() && found > 4 && self.format == Format::Whitespace {
            message.push_str(
                "; a dense matrix with one row per user and one column per \
                 item is read with --format matrix",
            );
        }
        Error::Row {
            path: self.path.clone(),
            line,
            message,
        }
    }

    fn parse_row(
        &mut self,
        fields: &[&[u8]],
        count: usize,
        line: u64,
    ) -> Result<()> {
        if !(3..=4).contains(&count) {
            return Err(self.width_error(fields, count, line));
        }
        if count != *self.width.get_or_insert(count) {
            return Err(self.width_error(fields, count, line));
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
        self.entry_lines.push(self.ratings.entries.len() - 1, line);
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
        let id = std::str::from_utf8(field).map_err(|_| {
            self.error(
                column,
                line,
                format!("expected UTF-8 text, found {}", quote(field)),
            )
        })?;
        match find_invalid_char(id) {
            None => Ok(id),
            Some(invalid) => Err(self.error(
                column,
                line,
                format!("the id {} contains {invalid}", quote(field)),
            )),
        }
    }

    fn parse_rating(&self, field: &[u8], line: u64) -> Result<f32> {
        if field.is_empty() {
            return Err(self.error(
                2,
                line,
                "expected a rating, found an empty field".into(),
            ));
        }
        let parsed = fast_float2::parse::<f64, _>(field).ok();
        match parsed {
            Some(value) if value.is_finite() && (value as f32).is_finite() => {
                Ok(value as f32)
            }
            Some(_) => Err(self.error(
                2,
                line,
                format!(
                    "a rating must be a finite number, found {}",
                    quote(field)
                ),
            )),
            None => Err(self.error(
                2,
                line,
                format!("expected a number, found {}", quote(field)),
            )),
        }
    }

    fn parse_timestamp(&self, field: &[u8], line: u64) -> Result<i64> {
        if field.is_empty() {
            return Err(self.error(
                3,
                line,
                "expected a timestamp, found an empty field".into(),
            ));
        }
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

    /// Returns the rows read, or the first error kept by
    /// [`RowReader::bad_row`], or an error when no row was read.
    fn finish(self, empty_input: bool) -> Result<Rows> {
        if let Some(error) = self.first_error {
            return Err(error);
        }
        if self.ratings.is_empty() {
            let detail = if empty_input {
                "the file is empty".to_string()
            } else if self.skipped > 0 {
                skipped_detail(self.skipped)
            } else if self.header_line.is_some() {
                "it contains only a header line".to_string()
            } else {
                "it contains only blank lines".to_string()
            };
            return Err(Error::Empty {
                path: self.path,
                detail,
            });
        }
        Ok(Rows {
            format: self.format,
            ratings: self.ratings,
            entry_lines: self.entry_lines,
            header_line: self.header_line,
            rows: self.rows,
            skipped: self.skipped,
            skipped_examples: self.skipped_examples,
        })
    }
}

/// Describes a file whose `skipped` rows were all skipped.
pub(crate) fn skipped_detail(skipped: usize) -> String {
    match skipped {
        1 => "its one row was skipped as unreadable".to_string(),
        _ => format!("all {skipped} rows were skipped as unreadable"),
    }
}

/// Removes repeated (user, item) pairs, keeping the last row of each as
/// [`Ratings::remove_duplicates`] does, and names the lines of the first
/// few pairs.
fn remove_repeats(ratings: &mut Ratings, entry_lines: &EntryLines) -> Repeats {
    let keep = matrix::last_of_each_pair(
        &ratings.entries,
        ratings.users.len(),
        ratings.items.len(),
    );
    let rows = keep.iter().filter(|&&kept| !kept).count();
    if rows == 0 {
        return Repeats::default();
    }
    // Every row of a pair but the last is dropped, so the first dropped
    // row of each pair is its first row.
    let mut repeated = FxHashSet::default();
    let mut shown: Vec<(u32, u32)> = Vec::new();
    for (entry, _) in ratings.entries.iter().zip(&keep).filter(|e| !e.1) {
        let pair = (entry.user, entry.item);
        if repeated.insert(pair) && shown.len() < DUPLICATE_EXAMPLES {
            shown.push(pair);
        }
    }
    let mut lines = vec![Vec::new(); shown.len()];
    for (index, entry) in ratings.entries.iter().enumerate() {
        let pair = (entry.user, entry.item);
        if let Some(slot) = shown.iter().position(|&p| p == pair) {
            lines[slot].push(entry_lines.line(index));
        }
    }
    let examples = shown
        .iter()
        .zip(&lines)
        .map(|(&(user, item), lines)| {
            format!(
                "user {}, item {}: lines {}",
                ratings.users.id(user),
                ratings.items.id(item),
                join_numbers(lines)
            )
        })
        .collect();

    let mut flags = keep.iter();
    ratings.entries.retain(|_| *flags.next().unwrap());
    if !ratings.timestamps.is_empty() {
        let mut flags = keep.iter();
        ratings.timestamps.retain(|_| *flags.next().unwrap());
    }
    Repeats {
        rows,
        pairs: repeated.len(),
        examples,
    }
}

/// Appends `note` to the message of a row error.
fn with_note(error: Error, note: &str) -> Error {
    match error {
        Error::Parse {
            path,
            line,
            column,
            message,
        } => Error::Parse {
            path,
            line,
            column,
            message: format!("{message}; {note}"),
        },
        Error::Row {
            path,
            line,
            message,
        } => Error::Row {
            path,
            line,
            message: format!("{message}; {note}"),
        },
        other => other,
    }
}

/// Joins numbers as `5`, `5 and 7` or `5, 7 and 9`.
fn join_numbers(numbers: &[u64]) -> String {
    let text: Vec<String> = numbers.iter().map(u64::to_string).collect();
    match text.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// A header is a first line in which no field is a number and the rating
/// column is not a missing-value marker, so that bad first data rows such
/// as `1,2,x` or `alice,matrix,NA` are still reported as errors.
pub(crate) fn is_header(fields: &[&[u8]]) -> bool {
    const MISSING: [&[u8]; 5] = [b"na", b"n/a", b"null", b"none", b"?"];
    let numeric = fields
        .iter()
        .any(|field| fast_float2::parse::<f64, _>(field).is_ok());
    let missing = fields.get(2).is_some_and(|rating| {
        MISSING
            .iter()
            .any(|marker| rating.trim_ascii().eq_ignore_ascii_case(marker))
    });
    !numeric && !missing
}

fn separator_name(format: Format) -> &'static str {
    match format {
        Format::Csv => "commas",
        Format::Tsv => "tabs",
        Format::DoubleColon => "'::'",
        Format::Whitespace | Format::Matrix => "spaces",
    }
}

/// Quotes a field for a message, cut to a readable length, with control
/// characters and byte order marks written as escapes such as `\u{7}`.
fn quote(field: &[u8]) -> String {
    const LIMIT: usize = 40;
    let text = String::from_utf8_lossy(field);
    if text.chars().count() > LIMIT {
        let cut: String = text.chars().take(LIMIT).collect();
        format!("\"{}...\"", escape_invisible(&cut))
    } else {
        format!("\"{}\"", escape_invisible(&text))
    }
}

/// Maximum length of a header name, in characters, that a message quotes
/// whole.
const LABEL_CHARS: usize = 40;

/// Returns a header field as a message shows it: control characters
/// escaped, so they cannot act on the terminal, and cut after
/// [`LABEL_CHARS`] characters, so a binary file does not fill the screen.
fn column_label(field: &[u8]) -> String {
    let text =
        crate::data::ids::escape_invisible(&String::from_utf8_lossy(field));
    match text.char_indices().nth(LABEL_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_labels_escaped_and_cut() {
        assert_eq!(column_label(b"us\x1b[31mer"), "us\\u{1b}[31mer");
        let long = column_label(&[b'a'; 100]);
        assert_eq!(long.len(), LABEL_CHARS + 3);
        assert!(long.ends_with("..."));
    }

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
    fn skipped_rows_counted_in_words() {
        let options = LoadOptions {
            format: None,
            skip_bad_rows: true,
        };
        for (text, detail) in [
            ("1,2,x\n", "(its one row was skipped as unreadable)"),
            ("1,2,x\n1,3,y\n", "(all 2 rows were skipped as unreadable)"),
        ] {
            let error =
                parse_ratings(text.as_bytes(), Path::new("r.csv"), &options)
                    .unwrap_err()
                    .to_string();
            assert!(error.ends_with(detail), "{error}");
        }
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
    fn missing_value_row_is_not_a_header() {
        let error = parse("alice,matrix,NA\nbob,matrix,4\n")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("r.csv:1:"), "{error}");
        assert!(error.contains("found \"NA\""), "{error}");
        let (_, report) = parse("user,item,rating\nbob,matrix,4\n").unwrap();
        assert!(report.header);
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

    #[test]
    fn repeated_pairs_named_with_lines() {
        let text = "user,item,rating\n1,a,4\n\n2,a,3\n1,a,5\n\
                    2,b,1\n2,a,2\n1,a,3\n3,c,1\n3,d,1\n3,c,2\n4,e,1\n4,e,1\n";
        let (ratings, report) = parse(text).unwrap();
        assert_eq!(report.duplicates, 5);
        assert_eq!(report.repeated_pairs, 4);
        assert_eq!(
            report.duplicate_examples,
            vec![
                "user 1, item a: lines 2, 5 and 8",
                "user 2, item a: lines 4 and 7",
                "user 3, item c: lines 9 and 11",
            ]
        );
        assert_eq!(ratings.len(), 6);
        assert_eq!(values(&ratings)[..3], [1.0, 2.0, 3.0]);
    }

    #[test]
    fn entry_lines_follow_runs() {
        let mut lines = EntryLines::default();
        for (entry, line) in [(0, 2), (1, 3), (2, 5), (3, 6), (4, 7), (5, 20)] {
            lines.push(entry, line);
        }
        assert_eq!(lines.runs.len(), 3);
        let found: Vec<u64> = (0..6).map(|entry| lines.line(entry)).collect();
        assert_eq!(found, vec![2, 3, 5, 6, 7, 20]);
    }

    #[test]
    fn line_numbers_for_every_line_end() {
        for end in ["\n", "\r\n", "\r"] {
            for separator in [",", "\t", "::", " "] {
                let rows = ["1 a 4", "", "2 a 3", "", "", "2 b x"];
                let text: String = rows
                    .iter()
                    .map(|row| row.replace(' ', separator) + end)
                    .collect();
                let error = parse(&text).unwrap_err().to_string();
                let case = format!("{end:?} {separator:?}: {error}");
                assert!(error.starts_with("r.csv:6: "), "{case}");
                assert!(error.ends_with("found \"x\""), "{case}");
            }
        }
    }

    #[test]
    fn blank_lines_and_empty_rows() {
        let (ratings, _) = parse("1\t2\t3\n\t\n  \t \n2\t2\t4\n").unwrap();
        assert_eq!(ratings.len(), 2, "tab-only lines are blank");
        let (ratings, _) = parse("1,2,3\n   \n\t\n").unwrap();
        assert_eq!(ratings.len(), 1, "whitespace lines are blank");
        for text in ["1,2,3\n,,\n", "1,2,3\n , , \n", "1::2::3\n::::\n"] {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.starts_with("r.csv:2: "), "{text:?}: {error}");
            assert!(error.contains("empty field"), "{text:?}: {error}");
        }
    }

    #[test]
    fn empty_fields_named() {
        let cases = [
            (
                "1,2,\n",
                "column \"rating\": expected a rating, found an empty",
            ),
            (
                "1::2::\n",
                "column \"rating\": expected a rating, found an empty",
            ),
            ("1,2,3,\n", "column \"timestamp\": expected a timestamp"),
        ];
        for (text, expected) in cases {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.starts_with("r.csv:1: "), "{error}");
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn unclosed_quote_rejected() {
        for text in ["1,2,3\n1,3,\"4\n2,2,5\n", "1,2,3\n\"1\n,3,4\n"] {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.starts_with("r.csv:2: "), "{error}");
            assert!(error.contains("closing quote is missing"), "{error}");
        }
    }

    #[test]
    fn repeated_header_explained() {
        let text = "userId,movieId,rating\n1,2,3\nuserId,movieId,rating\n";
        let error = parse(text).unwrap_err().to_string();
        assert_eq!(
            error,
            "r.csv:3: column \"rating\": expected a number, found \"rating\"; \
             the line repeats the header of line 1"
        );
    }

    #[test]
    fn next_invalid_line_named() {
        let error = parse("1,2,NaN\n1,3,4\n2,2,inf\n2,3,nan\n")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("r.csv:1: "), "{error}");
        assert!(error.contains("found \"NaN\""), "{error}");
        assert!(error.contains("; line 3 is also invalid"), "{error}");
        let error = parse("1,2,x\n1,3,4\n").unwrap_err().to_string();
        assert!(!error.contains("also invalid"), "{error}");
    }

    #[test]
    fn one_field_suggests_format() {
        let error = parse("1;2;3\n").unwrap_err().to_string();
        assert!(error.contains("found 1; the separator"), "{error}");
        let options = LoadOptions {
            format: Some(Format::Csv),
            skip_bad_rows: false,
        };
        let error = parse_ratings(b"1;2;3\n", Path::new("r.csv"), &options)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("--format"), "{error}");
    }
}

//! Splitting the lines of a chunk into fields and parsing the fields, as
//! the row-by-row reader in `load.rs` does for valid rows.

use crate::data::fast::number::{
    load_word, rating_at, small_number_at, timestamp_at, zero_bytes, ONES,
};
use crate::data::fast::table::IdTable;
use crate::data::load::Format;
use crate::data::Rating;

/// Removes the line feed and one carriage return before it, which the
/// row-by-row reader turns into a single line end.
pub(super) fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

pub(super) fn is_blank(line: &[u8]) -> bool {
    line.trim_ascii().is_empty()
}

/// The high bit of each byte.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
const LOW_SEVEN_BITS: u64 = 0x7F7F_7F7F_7F7F_7F7F;

/// Returns whether `text` contains a character that the row-by-row reader
/// rejects in an id: a control character other than LF, CR and, where
/// they separate fields, tab and form feed, or a byte order mark. Every
/// C1 control character (U+0080 to U+009F) and a byte order mark counts,
/// wherever it is, so that the row-by-row reader decides.
///
/// The text is read eight bytes at a time. Bit masks mark the bytes below
/// 0x20 and those equal to DEL, 0xC2 or 0xEF. The UTF-8 of every C1
/// control starts with 0xC2 and that of the mark with 0xEF, so only these
/// two need a look at the bytes after them.
pub(super) fn has_invisible(
    text: &[u8],
    tabs_separate: bool,
    form_feeds_separate: bool,
) -> bool {
    let mut base = 0;
    while base < text.len() {
        let word = load_word(text, base);
        // Bytes past the end of the text load as zeros, which are masked.
        let left = text.len() - base;
        let inside = if left >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * left)) - 1
        };
        let mut allowed =
            zero_bytes(word ^ LINE_FEEDS) | zero_bytes(word ^ CARRIAGE_RETURNS);
        if tabs_separate {
            allowed |= zero_bytes(word ^ (ONES * u64::from(b'\t')));
        }
        if form_feeds_separate {
            allowed |= zero_bytes(word ^ (ONES * 0x0C));
        }
        let controls =
            (below_space(word) & !allowed) | zero_bytes(word ^ (ONES * 0x7F));
        if controls & inside != 0 {
            return true;
        }
        let mut leads = (zero_bytes(word ^ (ONES * 0xC2))
            | zero_bytes(word ^ (ONES * 0xEF)))
            & inside;
        while leads != 0 {
            let at = base + (leads.trailing_zeros() / 8) as usize;
            leads &= leads - 1;
            let next = &text[at + 1..];
            let invisible = if text[at] == 0xC2 {
                next.first().is_some_and(|b| (0x80..=0x9F).contains(b))
            } else {
                next.starts_with(b"\xBB\xBF")
            };
            if invisible {
                return true;
            }
        }
        base += 8;
    }
    false
}

/// Sets the high bit of each byte of `word` that is below 0x20, and no
/// other bit.
#[inline(always)]
fn below_space(word: u64) -> u64 {
    // Adding 0x60 to the low seven bits sets the high bit exactly when
    // they are at least 0x20, with no carry into the next byte.
    !(((word & LOW_SEVEN_BITS) + ONES * 0x60) | word) & HIGH_BITS
}

/// Splits a line, without its line end, into its trimmed fields, as the
/// row-by-row reader does for a line without quotes or carriage returns.
/// Returns the field count, or `None` for more than four fields.
pub(super) fn split<'a>(
    line: &'a [u8],
    format: Format,
    fields: &mut [&'a [u8]; 4],
) -> Option<usize> {
    let mut count = 0;
    let mut push = |field: &'a [u8]| -> Option<()> {
        *fields.get_mut(count)? = field;
        count += 1;
        Some(())
    };
    match format {
        Format::Csv | Format::Tsv => {
            let delimiter = if format == Format::Csv { b',' } else { b'\t' };
            for field in line.split(|&b| b == delimiter) {
                push(field.trim_ascii())?;
            }
        }
        Format::DoubleColon => {
            let mut rest = line;
            while let Some(at) = memchr::memmem::find(rest, b"::") {
                push(rest[..at].trim_ascii())?;
                rest = &rest[at + 2..];
            }
            push(rest.trim_ascii())?;
        }
        Format::Whitespace => {
            for field in line
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty())
            {
                push(field)?;
            }
        }
        // A dense matrix is read by `crate::data::dense`.
        Format::Matrix => return None,
    }
    Some(count)
}

/// One chunk of the data rows and how to read it.
pub(super) struct Chunk<'a> {
    pub(super) text: &'a [u8],
    pub(super) format: Format,
    pub(super) width: usize,
    /// Whether the chunk has a carriage return, so that each line has to
    /// be checked for one that does not end it.
    pub(super) carriage_returns: bool,
}

/// Result of parsing one chunk, besides its entries.
pub(super) struct ChunkRows {
    pub(super) rows: usize,
    /// Line ends in the chunk.
    pub(super) line_ends: u64,
    pub(super) users: IdTable,
    pub(super) items: IdTable,
    /// Runs of entries on consecutive lines: the first entry of each and
    /// its line, both counted from 0 in the chunk.
    pub(super) runs: Vec<(usize, u64)>,
}

/// The start and end of a field in the chunk text.
type Span = (usize, usize);

const LINE_FEEDS: u64 = ONES * b'\n' as u64;
const CARRIAGE_RETURNS: u64 = ONES * b'\r' as u64;

impl Chunk<'_> {
    /// Parses the lines of the chunk into `entries` and `timestamps`, one
    /// slot per line, with user and item indices local to the chunk.
    pub(super) fn parse(
        &self,
        entries: &mut [Rating],
        timestamps: &mut [i64],
    ) -> Option<ChunkRows> {
        let mut writer = RowWriter {
            text: self.text,
            width: self.width,
            entries,
            timestamps,
            out: ChunkRows {
                rows: 0,
                line_ends: 0,
                users: IdTable::default(),
                items: IdTable::default(),
                runs: Vec::new(),
            },
            previous_row_line: None,
            previous_user: None,
        };
        let lines = match (self.format, self.carriage_returns) {
            (Format::Csv, false) => {
                self.split_delimited::<false>(b',', &mut writer)
            }
            (Format::Csv, true) => {
                self.split_delimited::<true>(b',', &mut writer)
            }
            (Format::Tsv, false) => {
                self.split_delimited::<false>(b'\t', &mut writer)
            }
            (Format::Tsv, true) => {
                self.split_delimited::<true>(b'\t', &mut writer)
            }
            _ => self.split_lines(&mut writer),
        }?;
        let mut out = writer.out;
        let unterminated = self.text.last().is_some_and(|&b| b != b'\n');
        out.line_ends = lines - u64::from(unterminated);
        Some(out)
    }

    /// Splits each line of a `::`- or whitespace-separated chunk and
    /// writes its row. Returns the number of lines.
    fn split_lines(&self, writer: &mut RowWriter) -> Option<u64> {
        let text = self.text;
        let mut fields = [&[][..]; 4];
        let mut spans = [(0, 0); 4];
        let mut line = 0;
        for raw in text.split_inclusive(|&b| b == b'\n') {
            let content = trim_line_end(raw);
            if self.carriage_returns && content.contains(&b'\r') {
                return None;
            }
            if !is_blank(content) {
                let count = split(content, self.format, &mut fields)?;
                for (span, field) in spans.iter_mut().zip(&fields[..count]) {
                    let start =
                        field.as_ptr() as usize - text.as_ptr() as usize;
                    *span = (start, start + field.len());
                }
                writer.row(&spans[..count], line)?;
            }
            line += 1;
        }
        Some(line)
    }

    /// Splits the lines of a comma- or tab-separated chunk into fields and
    /// writes their rows. Returns the number of lines.
    ///
    /// The text is read eight bytes at a time, at positions that do not
    /// depend on where fields end, so that the loads of one word need not
    /// wait for the work on the one before. A bit mask marks the bytes
    /// that end a field: the separator, a line feed and, when `CR` is set,
    /// a carriage return. The mask comes from the test for a zero byte in
    /// [`zero_bytes`] applied to the word XOR each of those bytes.
    fn split_delimited<const CR: bool>(
        &self,
        delimiter: u8,
        writer: &mut RowWriter,
    ) -> Option<u64> {
        let text = self.text;
        let delimiters = ONES * u64::from(delimiter);
        let mut fields = [(0, 0); 4];
        let mut count = 0;
        let mut field_start = 0;
        let mut line = 0;
        let mut base = 0;
        while base < text.len() {
            let word = load_word(text, base);
            let line_feeds = zero_bytes(word ^ LINE_FEEDS);
            let mut stops = zero_bytes(word ^ delimiters) | line_feeds;
            if CR {
                stops |= zero_bytes(word ^ CARRIAGE_RETURNS);
            }
            while stops != 0 {
                let bit = stops.trailing_zeros();
                stops &= stops - 1;
                let at = base + (bit / 8) as usize;
                if at < field_start {
                    // The line feed of a CR LF, ended at the CR.
                    continue;
                }
                *fields.get_mut(count)? = trim(text, field_start, at);
                count += 1;
                field_start = at + 1;
                let line_end = if line_feeds & (1 << bit) != 0 {
                    true
                } else if CR && text[at] == b'\r' {
                    // A carriage return ends a line before a line feed or
                    // at the end of the text, as in `load.rs`.
                    match text.get(at + 1) {
                        Some(b'\n') => field_start = at + 2,
                        Some(_) => return None,
                        None => {}
                    }
                    true
                } else {
                    false
                };
                if line_end {
                    writer.line(&fields[..count], line, delimiter)?;
                    count = 0;
                    line += 1;
                }
            }
            base += 8;
        }
        if field_start < text.len() || count > 0 {
            *fields.get_mut(count)? = trim(text, field_start, text.len());
            count += 1;
            writer.line(&fields[..count], line, delimiter)?;
            line += 1;
        }
        Some(line)
    }
}

/// Returns `text[start..end]` without ASCII whitespace at either end, as a
/// span.
#[inline(always)]
fn trim(text: &[u8], mut start: usize, mut end: usize) -> Span {
    // Every ASCII whitespace byte is at most b' '.
    if start < end && text[start] > b' ' && text[end - 1] > b' ' {
        return (start, end);
    }
    while start < end && text[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && text[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    (start, end)
}

/// Writes the rows of one chunk into its slots.
struct RowWriter<'t, 's> {
    text: &'t [u8],
    width: usize,
    entries: &'s mut [Rating],
    timestamps: &'s mut [i64],
    out: ChunkRows,
    previous_row_line: Option<u64>,
    /// The user of the row before, as the first eight bytes of its id with
    /// the id's length, and its local index. Files sorted by user repeat
    /// a user on many rows in a row, which this skips looking up.
    previous_user: Option<(u64, usize, u32)>,
}

impl RowWriter<'_, '_> {
    /// Writes the row of a line of a comma- or tab-separated chunk unless
    /// the line is blank: one blank field, or in a tab-separated file only
    /// blank fields, as in `load.rs`.
    fn line(
        &mut self,
        fields: &[Span],
        line: u64,
        delimiter: u8,
    ) -> Option<()> {
        let (start, end) = fields[0];
        if start == end {
            let blank = fields.iter().all(|&(start, end)| start == end);
            if blank && (fields.len() == 1 || delimiter == b'\t') {
                return Some(());
            }
        }
        self.row(fields, line)
    }

    /// Returns the local index of the user at `text[start..end]`.
    fn user(&mut self, start: usize, end: usize) -> Option<u32> {
        let len = end - start;
        let key =
            load_word(self.text, start) & (u64::MAX >> (8 * (8 - len.min(8))));
        if len <= 8 {
            if let Some((previous, previous_len, index)) = self.previous_user {
                if previous == key && previous_len == len {
                    return Some(index);
                }
            }
        }
        let index = self.out.users.intern_number(
            &self.text[start..end],
            small_number_at(self.text, start, end),
        )?;
        self.previous_user = (len <= 8).then_some((key, len, index));
        Some(index)
    }

    /// Writes the row whose trimmed fields are at `fields`, or returns
    /// `None` when the row-by-row reader would reject it.
    fn row(&mut self, fields: &[Span], line: u64) -> Option<()> {
        if fields.len() != self.width {
            return None;
        }
        let text = self.text;
        let row = self.out.rows;
        let (user_start, user_end) = fields[0];
        let (item_start, item_end) = fields[1];
        if user_start == user_end || item_start == item_end {
            return None;
        }
        let (rating_start, rating_end) = fields[2];
        let value = rating_at(text, rating_start, rating_end)?;
        if let Some(&(start, end)) = fields.get(3) {
            self.timestamps[row] = timestamp_at(text, start, end)?;
        }
        let user = self.user(user_start, user_end)?;
        let item = self.out.items.intern_number(
            &text[item_start..item_end],
            small_number_at(text, item_start, item_end),
        )?;
        self.entries[row] = Rating { user, item, value };
        if self.previous_row_line.is_none_or(|last| last + 1 != line) {
            self.out.runs.push((row, line));
        }
        self.previous_row_line = Some(line);
        self.out.rows += 1;
        Some(())
    }
}

//! A parallel reader for ratings files in their common form: one row per
//! line, no quote characters in a comma- or tab-separated file, and no
//! invalid row.
//!
//! A file is read in blocks of about [`BLOCK_BYTES`] that end at line
//! ends, so that its text is never in memory all at once, and the next
//! block is read while one is parsed. Each block is cut into chunks at line
//! ends, and each chunk is parsed on its own thread, with ids interned into
//! tables local to the chunk. The chunk tables are then merged into the
//! file's tables in chunk order, so ids get indices in order of first
//! appearance, as the row-by-row reader in `load.rs` hands them out.
//!
//! [`load`] and [`parse`] return `None` for any row that the row-by-row
//! reader would reject, and for any text that it would split differently:
//! a quote, a carriage return that does not end a line, or a second byte
//! order mark. They also return `None` for a line longer than
//! [`MAX_LINE_BYTES`]. The same holds for a byte order mark anywhere in
//! the rows, and for a control character that neither separates fields nor
//! ends a line, because the row-by-row reader rejects such a character in
//! an id. They also return `None` when the first block contains no row.
//! The caller then runs the row-by-row reader, which gives the messages.

mod chunk;
mod number;
mod table;

use std::fs::File;
use std::io::{self, Read};

use rayon::prelude::*;

use crate::data::input::MAX_LINE_BYTES;
use crate::data::load::{is_header, EntryLines, Format, LoadOptions, Rows};
use crate::data::{IdMap, Rating, Ratings};

use chunk::{has_invisible, is_blank, split, trim_line_end, Chunk, ChunkRows};
use table::IdTable;

/// Bytes of a file read and parsed at a time.
const BLOCK_BYTES: usize = 16 << 20;

/// Chunks per rayon thread in each block, so that a thread that finishes
/// early takes another chunk.
const CHUNKS_PER_THREAD: usize = 2;

/// Smallest chunk worth a task of its own, in bytes.
const MIN_CHUNK_BYTES: usize = 1 << 16;

const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// Reads the ratings file `file` block by block on the current rayon
/// thread pool. Returns `Ok(None)` when the file has to go through the
/// row-by-row reader, which then reads it again from the start.
///
/// # Errors
///
/// Returns the error of a failed read.
pub(crate) fn load(
    file: File,
    options: &LoadOptions,
) -> io::Result<Option<Rows>> {
    let chunks = rayon::current_num_threads() * CHUNKS_PER_THREAD;
    load_in_blocks(file, options, BLOCK_BYTES, chunks)
}

/// Reads ratings from text in memory, which no longer starts with the byte
/// order mark, as one block. Returns `None` when the text has to go
/// through the row-by-row reader.
pub(crate) fn parse(bytes: &[u8], options: &LoadOptions) -> Option<Rows> {
    let chunks = rayon::current_num_threads() * CHUNKS_PER_THREAD * 2;
    let mut reader = BlockReader::new(options, chunks);
    reader.read_block(bytes)?;
    reader.finish()
}

/// Reads `file` as [`load`] does, `block` bytes at a time (more where a
/// line is longer), with each block cut into about `chunks` chunks.
pub(crate) fn load_in_blocks(
    mut file: File,
    options: &LoadOptions,
    block: usize,
    chunks: usize,
) -> io::Result<Option<Rows>> {
    // A file shorter than one block is read into a buffer of its size,
    // plus the byte whose absence shows the end of the file.
    let len = file.metadata()?.len();
    let size = usize::try_from(len.saturating_add(1)).unwrap_or(usize::MAX);
    let mut current = vec![0u8; size.clamp(4, block.max(4))];

    // The buffer that the next block is read into while `current` is
    // parsed; allocated when the file has a second block.
    let mut next = Vec::new();
    let mut reader = BlockReader::new(options, chunks);
    let mut filled = 0;
    let mut end_of_file = fill(&mut file, &mut current, &mut filled)?;
    let mut at_start = true;
    loop {
        let mut text = &current[..filled];
        if at_start {
            text = text.strip_prefix(BYTE_ORDER_MARK).unwrap_or(text);
        }

        if end_of_file {
            if reader.read_block(text).is_none() {
                return Ok(None);
            }
            return Ok(reader.finish());
        }
        let Some(end) = memchr::memrchr(b'\n', text).map(|at| at + 1) else {
            if text.len() > MAX_LINE_BYTES {
                // The row-by-row reader names the line, reading no more
                // of the file than up to its end.
                return Ok(None);
            }
            // The block contains part of one line, so more of it is read.
            current.resize(current.len() * 2, 0);
            end_of_file = fill(&mut file, &mut current, &mut filled)?;
            continue;
        };

        // The part of a line after the last line end starts the next
        // block, which is read while this block is parsed.
        let (lines, rest) = text.split_at(end);
        next.resize(current.len(), 0);
        next[..rest.len()].copy_from_slice(rest);
        let mut next_filled = rest.len();
        let (parsed, read) = rayon::join(
            || reader.read_block(lines),
            || fill(&mut file, &mut next, &mut next_filled),
        );
        if parsed.is_none() {
            return Ok(None);
        }

        end_of_file = read?;
        std::mem::swap(&mut current, &mut next);
        filled = next_filled;
        at_start = false;
    }
}

/// Reads from `file` into `buffer` after its first `filled` bytes until
/// the buffer is full or the file ends, and returns whether it ended.
fn fill(
    file: &mut File,
    buffer: &mut [u8],
    filled: &mut usize,
) -> io::Result<bool> {
    while *filled < buffer.len() {
        match file.read(&mut buffer[*filled..]) {
            Ok(0) => return Ok(true),
            Ok(read) => *filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(false)
}

/// The format and field count of a file, fixed by its first row.
#[derive(Clone, Copy)]
struct Layout {
    format: Format,
    width: usize,
}

/// The first row of a file and the position of the data rows after it.
struct FirstRow {
    layout: Layout,
    header_line: Option<u64>,
    /// Offset of the data rows in the text, and the line number there.
    data_start: usize,
    data_line: u64,
}

/// Result of a first pass over a chunk.
struct ChunkScan {
    /// Lines, counting a last line without a line end.
    lines: usize,
    quotes: bool,
    carriage_returns: bool,
    /// Whether a line is longer than [`MAX_LINE_BYTES`], or a control
    /// character or byte order mark needs the row-by-row reader.
    needs_precise: bool,
}

/// The rows of a file read so far, block by block.
struct BlockReader {
    /// The format given by the caller, if any.
    format: Option<Format>,
    chunks: usize,
    layout: Option<Layout>,
    header_line: Option<u64>,
    /// Line at which the next block starts.
    next_line: u64,
    users: IdTable,
    items: IdTable,
    entries: Vec<Rating>,
    timestamps: Vec<i64>,
    entry_lines: EntryLines,
}

impl BlockReader {
    fn new(options: &LoadOptions, chunks: usize) -> Self {
        BlockReader {
            format: options.format,
            chunks,
            layout: None,
            header_line: None,
            next_line: 1,
            users: IdTable::default(),
            items: IdTable::default(),
            entries: Vec::new(),
            timestamps: Vec::new(),
            entry_lines: EntryLines::default(),
        }
    }

    /// Reads the lines of one block, which ends at a line end or at the
    /// end of the file. The first block must contain the first row.
    fn read_block(&mut self, text: &[u8]) -> Option<()> {
        let (layout, text) = match self.layout {
            Some(layout) => (layout, text),
            None => {
                let first = first_row(text, self.format)?;
                self.layout = Some(first.layout);
                self.header_line = first.header_line;
                self.next_line = first.data_line;
                (first.layout, &text[first.data_start..])
            }
        };
        let chunks = split_at_line_ends(text, self.chunks);
        let scans: Vec<ChunkScan> = chunks
            .par_iter()
            .map(|chunk| scan(chunk, layout.format))
            .collect();
        let delimited = matches!(layout.format, Format::Csv | Format::Tsv);
        if delimited && scans.iter().any(|scan| scan.quotes) {
            return None;
        }
        if scans.iter().any(|scan| scan.needs_precise) {
            return None;
        }

        // Each chunk gets one slot per line, which contains a rating when
        // the line is a row. The slots of the chunks follow each other.
        let slots: Vec<usize> = scans.iter().map(|scan| scan.lines).collect();
        let total: usize = slots.iter().sum();
        let first_slot = self.entries.len();
        let placeholder = Rating {
            user: 0,
            item: 0,
            value: 0.0,
        };
        let timed = layout.width == 4;
        self.entries
            .par_extend((0..total).into_par_iter().map(|_| placeholder));
        if timed {
            self.timestamps
                .par_extend((0..total).into_par_iter().map(|_| 0));
        }

        let parsed = self.parse_chunks(&chunks, &scans, &slots, layout)?;
        let (users, items) = (&mut self.users, &mut self.items);
        let (user_maps, item_maps) = rayon::join(
            || merge(users, parsed.iter().map(|chunk| &chunk.users)),
            || merge(items, parsed.iter().map(|chunk| &chunk.items)),
        );
        let new_entries = &mut self.entries[first_slot..];
        remap(new_entries, &slots, &parsed, &user_maps?, &item_maps?);
        self.close_gaps(first_slot, &slots, &parsed, timed);
        Some(())
    }

    /// Moves the rows of each chunk, which start its slots, next to those
    /// of the chunk before, over the slots of blank lines, and records the
    /// lines of the rows.
    fn close_gaps(
        &mut self,
        first_slot: usize,
        slots: &[usize],
        parsed: &[ChunkRows],
        timed: bool,
    ) {
        let mut next_entry = first_slot;
        let mut slot = first_slot;
        let mut line = self.next_line;
        for (chunk, &count) in parsed.iter().zip(slots) {
            let rows = slot..slot + chunk.rows;
            if slot != next_entry {
                self.entries.copy_within(rows.clone(), next_entry);
                if timed {
                    self.timestamps.copy_within(rows, next_entry);
                }
            }
            for &(entry, offset) in &chunk.runs {
                self.entry_lines.push(next_entry + entry, line + offset);
            }
            next_entry += chunk.rows;
            slot += count;
            line += chunk.line_ends;
        }
        self.entries.truncate(next_entry);
        if timed {
            self.timestamps.truncate(next_entry);
        }
        self.next_line = line;
    }

    /// Parses each chunk into its slots at the end of `entries` and
    /// `timestamps`.
    fn parse_chunks(
        &mut self,
        chunks: &[&[u8]],
        scans: &[ChunkScan],
        slots: &[usize],
        layout: Layout,
    ) -> Option<Vec<ChunkRows>> {
        let total: usize = slots.iter().sum();
        let entries_len = self.entries.len();
        let mut entry_rest = &mut self.entries[entries_len - total..];
        let times_len = self.timestamps.len();
        let timed_total = if layout.width == 4 { total } else { 0 };
        let mut time_rest = &mut self.timestamps[times_len - timed_total..];
        let mut jobs = Vec::with_capacity(chunks.len());
        for ((&text, scan), &count) in chunks.iter().zip(scans).zip(slots) {
            let (entry_part, rest) = entry_rest.split_at_mut(count);
            entry_rest = rest;
            let time_count = if layout.width == 4 { count } else { 0 };
            let (time_part, rest) = time_rest.split_at_mut(time_count);
            time_rest = rest;
            let chunk = Chunk {
                text,
                format: layout.format,
                width: layout.width,
                carriage_returns: scan.carriage_returns,
            };
            jobs.push((chunk, entry_part, time_part));
        }
        jobs.into_par_iter()
            .map(|(chunk, entries, timestamps)| {
                chunk.parse(entries, timestamps)
            })
            .collect()
    }

    /// Returns the rows read, or `None` when there are none.
    fn finish(self) -> Option<Rows> {
        if self.entries.is_empty() {
            return None;
        }
        let (users, items) =
            rayon::join(|| id_map(&self.users), || id_map(&self.items));
        let rows = self.entries.len();
        Some(Rows {
            format: self.layout?.format,
            ratings: Ratings {
                users: users?,
                items: items?,
                entries: self.entries,
                timestamps: self.timestamps,
            },
            entry_lines: self.entry_lines,
            header_line: self.header_line,
            rows,
            skipped: 0,
            skipped_examples: Vec::new(),
        })
    }
}

/// Finds the first line that is not blank and reads the format, the field
/// count and whether that line is a header from it. Returns `None` when
/// `bytes` has no such line or the line is not read the same way by both
/// readers.
fn first_row(bytes: &[u8], format: Option<Format>) -> Option<FirstRow> {
    let mut start = 0;
    let mut number = 1;
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..])
            .map_or(bytes.len(), |at| start + at + 1);
        let line = trim_line_end(&bytes[start..end]);
        if line.contains(&b'\r') || line.len() > MAX_LINE_BYTES {
            return None;
        }
        if is_blank(line) {
            start = end;
            number += 1;
            continue;
        }
        let format = format.unwrap_or_else(|| Format::detect(line));
        let delimited = matches!(format, Format::Csv | Format::Tsv);
        if delimited && line.contains(&b'"') {
            return None;
        }
        if delimited && bytes.starts_with(BYTE_ORDER_MARK) {
            // The `csv` crate drops a byte order mark at the start of its
            // input, so a file that starts with two loses both.
            return None;
        }
        let mut fields = [&[][..]; 4];
        let width = split(line, format, &mut fields)?;
        if !(3..=4).contains(&width) {
            return None;
        }
        let layout = Layout { format, width };
        let row = if is_header(&fields[..width]) {
            FirstRow {
                layout,
                header_line: Some(number),
                data_start: end,
                data_line: number + 1,
            }
        } else {
            FirstRow {
                layout,
                header_line: None,
                data_start: start,
                data_line: number,
            }
        };
        return Some(row);
    }
    None
}

/// Cuts `text` into about `chunks` pieces, each ending at a line end or at
/// the end of the text.
fn split_at_line_ends(text: &[u8], chunks: usize) -> Vec<&[u8]> {
    let size = text.len().div_ceil(chunks.max(1)).max(MIN_CHUNK_BYTES);
    let mut pieces = Vec::with_capacity(chunks);
    let mut rest = text;
    while rest.len() > size {
        let end = memchr::memchr(b'\n', &rest[size..])
            .map_or(rest.len(), |at| size + at + 1);
        let (piece, tail) = rest.split_at(end);
        pieces.push(piece);
        rest = tail;
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

fn scan(text: &[u8], format: Format) -> ChunkScan {
    let mut ends = 0;
    let mut line_start = 0;
    let mut longest = 0;
    for end in memchr::memchr_iter(b'\n', text) {
        longest = longest.max(line_length(&text[line_start..end]));
        line_start = end + 1;
        ends += 1;
    }
    longest = longest.max(line_length(&text[line_start..]));
    let unterminated = text.last().is_some_and(|&b| b != b'\n');
    // Tabs separate the fields of tab-separated files, and every kind of
    // ASCII whitespace those of whitespace-separated ones.
    let tabs_separate = matches!(format, Format::Tsv | Format::Whitespace);
    let form_feeds_separate = format == Format::Whitespace;
    ChunkScan {
        lines: ends + usize::from(unterminated),
        quotes: memchr::memchr(b'"', text).is_some(),
        carriage_returns: memchr::memchr(b'\r', text).is_some(),
        needs_precise: longest > MAX_LINE_BYTES
            || has_invisible(text, tabs_separate, form_feeds_separate),
    }
}

/// Returns the length of a line without its line end, where a carriage
/// return at its end is one.
fn line_length(line: &[u8]) -> usize {
    line.strip_suffix(b"\r").unwrap_or(line).len()
}

/// Interns the ids of each chunk, in chunk order, into `all`, and returns
/// the map from local to global indices of each chunk.
fn merge<'a>(
    all: &mut IdTable,
    chunks: impl Iterator<Item = &'a IdTable>,
) -> Option<Vec<Vec<u32>>> {
    chunks
        .map(|chunk| {
            (0..chunk.len())
                .map(|index| all.intern(chunk.id(index)))
                .collect()
        })
        .collect()
}

/// Builds the [`IdMap`] of a table, or returns `None` if an id is not
/// UTF-8.
fn id_map(table: &IdTable) -> Option<IdMap> {
    let mut map = IdMap::new();
    for index in 0..table.len() {
        map.intern(std::str::from_utf8(table.id(index)).ok()?);
    }
    Some(map)
}

/// Rewrites the local user and item indices in the slots of each chunk as
/// indices into the merged tables.
fn remap(
    entries: &mut [Rating],
    slots: &[usize],
    chunks: &[ChunkRows],
    user_maps: &[Vec<u32>],
    item_maps: &[Vec<u32>],
) {
    let mut parts = Vec::with_capacity(slots.len());
    let mut rest = entries;
    for (&count, chunk) in slots.iter().zip(chunks) {
        let (part, tail) = rest.split_at_mut(count);
        parts.push(&mut part[..chunk.rows]);
        rest = tail;
    }
    parts
        .into_par_iter()
        .zip(user_maps)
        .zip(item_maps)
        .for_each(|((part, users), items)| {
            if is_identity(users) && is_identity(items) {
                return;
            }
            for rating in part {
                rating.user = users[rating.user as usize];
                rating.item = items[rating.item as usize];
            }
        });
}

fn is_identity(map: &[u32]) -> bool {
    map.iter()
        .enumerate()
        .all(|(local, &global)| local == global as usize)
}

#[cfg(test)]
mod tests;

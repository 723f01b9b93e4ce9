//! Checks that the parallel reader returns exactly what the row-by-row
//! reader returns, and that it leaves to that reader every file that it
//! cannot read the same way.

use std::fs::File;
use std::path::Path;

use proptest::prelude::*;

use super::chunk::has_invisible;
use super::{load_in_blocks, BlockReader};
use crate::data::generate::{generate, SyntheticSpec};
use crate::data::input::MAX_LINE_BYTES;
use crate::data::load::{
    normalize_line_ends, read_rows_precise, Format, LoadOptions, Rows,
};
use crate::error::Result;

const PATH: &str = "r.csv";
const BYTE_ORDER_MARK: &str = "\u{feff}";

fn without_bom(text: &[u8]) -> &[u8] {
    text.strip_prefix(BYTE_ORDER_MARK.as_bytes())
        .unwrap_or(text)
}

fn precise(text: &[u8], options: &LoadOptions) -> Result<Rows> {
    read_rows_precise(without_bom(text), Path::new(PATH), options)
}

fn parse_in_chunks(
    text: &[u8],
    options: &LoadOptions,
    chunks: usize,
) -> Option<Rows> {
    let mut reader = BlockReader::new(options, chunks);
    reader.read_block(without_bom(text))?;
    reader.finish()
}

fn load_from_file(
    text: &[u8],
    options: &LoadOptions,
    block: usize,
    chunks: usize,
) -> Option<Rows> {
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, text).unwrap();
    std::io::Seek::rewind(&mut file).unwrap();
    load_in_blocks(file, options, block, chunks).unwrap()
}

/// Asserts that two readers gave the same rows, ids, line numbers and
/// report.
fn assert_same(expected: Rows, found: Rows, case: &str) {
    assert_eq!(found.format, expected.format, "{case}");
    assert_eq!(found.header_line, expected.header_line, "{case}");
    assert_eq!(found.rows, expected.rows, "{case}");
    assert_eq!(found.skipped, expected.skipped, "{case}");
    assert_eq!(found.entry_lines, expected.entry_lines, "{case}");
    let path = Path::new(PATH);
    let (expected, expected_report) = expected.finish(path);
    let (found, found_report) = found.finish(path);
    assert_eq!(found.users, expected.users, "{case}");
    assert_eq!(found.items, expected.items, "{case}");
    assert_eq!(found.entries, expected.entries, "{case}");
    assert_eq!(found.timestamps, expected.timestamps, "{case}");
    assert_eq!(
        format!("{found_report:?}"),
        format!("{expected_report:?}"),
        "{case}"
    );
}

/// Returns whether the row-by-row reader must read `text`, whose header,
/// if it has one, is on `header_line`. That is the case for a carriage
/// return that does not end a line, and in a comma- or tab-separated file
/// for a quote or a second byte order mark, because the `csv` crate reads
/// quoted fields and drops the mark. It is also the case for a line longer
/// than [`MAX_LINE_BYTES`] and for a character in the rows that the
/// row-by-row reader rejects in an id (see [`invisible_in_rows`]).
fn needs_precise(
    text: &[u8],
    format: Format,
    header_line: Option<u64>,
) -> bool {
    let delimited = matches!(format, Format::Csv | Format::Tsv);
    let lone_carriage_return = text.iter().enumerate().any(|(at, &b)| {
        b == b'\r' && text.get(at + 1).is_some_and(|&n| n != b'\n')
    });
    let second_mark = without_bom(text).starts_with(BYTE_ORDER_MARK.as_bytes());
    let normalized = normalize_line_ends(without_bom(text));
    let long_line = normalized
        .split(|&b| b == b'\n')
        .any(|line| line.len() > MAX_LINE_BYTES);
    lone_carriage_return
        || (delimited && (text.contains(&b'"') || second_mark))
        || long_line
        || invisible_in_rows(&normalized, format, header_line)
}

/// Returns whether a line from the first row on, after the header if
/// there is one, contains a control character that does not separate
/// fields or end a line, or a byte order mark, judged one character at a
/// time.
fn invisible_in_rows(
    normalized: &[u8],
    format: Format,
    header_line: Option<u64>,
) -> bool {
    let lines: Vec<&[u8]> = normalized.split(|&b| b == b'\n').collect();
    let first_row = match header_line {
        Some(header) => header as usize,
        None => lines
            .iter()
            .position(|line| !line.trim_ascii().is_empty())
            .unwrap_or(lines.len()),
    };
    lines[first_row..]
        .iter()
        .any(|line| invisible_chars(line, format))
}

fn invisible_chars(line: &[u8], format: Format) -> bool {
    String::from_utf8_lossy(line).chars().any(|c| match c {
        '\n' | '\r' => false,
        '\t' => !matches!(format, Format::Tsv | Format::Whitespace),
        '\u{c}' => format != Format::Whitespace,
        c => c.is_control() || c == '\u{feff}',
    })
}

/// Reads `text` with both readers in every way and compares the results.
fn check(
    text: &[u8],
    options: &LoadOptions,
) -> std::result::Result<(), TestCaseError> {
    let case = format!("{:?} {options:?}", String::from_utf8_lossy(text));
    let expected = precise(text, options);
    let clean = match &expected {
        Ok(rows) => rows.skipped == 0,
        Err(_) => false,
    };
    let (format, header_line) = match &expected {
        Ok(rows) => (rows.format, rows.header_line),
        Err(_) => (options.format.unwrap_or(Format::Csv), None),
    };
    let expect_fast = clean && !needs_precise(text, format, header_line);
    for chunks in [1, 2, 3, 7] {
        let found = parse_in_chunks(text, options, chunks);
        prop_assert_eq!(
            found.is_some(),
            expect_fast,
            "{} chunks {}",
            case,
            chunks
        );
        if let Some(found) = found {
            assert_same(precise(text, options).unwrap(), found, &case);
        }
    }
    for block in [4, 16, 64, 1 << 16] {
        let found = load_from_file(text, options, block, 3);
        if block == 1 << 16 {
            prop_assert_eq!(found.is_some(), expect_fast, "{} one block", case);
        }
        if let Some(found) = found {
            assert_same(precise(text, options).unwrap(), found, &case);
        }
    }
    Ok(())
}

const SEPARATORS: [(&str, Format); 5] = [
    (",", Format::Csv),
    ("\t", Format::Tsv),
    ("::", Format::DoubleColon),
    (" ", Format::Whitespace),
    (" \t ", Format::Whitespace),
];

/// Ids that the row-by-row reader rejects: control characters that
/// separate no fields, and a byte order mark.
const INVISIBLE_IDS: &[&str] = &[
    "\u{feff}3",
    "a\u{7}",
    "b\u{85}",
    "\u{0}",
    "t\tu",
    "v\u{c}w",
    "\u{7f}",
    "\u{b}",
];

/// Generates an id from `pool`, and now and then one of [`INVISIBLE_IDS`].
fn id(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![30 => field(pool), 1 => field(INVISIBLE_IDS)]
}

fn field(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    (prop::sample::select(pool), prop::bool::weighted(0.1)).prop_map(
        |(value, padded)| {
            if padded {
                format!(" {value} ")
            } else {
                value.to_string()
            }
        },
    )
}

/// Generates one line of a file: a row of fields or a blank line.
fn line() -> impl Strategy<Value = Vec<String>> {
    let users: &'static [&'static str] = &[
        "1",
        "2",
        "10",
        "42",
        "0042",
        "u7",
        "é",
        "1048576",
        "123456789",
        "",
    ];
    let items: &'static [&'static str] =
        &["5", "6", "7", "0", "00", "x", "a:b", ""];
    let ratings: &'static [&'static str] = &[
        "4", "4.5", "2.28", "3", "0.5", "5.", "1e1", "-1", "10.25", "NaN", "x",
        "",
    ];
    let times: &'static [&'static str] =
        &["1156284335", "0", "-5", "+7", "99999999999", "x", ""];
    prop_oneof![
        12 => (id(users), id(items), field(ratings), field(times), prop::bool::ANY)
            .prop_map(|(user, item, rating, time, timed)| {
                let mut fields = vec![user, item, rating];
                if timed {
                    fields.push(time);
                }
                fields
            }),
        1 => prop::sample::select(&["", "  ", "\t"][..])
            .prop_map(|blank| vec![blank.to_string()]),
        1 => Just(vec!["\"1\"".to_string(), "5".to_string(), "4".to_string()]),
        1 => Just(vec!["\u{feff}1".to_string(), "5".to_string(), "4".to_string()]),
    ]
}

/// Generates a file of lines with an optional header, byte order mark and
/// last line end, in one line end style.
fn file() -> impl Strategy<Value = (String, Format)> {
    (
        prop::sample::select(&SEPARATORS[..]),
        prop::collection::vec(line(), 0..25),
        prop::option::of(prop::sample::select(&[3usize, 4][..])),
        prop::sample::select(&["\n", "\r\n", "\r"][..]),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
        prop::bool::ANY,
    )
        .prop_map(
            |(
                (separator, format),
                lines,
                header,
                end,
                mark,
                no_last_end,
                same_width,
            )| {
                let mut text = String::new();
                if mark {
                    text.push_str(BYTE_ORDER_MARK);
                }
                if let Some(width) = header {
                    let columns = ["userId", "movieId", "rating", "timestamp"];
                    text.push_str(&columns[..width].join(separator));
                    text.push_str(end);
                }
                for fields in &lines {
                    // Most files keep one width, so that most are valid.
                    let fields = match (same_width, fields.len()) {
                        (true, 4) => &fields[..3],
                        _ => &fields[..],
                    };
                    text.push_str(&fields.join(separator));
                    text.push_str(end);
                }
                if no_last_end {
                    let trimmed = text.trim_end_matches(['\r', '\n']).len();
                    text.truncate(trimmed);
                }
                (text, format)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn generated_files_read_alike(
        (text, format) in file(),
        given in prop::bool::weighted(0.2),
        skip_bad_rows in prop::bool::ANY,
    ) {
        let options = LoadOptions {
            format: given.then_some(format),
            skip_bad_rows,
        };
        check(text.as_bytes(), &options)?;
    }
}

#[test]
fn hand_made_files_read_alike() {
    let cases = [
        "userId,movieId,rating,timestamp\n1,10,4.5,99\n2,10,3,98\n",
        "1,2,3\n1,2,5\n2,2,1\n",
        "user,item,rating\n1,a,4\n\n2,a,3\n1,a,5\n2,b,1\n2,a,2\n1,a,3\n",
        "\u{feff}1\t2\t3\r\n\r\n\t\n2\t2\t4\r\n",
        "1::2::3::4\n1::3::4::5",
        "1 2   3\n 2\t3 4 \n",
        "1,2,3\r",
        "1,2,3\r\r\n2,2,3\n",
        "1,2,3\n1,3,\"4\"\n",
        "\"u\",\"i\",\"r\"\n1,2,3\n",
        "\u{feff}\u{feff}1,2,3\n",
        "1,2,3\n,,\n",
        "1\t2\t3\n\t\t\n",
        "1\t2\t3\t\n",
        "1,2,3,4\n1,2,3\n",
        "u,i,r\n1,2,3\nu,i,r\n",
        "a,b,c\n",
        "",
        "\n\n",
        "1,2,NaN\n1,3,4\n2,2,inf\n",
        "0042,1,3\n42,1,4\n",
        "1,2,3\n1,3,-0\n1,4,1e-3\n1,5,+2\n",
        "1,2,3,9223372036854775807\n1,3,3,-9223372036854775808\n",
        "1,2,3,9223372036854775808\n",
        "1,2,3\n\u{feff}2,2,4\n",
        "\u{feff}1\t2\t3\n\u{feff}2\t2\t4\n",
        "\u{feff}\u{feff}1::2::3\n",
        "\u{feff}\u{feff}u,i,r\n1,2,3\n",
        "u,i,r\n1,2,3\nu,i,r\n\u{feff}u,i,r\n",
        "1 2\u{b} 3\n",
        "1\u{c}2\u{c}3\n2\t2 4\n",
        "1,2\t,3\n2,2\tx,4\n",
        "1,2,3\n2,\u{85},4\n",
        "1,2,3\n2,\u{a0},4\n",
        "1,\u{fffd},3\n2,\u{7f},4\n",
        "u\u{7},i,r\n1,2,3\n",
    ];
    for text in cases {
        for skip_bad_rows in [false, true] {
            let options = LoadOptions {
                format: None,
                skip_bad_rows,
            };
            check(text.as_bytes(), &options).unwrap();
        }
    }
}

#[test]
fn long_lines_read_alike() {
    let padding = " ".repeat(MAX_LINE_BYTES - 4);
    let cases = [
        format!("1,2,3\n2,2,4{padding}\n"),
        format!("1,2,3\n2,2,4{padding} \n"),
        format!("1,2,3\n{padding}     \r\n2,2,4\n"),
        format!("{padding}     \n1,2,3\n"),
        format!("1,2,3\n2,2,4{padding} "),
        format!("u i r{padding} \n1 2 3\n"),
    ];
    for text in &cases {
        for skip_bad_rows in [false, true] {
            let options = LoadOptions {
                format: None,
                skip_bad_rows,
            };
            check(text.as_bytes(), &options).unwrap();
        }
    }
    let error = precise(cases[1].as_bytes(), &LoadOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(error.starts_with("r.csv:2: the line is longer"), "{error}");
}

/// Returns what [`has_invisible`] returns, one byte at a time.
fn has_invisible_reference(
    text: &[u8],
    tabs_separate: bool,
    form_feeds_separate: bool,
) -> bool {
    text.iter().enumerate().any(|(at, &b)| {
        let next = &text[at + 1..];
        match b {
            b'\n' | b'\r' => false,
            b'\t' => !tabs_separate,
            0x0C => !form_feeds_separate,
            0..=0x1F | 0x7F => true,
            0xC2 => next.first().is_some_and(|n| (0x80..=0x9F).contains(n)),
            0xEF => next.starts_with(b"\xBB\xBF"),
            _ => false,
        }
    })
}

proptest! {
    #[test]
    fn invisible_bytes_found_by_words(
        text in prop::collection::vec(
            prop::sample::select(&[
                b'1', b',', b' ', b'\n', b'\r', b'\t', 0x0C, 0x07, 0x7F,
                0xC2, 0x85, 0xA0, 0xEF, 0xBB, 0xBF, 0x00,
            ][..]),
            0..40,
        ),
        tabs_separate in prop::bool::ANY,
        form_feeds_separate in prop::bool::ANY,
    ) {
        prop_assert_eq!(
            has_invisible(&text, tabs_separate, form_feeds_separate),
            has_invisible_reference(&text, tabs_separate, form_feeds_separate)
        );
    }
}

#[test]
fn synthetic_file_reads_alike() {
    let spec = SyntheticSpec {
        users: 300,
        items: 200,
        ratings: 20_000,
        ..SyntheticSpec::default()
    };
    let dir = tempfile::tempdir().unwrap();
    generate(&spec).unwrap().write(dir.path(), false).unwrap();
    let mut text = std::fs::read(dir.path().join("ratings.csv")).unwrap();
    // Rows appended again repeat every pair, which the report names.
    let copy = text.clone();
    let first_line = copy.iter().position(|&b| b == b'\n').unwrap() + 1;
    let end = first_line + 5000;
    let end = end + copy[end..].iter().position(|&b| b == b'\n').unwrap() + 1;
    text.extend_from_slice(&copy[first_line..end]);

    let options = LoadOptions::default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    pool.install(|| {
        for chunks in [1, 5, 64] {
            let found = parse_in_chunks(&text, &options, chunks).unwrap();
            assert_same(precise(&text, &options).unwrap(), found, "chunks");
        }
        for block in [1000, 100_000, 1 << 24] {
            let found = load_from_file(&text, &options, block, 4).unwrap();
            assert_same(precise(&text, &options).unwrap(), found, "blocks");
        }
        let file = File::open(dir.path().join("ratings.csv")).unwrap();
        let found = super::load(file, &options).unwrap().unwrap();
        let expected = precise(&copy, &options).unwrap();
        assert_same(expected, found, "load");
    });
}

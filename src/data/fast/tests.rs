//! Checks that the parallel reader returns exactly what the row-by-row
//! reader returns, and that it leaves to that reader every file that it
//! cannot read the same way.

use std::fs::File;
use std::path::Path;

use proptest::prelude::*;

use super::{load_in_blocks, BlockReader};
use crate::data::generate::{generate, SyntheticSpec};
use crate::data::load::{read_rows_precise, Format, LoadOptions, Rows};
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

/// Returns whether the row-by-row reader must read `text`. That is the
/// case for a carriage return that does not end a line, and in a comma- or
/// tab-separated file for a quote or a second byte order mark, because the
/// `csv` crate reads quoted fields and drops the mark.
fn needs_precise(text: &[u8], format: Format) -> bool {
    let delimited = matches!(format, Format::Csv | Format::Tsv);
    let lone_carriage_return = text.iter().enumerate().any(|(at, &b)| {
        b == b'\r' && text.get(at + 1).is_some_and(|&n| n != b'\n')
    });
    let second_mark = without_bom(text).starts_with(BYTE_ORDER_MARK.as_bytes());
    lone_carriage_return || (delimited && (text.contains(&b'"') || second_mark))
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
    let format = match &expected {
        Ok(rows) => rows.format,
        Err(_) => options.format.unwrap_or(Format::Csv),
    };
    let expect_fast = clean && !needs_precise(text, format);
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
        12 => (field(users), field(items), field(ratings), field(times), prop::bool::ANY)
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

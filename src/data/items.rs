//! Reads item titles and genres: MovieLens `movies.csv`
//! (`movieId,title,genres`), ml-1m `movies.dat` (`::`-separated) and
//! ml-100k `u.item` (`|`-separated with 19 genre flags).
//!
//! Older MovieLens files are Latin-1, not UTF-8. A field that is not valid
//! UTF-8 is decoded as Latin-1 and a warning names the line. A title may
//! contain any character, but an item id that contains a control character
//! or a byte order mark is an error, as in a ratings file, because it
//! would never match the id of the ratings.

use std::path::Path;

use rustc_hash::FxHashMap;

use crate::data::ids::{escape_invisible, find_invalid_char};
use crate::data::input;
use crate::data::load::{normalize_line_ends, record_line};
use crate::error::{Error, Result};

/// Title and genres of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemInfo {
    /// The title as written in the file.
    pub title: String,
    /// Genre names, in file order.
    pub genres: Vec<String>,
}

/// Item titles keyed by item id, with warnings about lines that were
/// decoded as Latin-1 or skipped.
#[derive(Debug, Clone, Default)]
pub struct ItemCatalog {
    /// Title and genres by item id.
    pub items: FxHashMap<String, ItemInfo>,
    /// Messages about lines that needed attention: one per skipped line,
    /// then one for all titles read as Latin-1.
    pub warnings: Vec<String>,
    /// Line and item id of each title read as Latin-1.
    latin1: Vec<(u64, String)>,
}

/// Genre names of the 19 flags in ml-100k `u.item`, in column order.
const ML100K_GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

impl ItemCatalog {
    /// Reads an items file, detecting its layout from the first line.
    ///
    /// # Errors
    ///
    /// Fails when the file cannot be read (see [`input::read_text`]),
    /// when an item id contains a control character or a byte order mark,
    /// or when the file contains no item. A line with too few fields is
    /// skipped with a warning.
    pub fn load(path: impl AsRef<Path>) -> Result<ItemCatalog> {
        let path = path.as_ref();
        let bytes = input::read_text(path)?;
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let bytes = normalize_line_ends(bytes);
        let first = bytes
            .split(|&b| b == b'\n')
            .find(|line| !line.trim_ascii().is_empty())
            .unwrap_or_default();
        let mut catalog = ItemCatalog::default();
        match separator(first) {
            Some(separator) => catalog.read_lines(&bytes, path, separator)?,
            None => catalog.read_csv(&bytes, path)?,
        }
        if catalog.items.is_empty() {
            return Err(Error::Invalid(format!(
                "{}: no items found (expected item lines of id, title and \
                 genres)",
                path.display()
            )));
        }
        catalog.warn_latin1(path);
        Ok(catalog)
    }

    /// Adds one warning for the titles read as Latin-1, naming the first
    /// few lines.
    fn warn_latin1(&mut self, path: &Path) {
        const SHOWN: usize = 5;
        let warning = match self.latin1.as_slice() {
            [] => return,
            [(line, id)] => format!(
                "{}:{line}: title of item {id} is not UTF-8; read as Latin-1",
                path.display()
            ),
            lines => {
                let shown: Vec<String> = lines
                    .iter()
                    .take(SHOWN)
                    .map(|(line, _)| line.to_string())
                    .collect();
                let rest = lines.len().saturating_sub(SHOWN);
                let more = if rest > 0 {
                    format!(" and {rest} more")
                } else {
                    String::new()
                };
                format!(
                    "{}: {} titles are not UTF-8 and were read as Latin-1, \
                     on lines {}{more}",
                    path.display(),
                    lines.len(),
                    shown.join(", ")
                )
            }
        };
        self.warnings.push(warning);
    }

    /// Title of `item`, if the file has it.
    pub fn title(&self, item: &str) -> Option<&str> {
        self.items.get(item).map(|info| info.title.as_str())
    }

    fn read_csv(&mut self, bytes: &[u8], path: &Path) -> Result<()> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut record = csv::ByteRecord::new();
        let mut first = true;
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(error) => {
                    return Err(Error::Row {
                        path: path.to_path_buf(),
                        line: error.position().map_or(0, |p| p.line()),
                        message: error.to_string(),
                    })
                }
            }
            let line = record.position().map_or(0, |p| record_line(bytes, p));
            let fields: Vec<&[u8]> = record.iter().collect();
            // No id, title or genre spans lines, so a line break inside a
            // field means a quote was left open and swallowed what follows.
            if fields.iter().any(|field| field.contains(&b'\n')) {
                return Err(Error::Row {
                    path: path.to_path_buf(),
                    line,
                    message: "a quote opened on this line is not closed \
                              before the line ends; close it or remove it"
                        .into(),
                });
            }
            let is_first = std::mem::take(&mut first);
            if is_first && is_ratings_header(&fields) {
                return Err(Error::Row {
                    path: path.to_path_buf(),
                    line,
                    message: "the header starts with userId, so this is a \
                              ratings file; an items file has the columns \
                              movieId,title,genres"
                        .into(),
                });
            }
            if is_first && is_items_header(&fields) {
                let second = fields.get(1).map_or(&b""[..], |f| f.trim_ascii());
                if !is_title_name(second) {
                    return Err(Error::Row {
                        path: path.to_path_buf(),
                        line,
                        message: format!(
                            "the second column is {:?}, not a title; an \
                             items file has the columns movieId,title,genres",
                            String::from_utf8_lossy(second)
                        ),
                    });
                }
                continue;
            }
            let genres = fields.get(2).map_or(Vec::new(), |g| split_genres(g));
            self.insert(&fields, genres, path, line)?;
        }
    }

    fn read_lines(
        &mut self,
        bytes: &[u8],
        path: &Path,
        separator: &[u8],
    ) -> Result<()> {
        let mut first = true;
        for (number, line) in bytes.split(|&b| b == b'\n').enumerate() {
            if line.trim_ascii().is_empty() {
                continue;
            }
            let mut fields = Vec::new();
            let mut rest = line;
            while let Some(at) = memchr::memmem::find(rest, separator) {
                fields.push(&rest[..at]);
                rest = &rest[at + separator.len()..];
            }
            fields.push(rest);
            let genres = if separator == b"|" {
                flagged_genres(&fields)
            } else {
                fields.get(2).map_or(Vec::new(), |g| split_genres(g))
            };
            if std::mem::take(&mut first) && is_items_header(&fields) {
                continue;
            }
            self.insert(&fields, genres, path, number as u64 + 1)?;
        }
        Ok(())
    }

    fn insert(
        &mut self,
        fields: &[&[u8]],
        genres: Vec<String>,
        path: &Path,
        line: u64,
    ) -> Result<()> {
        if fields.len() < 2 || fields[0].trim_ascii().is_empty() {
            self.warnings.push(format!(
                "{}:{line}: skipped: expected an item id and a title",
                path.display()
            ));
            return Ok(());
        }
        let id = decode(fields[0].trim_ascii()).0;
        if let Some(invalid) = find_invalid_char(&id) {
            return Err(Error::Row {
                path: path.to_path_buf(),
                line,
                message: format!(
                    "the item id \"{}\" contains {invalid}",
                    escape_invisible(&id)
                ),
            });
        }
        let (title, latin1) = decode(fields[1].trim_ascii());
        if latin1 {
            self.latin1.push((line, id.clone()));
        }
        if self.items.contains_key(&id) {
            self.warnings.push(format!(
                "{}:{line}: item {id} appears again; the title on this line \
                 replaces the earlier one",
                path.display()
            ));
        }
        self.items.insert(id, ItemInfo { title, genres });
        Ok(())
    }
}

/// Returns the separator of a `::` or `|` items file, judged by its first
/// line, or `None` for a CSV file. A `movies.csv` line without a header can
/// contain `|` between genres, but only after a comma, while a `u.item` line
/// starts with the id and a `|`.
fn separator(first_line: &[u8]) -> Option<&'static [u8]> {
    if memchr::memmem::find(first_line, b"::").is_some() {
        return Some(b"::");
    }
    let pipe = memchr::memchr(b'|', first_line)?;
    (!first_line[..pipe].contains(&b',')).then_some(b"|")
}

fn is_items_header(fields: &[&[u8]]) -> bool {
    let first = String::from_utf8_lossy(fields[0]).to_ascii_lowercase();
    matches!(
        first.trim(),
        "movieid" | "itemid" | "item_id" | "item" | "id" | "movie_id"
    )
}

/// Tells whether a header's second column names the title.
fn is_title_name(name: &[u8]) -> bool {
    [
        &b"title"[..],
        b"name",
        b"movie_title",
        b"item_title",
        b"item_name",
    ]
    .iter()
    .any(|known| name.eq_ignore_ascii_case(known))
}

fn split_genres(field: &[u8]) -> Vec<String> {
    let text = decode(field.trim_ascii()).0;
    if text.is_empty() || text == "(no genres listed)" {
        return Vec::new();
    }
    text.split('|').map(str::to_string).collect()
}

/// Reads the trailing 0/1 genre flags of an ml-100k `u.item` line.
fn flagged_genres(fields: &[&[u8]]) -> Vec<String> {
    if fields.len() < ML100K_GENRES.len() + 2 {
        return Vec::new();
    }
    let flags = &fields[fields.len() - ML100K_GENRES.len()..];
    flags
        .iter()
        .zip(ML100K_GENRES)
        .filter(|(flag, _)| flag.trim_ascii() == b"1")
        .map(|(_, name)| name.to_string())
        .collect()
}

/// Decodes UTF-8, falling back to Latin-1; the flag tells which was used.
fn decode(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (bytes.iter().map(|&b| char::from(b)).collect(), true),
    }
}

/// Tells whether `fields` are the header of a MovieLens ratings file,
/// which starts with `userId`.
fn is_ratings_header(fields: &[&[u8]]) -> bool {
    fields
        .first()
        .is_some_and(|first| first.trim_ascii().eq_ignore_ascii_case(b"userId"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(bytes: &[u8]) -> ItemCatalog {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items");
        std::fs::write(&path, bytes).unwrap();
        ItemCatalog::load(&path).unwrap()
    }

    fn load_error(bytes: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items");
        std::fs::write(&path, bytes).unwrap();
        ItemCatalog::load(&path).unwrap_err().to_string()
    }

    #[test]
    fn ratings_file_as_items_rejected() {
        let error = load_error(b"userId,movieId,rating\n1,31,2.5\n");
        assert!(error.contains("items:1:"), "{error}");
        assert!(error.contains("this is a ratings file"), "{error}");
    }

    #[test]
    fn empty_items_named_as_items() {
        let error = load_error(b"movieId,title,genres\n");
        assert!(error.contains("no items found"), "{error}");
    }

    #[test]
    fn movies_csv_with_quotes() {
        let catalog = load(
            b"movieId,title,genres\n1,\"Orchard, The (2010)\",Drama\n\
              2,\"Night of the \"\"Long\"\" Tide (1988)\",Action|War\n",
        );
        assert_eq!(catalog.title("1"), Some("Orchard, The (2010)"));
        assert_eq!(
            catalog.title("2"),
            Some("Night of the \"Long\" Tide (1988)")
        );
        assert_eq!(catalog.items["2"].genres, vec!["Action", "War"]);
        assert!(catalog.warnings.is_empty());
    }

    #[test]
    fn unclosed_quote_rejected() {
        let error = load_error(
            b"movieId,title,genres\n1,A,Drama\n2,\"B (1995),Drama\n3,C,Drama\n",
        );
        assert!(error.contains(":3:"), "{error}");
        assert!(error.contains("not closed"), "{error}");
    }

    #[test]
    fn header_without_title_rejected() {
        let error = load_error(b"movieId,imdbId,tmdbId\n1,0114709,862\n");
        assert!(error.contains("second column is \"imdbId\""), "{error}");
        assert!(error.contains(":1:"), "{error}");
    }

    #[test]
    fn latin1_dat_titles() {
        let catalog = load(b"1::Caf\xe9 Lumi\xe8re (2001)::Drama\r\n");
        assert_eq!(catalog.title("1"), Some("Café Lumière (2001)"));
        assert_eq!(catalog.warnings.len(), 1);
        assert!(catalog.warnings[0].contains(":1:"));
    }

    #[test]
    fn latin1_titles_in_one_warning() {
        let mut text = Vec::new();
        for id in 1..=8 {
            text.extend_from_slice(format!("{id}::Caf").as_bytes());
            text.extend_from_slice(b"\xe9 (2001)::Drama\n");
        }
        text.extend_from_slice(b"9\n");
        let catalog = load(&text);
        assert_eq!(catalog.title("8"), Some("Café (2001)"));
        assert_eq!(catalog.warnings.len(), 2, "{:?}", catalog.warnings);
        assert!(catalog.warnings[0].contains(":9: skipped"));
        let latin1 = &catalog.warnings[1];
        assert!(latin1.contains("8 titles are not UTF-8"), "{latin1}");
        assert!(
            latin1.contains("lines 1, 2, 3, 4, 5 and 3 more"),
            "{latin1}"
        );
    }

    #[test]
    fn repeated_item_warned() {
        let catalog = load(b"1::Old (1990)::Drama\n1::New (1991)::Drama\n");
        assert_eq!(catalog.title("1"), Some("New (1991)"));
        assert_eq!(catalog.warnings.len(), 1, "{:?}", catalog.warnings);
        assert!(catalog.warnings[0].contains(":2: item 1 appears again"));
    }

    #[test]
    fn movies_csv_without_header() {
        let catalog = load(
            b"1,Toy Story (1995),Adventure|Animation\r\n\
              2,\"City, The (1998)\",Drama\r\n",
        );
        assert_eq!(catalog.title("1"), Some("Toy Story (1995)"));
        assert_eq!(catalog.items["1"].genres, vec!["Adventure", "Animation"]);
        assert_eq!(catalog.title("2"), Some("City, The (1998)"));
    }

    #[test]
    fn line_numbers_after_blank_lines() {
        let catalog =
            load(b"movieId,title,genres\n\n\n7,Caf\xe9 (1999),Drama\n");
        assert_eq!(catalog.warnings.len(), 1);
        assert!(
            catalog.warnings[0].contains(":4:"),
            "{:?}",
            catalog.warnings
        );
    }

    #[test]
    fn layout_from_first_line() {
        assert_eq!(
            separator(b"1::Heat (1995)::Action|Crime"),
            Some(&b"::"[..])
        );
        assert_eq!(
            separator(b"1|Heat, The (1995)|01-Jan-1995"),
            Some(&b"|"[..])
        );
        assert_eq!(separator(b"1,Heat (1995),Action|Crime"), None);
        assert_eq!(separator(b"movieId,title,genres"), None);
    }

    #[test]
    fn cr_line_ends_and_latin1_line_numbers() {
        let catalog =
            load(b"id::title::genres\r1::A::Drama\r2::Caf\xe9::Drama\r");
        assert_eq!(catalog.title("2"), Some("Café"));
        assert_eq!(catalog.warnings.len(), 1);
        assert!(
            catalog.warnings[0].contains(":3:"),
            "{:?}",
            catalog.warnings
        );
    }

    #[test]
    fn invisible_characters_in_ids_rejected() {
        let cases: [(&[u8], &str); 4] = [
            (
                b"movieId,title,genres\n1,A,Drama\n\xEF\xBB\xBF2,B,Drama\n",
                ":3: the item id \"\\u{feff}2\" contains the byte order \
                 mark U+FEFF at character 1",
            ),
            (
                b"1::A::Drama\n2\x07::B::Drama\n",
                ":2: the item id \"2\\u{7}\" contains the control \
                 character U+0007 at character 2",
            ),
            (
                b"1|A|01-Jan-1995\n\xC2\x852|B|01-Jan-1995\n",
                ":2: the item id \"\\u{85}2\" contains the control \
                 character U+0085",
            ),
            (
                b"1,A\tB,Drama\n2\t3,C,Drama\n",
                ":2: the item id \"2\\u{9}3\" contains the control \
                 character U+0009",
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items");
        for (bytes, expected) in cases {
            std::fs::write(&path, bytes).unwrap();
            let error = ItemCatalog::load(&path).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn odd_characters_in_titles_kept() {
        let catalog = load(b"1,\xEF\xBB\xBFA\x07\tB,Drama\n");
        assert_eq!(catalog.title("1"), Some("\u{feff}A\u{7}\tB"));
    }

    #[test]
    fn ml100k_item_flags() {
        let mut line =
            b"7|Twelve Monkeys (1995)|01-Jan-1995||http://x".to_vec();
        for flag in 0..19 {
            line.extend_from_slice(if flag == 8 || flag == 15 {
                b"|1"
            } else {
                b"|0"
            });
        }
        let catalog = load(&line);
        assert_eq!(catalog.title("7"), Some("Twelve Monkeys (1995)"));
        assert_eq!(catalog.items["7"].genres, vec!["Drama", "Sci-Fi"]);
    }
}

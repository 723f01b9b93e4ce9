//! The synthetic set shipped in `data/` is reproducible from its command,
//! and the loader rejects ids with invisible characters, overlong lines and
//! inputs that are neither regular files nor pipes.

use std::path::Path;

use assert_cmd::Command;
use descent::data::input::MAX_LINE_BYTES;
use descent::data::load::{load_ratings, Format, LoadOptions};

#[test]
fn shipped_data_regenerates_identically() {
    let out = tempfile::tempdir().unwrap();
    Command::cargo_bin("descent")
        .unwrap()
        .args(["generate", "--users", "1000", "--items", "1700"])
        .args(["--ratings", "100000", "--seed", "3", "--stars", "--out"])
        .arg(out.path())
        .assert()
        .success();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    for name in ["ratings.csv", "movies.csv"] {
        let expected = std::fs::read(shipped.join(name)).unwrap();
        let produced = std::fs::read(out.path().join(name)).unwrap();
        assert!(expected == produced, "{name} differs from a fresh run");
    }
}

#[test]
fn generate_refuses_to_overwrite() {
    let out = tempfile::tempdir().unwrap();
    let ratings = out.path().join("ratings.csv");
    std::fs::write(&ratings, "keep me\n").unwrap();
    let assert = Command::cargo_bin("descent")
        .unwrap()
        .args(["generate", "--ratings", "100", "--users", "10"])
        .args(["--items", "10", "--out"])
        .arg(out.path())
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&ratings).unwrap(), "keep me\n");
}

#[test]
fn shipped_user_42_has_unrated_items() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/ratings.csv");
    let text = std::fs::read_to_string(path).unwrap();
    let rated = text.lines().filter(|line| line.starts_with("42,")).count();
    let items = 1700;
    assert!(rated > 0, "user 42 has no ratings");
    assert!(
        rated + 10 <= items,
        "user 42 rated {rated} of {items} items"
    );
}

// ---------------------------------------------------------------------
// Characters an id may not contain, and inputs that are not files

/// Writes `bytes` to `name` in `dir` and reads it with `options`, and
/// returns the error message, or `None` when it loads.
fn load_error(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    options: &LoadOptions,
) -> Option<String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    load_ratings(&path, options).err().map(|e| e.to_string())
}

#[test]
fn bom_inside_ratings_named() {
    let dir = tempfile::tempdir().unwrap();
    let text = "userId,movieId,rating\n1,10,4\n\u{feff}2,10,5\n2,20,3\n";
    let options = LoadOptions::default();
    let error = load_error(dir.path(), "r.csv", text.as_bytes(), &options)
        .expect("a byte order mark inside an id is rejected");
    assert!(error.contains("r.csv:3: column \"userId\""), "{error}");
    assert!(error.contains("\"\\u{feff}2\""), "{error}");
    assert!(error.contains("U+FEFF at character 1"), "{error}");

    let skipping = LoadOptions {
        format: None,
        skip_bad_rows: true,
    };
    let path = dir.path().join("r.csv");
    let (ratings, report) = load_ratings(&path, &skipping).unwrap();
    assert_eq!(ratings.len(), 2);
    assert_eq!(report.skipped_rows, 1);
    assert!(ratings.users.ids().all(|id| !id.contains('\u{feff}')));
}

#[test]
fn control_characters_by_format() {
    let dir = tempfile::tempdir().unwrap();
    // Tab separates the fields of tab-separated files, and tab and form
    // feed those of whitespace-separated ones, so there they are never
    // part of an id. Anywhere else a control character in an id is an
    // error naming it.
    let cases: [(Format, &str, Option<&str>); 10] = [
        (Format::Tsv, "1\t10\t4\n2\t10\t5\n", None),
        (Format::Whitespace, "1\t10 4\n2\u{c}10\u{c}5\n", None),
        (
            Format::Csv,
            "1,10,4\n2\t3,10,5\n",
            Some(":2: column \"user\""),
        ),
        (Format::Csv, "1,10,4\n2, 10\t,5\n", None),
        (Format::Whitespace, "1 10 4\n2\u{b} 10 5\n", Some("U+000B")),
        (
            Format::DoubleColon,
            "1::10::4\n2::1\u{7}0::5\n",
            Some("U+0007"),
        ),
        (Format::Csv, "1,10,4\n2,\u{85}10,5\n", Some("U+0085")),
        (Format::Csv, "1,10,4\n2,1\u{7f},5\n", Some("U+007F")),
        (Format::Csv, "1,10,4\n2,\u{a0}10\u{200b},5\n", None),
        (Format::Tsv, "1\t10\t4\n2\t\u{0}\t5\n", Some("U+0000")),
    ];
    for (format, text, expected) in cases {
        let options = LoadOptions {
            format: Some(format),
            skip_bad_rows: false,
        };
        let found = load_error(dir.path(), "r.txt", text.as_bytes(), &options);
        match (expected, found) {
            (None, None) => {}
            (Some(expected), Some(error)) => {
                assert!(error.contains(expected), "{text:?}: {error}");
                assert!(error.contains("r.txt:2:"), "{text:?}: {error}");
            }
            (expected, found) => {
                panic!("{text:?}: expected {expected:?}, found {found:?}")
            }
        }
    }
}

#[test]
fn second_byte_order_mark_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let options = LoadOptions::default();
    for (name, text) in [
        ("two.csv", "\u{feff}\u{feff}1,10,4\n2,10,5\n"),
        ("two.dat", "\u{feff}\u{feff}1::10::4\n2::10::5\n"),
    ] {
        let error = load_error(dir.path(), name, text.as_bytes(), &options)
            .expect("a second mark is part of the first id");
        assert!(error.contains(&format!("{name}:1:")), "{error}");
        assert!(error.contains("U+FEFF"), "{error}");
    }
}

#[test]
fn long_line_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = b"1,10,4\n2,10,5\n".to_vec();
    text.extend(std::iter::repeat_n(b'7', MAX_LINE_BYTES + 1));
    text.extend(b"\n3,10,4\n");
    for skip_bad_rows in [false, true] {
        let options = LoadOptions {
            format: None,
            skip_bad_rows,
        };
        let error = load_error(dir.path(), "long.csv", &text, &options)
            .expect("a line past the limit is rejected");
        assert!(error.contains("long.csv:3: the line is longer"), "{error}");
        assert!(error.contains("1 MiB"), "{error}");
    }
}

#[test]
fn directories_and_devices_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let options = LoadOptions::default();
    let error = load_ratings(dir.path(), &options).unwrap_err().to_string();
    assert!(
        error.ends_with("is a directory; expected a regular file or a pipe")
    );
    #[cfg(unix)]
    for device in ["/dev/zero", "/dev/null"] {
        let error = load_ratings(device, &options).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{device}: is a character device; expected a regular file \
                 or a pipe"
            )
        );
    }
}

#[cfg(target_os = "linux")]
#[test]
fn named_pipe_read_as_stream() {
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let pipe = dir.path().join("ratings.pipe");
    let name = std::ffi::CString::new(pipe.to_str().unwrap()).unwrap();
    // SAFETY: `name` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let writer_path = pipe.clone();
    let writer = std::thread::spawn(move || {
        // Opening blocks until the reader opens the other end.
        let mut end = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        end.write_all(b"1,10,4\n2,10,5\n2,20,3\n").unwrap();
    });
    let (ratings, report) =
        load_ratings(&pipe, &LoadOptions::default()).unwrap();
    writer.join().unwrap();
    assert_eq!(ratings.len(), 3);
    assert_eq!(report.format, Format::Csv);
}

//! Runs the `descent` binary on the hand-made input cases in
//! `../shared/cases`, one test per case folder, and checks each expected
//! fact: exit codes, the file, line and value named in messages, counts in
//! the training summary, predicted values and recommended item sets.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use support::{descent, listed_items, text, Run};

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/cases");

/// Returns the folder of case `name`, or `None` after printing a note when
/// the case folders are missing and `CI` is not set.
///
/// # Panics
///
/// Panics when the folders are missing and `CI` is set, so that CI never
/// passes by skipping, or when this one case folder is missing.
fn case(name: &str) -> Option<PathBuf> {
    let root = Path::new(CASES);
    if !root.is_dir() {
        if std::env::var_os("CI").is_some() {
            panic!("{} is missing", root.display());
        }
        eprintln!("note: {} is missing; test skipped", root.display());
        return None;
    }
    let folder = root.join(name);
    assert!(folder.is_dir(), "{} is missing", folder.display());
    Some(folder)
}

fn train(ratings: &Path, model: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["train", "--ratings", text(ratings)];
    args.extend(["--model", text(model), "--quiet"]);
    args.extend_from_slice(extra);
    descent(args)
}

/// Trains with `--json` and returns the summary object.
fn train_json(ratings: &Path, model: &Path, extra: &[&str]) -> Value {
    let mut args = extra.to_vec();
    args.push("--json");
    train(ratings, model, &args).success().json()
}

fn predict(model: &Path, user: &str, item: &str) -> Run {
    descent([
        "predict",
        "--model",
        text(model),
        "--user",
        user,
        "--item",
        item,
    ])
}

fn recommend(model: &Path, user: &str, n: usize, extra: &[&str]) -> Run {
    let n = n.to_string();
    let mut args = vec!["recommend", "--model", text(model), "--user", user];
    args.extend(["-n", &n]);
    args.extend_from_slice(extra);
    descent(args)
}

/// Item ids that `recommend --json` lists, best first.
fn recommended(model: &Path, user: &str, n: usize) -> Vec<String> {
    let json = recommend(model, user, n, &["--json"]).success().json();
    listed_items(&json, "recommendations")
}

fn count(json: &Value, key: &str) -> u64 {
    json[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is not a count in {json}"))
}

fn float(json: &Value, key: &str) -> f64 {
    json[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {json}"))
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn assert_no_repeats(list: &[String], context: &str) {
    let distinct: BTreeSet<&String> = list.iter().collect();
    assert_eq!(
        distinct.len(),
        list.len(),
        "{context}: repeated item {list:?}"
    );
}

fn assert_close(found: f64, expected: f64, what: &str) {
    assert!(
        (found - expected).abs() < 1e-3,
        "{what}: found {found}, expected {expected}"
    );
}

#[test]
fn header_row_handling() {
    let Some(dir) = case("01-header-row") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();

    let model = out.path().join("model.out");
    let run = train(&dir.join("ratings.csv"), &model, &[]).success();
    let summary = run.summary();
    assert_eq!(summary.ratings, 5, "ratings counted: {summary:?}");
    assert_eq!(summary.users, 3, "users counted: {summary:?}");
    assert_eq!(summary.items, 3, "items counted: {summary:?}");
    assert_close(summary.mean, 3.8, "mean rating in the summary");
    assert!(
        summary.notes.contains("header"),
        "summary does not mention the header: {summary:?}"
    );
    let json = train_json(&dir.join("ratings.csv"), &model, &["--force"]);
    assert_eq!(count(&json, "ratings"), 5, "JSON ratings: {json}");
    assert_eq!(count(&json, "users"), 3, "JSON users: {json}");
    assert_eq!(count(&json, "items"), 3, "JSON items: {json}");
    assert_close(float(&json, "global_mean"), 3.8, "JSON global mean");

    let model2 = out.path().join("model2.out");
    let run =
        train(&dir.join("ratings_header_twice.csv"), &model2, &[]).failure();
    assert!(
        run.stderr.contains("ratings_header_twice.csv:4:"),
        "file and line 4 not named: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("column \"rating\""),
        "column not named: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("found \"rating\""),
        "text found not shown: {}",
        run.stderr
    );
    assert!(!model2.exists(), "model2.out created despite the error");
}

#[test]
fn trailing_blank_lines_ignored() {
    let Some(dir) = case("02-trailing-blank-lines") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model.out");
    let run = train(&dir.join("ratings.csv"), &model, &[]).success();
    let summary = run.summary();
    assert_eq!(summary.ratings, 5, "ratings counted: {summary:?}");
    assert_eq!(summary.users, 3, "users counted: {summary:?}");
    assert_eq!(summary.items, 3, "items counted: {summary:?}");
    for line in 7..=9 {
        assert!(
            !run.stderr.contains(&format!("ratings.csv:{line}:")),
            "blank line {line} reported as bad: {}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains("warning"),
        "warning about blank lines: {}",
        run.stderr
    );
}

#[test]
fn short_row_rejected() {
    let Some(dir) = case("03-short-row") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model.out");
    let ratings = dir.join("ratings.csv");
    let run = train(&ratings, &model, &[]).failure();
    assert!(
        run.stderr.contains("ratings.csv:4:"),
        "file and line 4 not named: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("expected 3 fields"),
        "expected field count not stated: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("found 2"),
        "field count found not stated: {}",
        run.stderr
    );
    assert!(!model.exists(), "model.out created despite the error");

    // The documented lenient option skips the row and reports it.
    let json = train_json(&ratings, &model, &["--skip-bad-rows"]);
    assert_eq!(count(&json, "ratings"), 4, "ratings kept: {json}");
    assert_eq!(count(&json, "skipped_rows"), 1, "rows skipped: {json}");
    let run = train(&ratings, &model, &["--skip-bad-rows", "--force"]);
    let run = run.success();
    assert!(
        run.stderr.contains("ratings.csv:4:"),
        "skipped row not named: {}",
        run.stderr
    );
}

#[test]
fn double_colon_separator() {
    let Some(dir) = case("04-double-colon-separator") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let ratings = dir.join("ratings.dat");
    let model = out.path().join("model.out");
    let run = train(&ratings, &model, &[]).success();
    let summary = run.summary();
    assert_eq!(summary.ratings, 6, "ratings counted: {summary:?}");
    assert_eq!(summary.users, 3, "users counted: {summary:?}");
    assert_eq!(summary.items, 3, "items counted: {summary:?}");
    assert_close(summary.mean, 19.0 / 6.0, "mean rating in the summary");
    assert_eq!(summary.low, 1.0, "lowest rating: {summary:?}");
    assert_eq!(summary.high, 5.0, "highest rating: {summary:?}");

    let value = predict(&model, "1", "103").success().number();
    assert!(value.is_finite(), "prediction {value} is not finite");
    assert!(
        (1.0..=5.0).contains(&value),
        "prediction {value} not in 1..5"
    );

    let forced = out.path().join("forced.out");
    let json = train_json(&ratings, &forced, &["--format", "dat"]);
    assert_eq!(count(&json, "ratings"), 6, "ratings with --format: {json}");
    assert_eq!(count(&json, "users"), 3, "users with --format: {json}");
    assert_eq!(count(&json, "items"), 3, "items with --format: {json}");
}

#[test]
fn crlf_line_endings() {
    let Some(dir) = case("05-crlf-line-endings") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let files = [
        "ratings_lf.csv",
        "ratings_crlf.csv",
        "ratings_crlf_3col.csv",
    ];
    let mut predictions = Vec::new();
    for file in files {
        let model = out.path().join(format!("{file}.model"));
        let seed = ["--seed", "1", "--threads", "1"];
        let run = train(&dir.join(file), &model, &seed).success();
        let summary = run.summary();
        assert_eq!(summary.ratings, 8, "{file}: ratings: {summary:?}");
        assert_eq!(summary.users, 3, "{file}: users: {summary:?}");
        assert_eq!(summary.items, 4, "{file}: items: {summary:?}");
        assert_close(summary.mean, 3.625, &format!("{file}: mean"));
        if file != "ratings_crlf_3col.csv" {
            assert!(
                summary.notes.contains("header line skipped"),
                "{file}: header not recognised: {summary:?}"
            );
        }
        assert!(
            !run.stderr.contains('\r'),
            "{file}: carriage return in messages: {:?}",
            run.stderr
        );

        let run = predict(&model, "1", "104").success();
        assert!(!run.stdout.contains('\r'), "{file}: \\r in predict output");
        predictions.push(run.number());

        let run = recommend(&model, "2", 2, &[]).success();
        assert!(
            !run.stdout.contains('\r'),
            "{file}: \\r in recommend output"
        );
        let items = recommended(&model, "2", 2);
        assert_eq!(
            items.iter().cloned().collect::<BTreeSet<_>>(),
            set(&["102", "103"]),
            "{file}: items recommended to user 2"
        );
    }
    assert_eq!(
        predictions[0], predictions[1],
        "LF and CRLF files give different predictions"
    );
    // `train --help` states that timestamps do not affect training.
    assert_eq!(
        predictions[0], predictions[2],
        "dropping the timestamp column changed the prediction"
    );
    let help = descent(["train", "--help"]).success();
    assert!(
        help.stdout.contains("timestamp"),
        "train --help does not say how timestamps are used"
    );
}

#[test]
fn latin1_titles_decoded() {
    let Some(dir) = case("06-latin1-titles") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model.out");
    train(&dir.join("ratings.csv"), &model, &[]).success();
    let movies = dir.join("movies.dat");

    let run = recommend(&model, "1", 2, &["--movies", text(&movies)]);
    let run = run.success();
    let json =
        recommend(&model, "1", 2, &["--movies", text(&movies), "--json"])
            .success()
            .json();
    let rows = json["recommendations"].as_array().unwrap();
    let items: BTreeSet<String> =
        listed_items(&json, "recommendations").into_iter().collect();
    assert_eq!(items, set(&["104", "105"]), "items recommended to user 1");
    for row in rows {
        let title = row["title"].as_str().unwrap_or_else(|| {
            panic!("item {} has no title: {row}", row["item"])
        });
        assert!(
            run.stdout.contains(title),
            "title {title:?} missing from the table: {}",
            run.stdout
        );
        if row["item"] == "105" {
            assert_eq!(title, "Nine Winters (2011)", "title of item 105");
        } else {
            assert!(title.starts_with("Caf"), "title of 104: {title:?}");
            assert!(title.contains("Lumi"), "title of 104: {title:?}");
            assert!(
                title.contains('é') || title.contains('\u{fffd}'),
                "accented letter of 104 lost: {title:?}"
            );
        }
    }
    for line in run.stderr.lines().filter(|l| l.contains("warning")) {
        assert!(
            line.contains("movies.dat:4:"),
            "warning does not name movies.dat line 4: {line}"
        );
    }
}

#[test]
fn quoted_fields_unquoted() {
    let Some(dir) = case("07-quoted-fields") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model.out");
    let json = train_json(&dir.join("ratings.csv"), &model, &[]);
    assert_eq!(count(&json, "ratings"), 6, "ratings: {json}");
    assert_eq!(count(&json, "users"), 3, "users: {json}");
    assert_eq!(count(&json, "items"), 4, "items: {json}");

    let movies = dir.join("movies.csv");
    let run = recommend(&model, "1", 2, &["--movies", text(&movies)]);
    let run = run.success();
    let json =
        recommend(&model, "1", 2, &["--movies", text(&movies), "--json"])
            .success()
            .json();
    let expected = [
        ("103", "Night of the \"Long\" Tide (1988)"),
        ("104", "Orchard, The (2010)"),
    ];
    let rows = json["recommendations"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "length of the list: {json}");
    for (item, title) in expected {
        let row = rows.iter().find(|r| r["item"] == item);
        let row = row.unwrap_or_else(|| panic!("{item} not listed: {json}"));
        assert_eq!(row["title"], title, "title of {item} in JSON");
        assert!(
            run.stdout.contains(title),
            "title of {item} not in the table: {}",
            run.stdout
        );
    }

    let value = predict(&model, "1", "103").success().number();
    assert!(value.is_finite(), "prediction {value} is not finite");
    let json = descent([
        "predict",
        "--model",
        text(&model),
        "--user",
        "1",
        "--item",
        "103",
        "--json",
    ])
    .success()
    .json();
    assert!(
        json["fallback"].is_null(),
        "unquoted ids 1 and 103 not found in the model: {json}"
    );
}

#[test]
fn repeated_rows_collapsed() {
    let Some(dir) = case("08-repeated-identical-rows") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model.out");
    let run = train(&dir.join("ratings.csv"), &model, &[]).success();
    let summary = run.summary();
    assert_eq!(summary.ratings, 6, "ratings counted: {summary:?}");
    assert_close(summary.mean, 21.5 / 6.0, "mean of the distinct ratings");
    let warning = run
        .stderr
        .lines()
        .find(|l| l.starts_with("warning") && l.contains("repeat"))
        .unwrap_or_else(|| panic!("no warning about repeats: {}", run.stderr));
    assert!(warning.contains('2'), "count of repeats missing: {warning}");
    let names_pair = warning.contains("user 3") && warning.contains("item 104");
    let names_lines = ["5", "7", "9"].iter().all(|l| warning.contains(l));
    assert!(names_pair, "warning does not name the pair: {warning}");
    assert!(
        names_lines,
        "warning does not name lines 5, 7, 9: {warning}"
    );

    let value = predict(&model, "3", "104").success().number();
    assert!(value.is_finite(), "prediction {value} is not finite");
    assert!(
        (2.0..=5.0).contains(&value),
        "prediction {value} not in 2..5"
    );
}

#[test]
fn unknown_ids_marked() {
    let Some(dir) = case("09-unknown-user") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model.out");
    train(&dir.join("ratings.csv"), &model, &[]).success();

    for (user, item, marker) in
        [("99", "102", "unknown user"), ("1", "999", "unknown item")]
    {
        let run = predict(&model, user, item).success();
        let value = run.number();
        assert!(value.is_finite(), "{user}/{item}: {value} is not finite");
        assert!(
            (2.0..=5.0).contains(&value),
            "{user}/{item}: {value} not in 2..5"
        );
        assert!(
            run.stdout.contains("fallback"),
            "{user}/{item}: prediction not marked as a fallback: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains(marker),
            "{user}/{item}: the unknown id is not named: {}",
            run.stdout
        );
    }

    let run = recommend(&model, "99", 3, &[]).failure();
    assert!(
        run.stderr.contains("user 99"),
        "user 99 not named: {}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "list printed for an unknown user: {}",
        run.stdout
    );
}

#[test]
fn rated_items_not_recommended() {
    let Some(dir) = case("10-already-rated-items") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model.out");
    train(&dir.join("ratings.csv"), &model, &["--seed", "1"]).success();

    let list = recommended(&model, "1", 5);
    assert_eq!(list.len(), 5, "length of the list for user 1: {list:?}");
    assert_no_repeats(&list, "user 1");
    let allowed = set(&["104", "105", "106", "107", "108"]);
    let listed: BTreeSet<String> = list.into_iter().collect();
    assert_eq!(listed, allowed, "items recommended to user 1");

    let list = recommended(&model, "4", 3);
    assert_eq!(list.len(), 3, "length of the list for user 4: {list:?}");
    assert_no_repeats(&list, "user 4");
    let allowed = set(&["102", "105", "106", "107"]);
    for item in &list {
        assert!(allowed.contains(item), "user 4 got rated item {item}");
    }
}

#[test]
fn rating_scales_kept() {
    let Some(dir) = case("11-half-star-scale") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();

    let half = out.path().join("half.model");
    let run = train(&dir.join("half.csv"), &half, &["--seed", "1"]).success();
    let summary = run.summary();
    assert_eq!(summary.low, 0.5, "lowest half-star rating: {summary:?}");
    assert_eq!(summary.high, 5.0, "highest half-star rating: {summary:?}");
    assert_close(summary.mean, 2.75, "mean of the half-star ratings");
    for (user, item) in [("1", "104"), ("3", "101")] {
        let value = predict(&half, user, item).success().number();
        assert!(
            (0.5..=5.0).contains(&value),
            "{user}/{item}: {value} not in 0.5..5"
        );
    }

    let ten = out.path().join("ten.model");
    let run = train(&dir.join("ten.csv"), &ten, &["--seed", "1"]).success();
    let summary = run.summary();
    assert_eq!(summary.low, 1.0, "lowest 1-10 rating: {summary:?}");
    assert_eq!(summary.high, 10.0, "highest 1-10 rating: {summary:?}");
    let value = predict(&ten, "1", "204").success().number();
    assert!(value > 5.0, "prediction {value} clipped to a 1-5 scale");
    assert!(value <= 10.0, "prediction {value} above 10");
}

#[test]
fn diverging_learning_rate() {
    let Some(dir) = case("12-learning-rate-too-high") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let ratings = dir.join("ratings.csv");

    let model = out.path().join("model.out");
    let args = [
        "train",
        "--ratings",
        text(&ratings),
        "--learning-rate",
        "50",
        "--epochs",
        "20",
        "--seed",
        "1",
        "--model",
        text(&model),
    ];
    let run = descent(args).failure();
    assert!(
        run.stderr.contains("diverged"),
        "divergence not stated: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("at epoch "),
        "epoch not named: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("smaller --learning-rate"),
        "no advice to lower the learning rate: {}",
        run.stderr
    );
    for line in run.stderr.lines().filter(|l| l.starts_with("epoch")) {
        let lower = line.to_lowercase();
        assert!(
            !lower.contains("nan") && !lower.contains("inf"),
            "training went on past a non-finite loss: {line}"
        );
    }
    assert!(!model.exists(), "model.out created by a diverged run");

    for value in ["-0.01", "nan"] {
        let model = out.path().join(format!("{value}.model"));
        let args = ["--learning-rate", value];
        // A value that is not a finite number is a usage error (exit 2),
        // a number out of range a checked setting (exit 1).
        let run = train(&ratings, &model, &args);
        assert!(
            [1, 2].contains(&run.code) && run.stderr.contains("error:"),
            "{value}: expected an error, exit {}: {}",
            run.code,
            run.stderr
        );
        assert!(
            run.stderr.contains("--learning-rate"),
            "{value}: option not named: {}",
            run.stderr
        );
        assert!(
            run.stderr.to_lowercase().contains(value),
            "{value}: value not named: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("read "),
            "{value}: ratings read before the check: {}",
            run.stderr
        );
        assert!(!model.exists(), "{value}: model file created");
    }
}

#[test]
fn nonfinite_ratings_rejected() {
    let Some(dir) = case("13-nan-inf-ratings") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();

    let model = out.path().join("model.out");
    let run = train(&dir.join("ratings.csv"), &model, &[]).failure();
    assert!(
        run.stderr.contains("ratings.csv:3:"),
        "file and line 3 not named: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("\"NaN\""),
        "value NaN not named: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("finite number"),
        "rule not stated: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("line 5"),
        "second bad row not mentioned: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("read "),
        "training started: {}",
        run.stderr
    );
    assert!(!model.exists(), "model.out created despite the error");

    let model2 = out.path().join("model2.out");
    let overflow = dir.join("ratings_overflow.csv");
    let run = train(&overflow, &model2, &[]).failure();
    assert!(
        run.stderr.contains("ratings_overflow.csv:3:"),
        "file and line 3 not named: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("\"1e999\""),
        "value 1e999 not named: {}",
        run.stderr
    );
    assert!(!model2.exists(), "model2.out created despite the error");
}

/// Largest peak resident set size of any child process waited for so
/// far, in bytes.
#[cfg(target_os = "linux")]
fn children_peak_memory() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage
    };
    // Linux reports ru_maxrss in kilobytes.
    usage.ru_maxrss as u64 * 1024
}

#[test]
fn huge_ids_stay_small() {
    let Some(dir) = case("14-sparse-huge-ids") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model.out");
    let started = Instant::now();
    let run = train(&dir.join("ratings.csv"), &model, &["--seed", "1"]);
    let elapsed = started.elapsed();
    let summary = run.success().summary();
    assert_eq!(summary.users, 3, "users counted: {summary:?}");
    assert_eq!(summary.items, 3, "items counted: {summary:?}");
    assert!(
        elapsed < Duration::from_secs(5),
        "training took {elapsed:?}"
    );
    // The peak covers every child of this test process, so it bounds the
    // peak of the training run from above.
    #[cfg(target_os = "linux")]
    {
        let peak = children_peak_memory();
        assert!(peak < 200 << 20, "peak resident memory {peak} bytes");
    }
    let bytes = std::fs::metadata(&model).unwrap().len();
    assert!(bytes < 1 << 20, "model file has {bytes} bytes");

    let value = predict(&model, "2000000000", "5").success().number();
    assert!(value.is_finite(), "prediction {value} is not finite");
    assert!(
        (2.0..=5.0).contains(&value),
        "prediction {value} not in 2..5"
    );
}

/// Runs the split-and-evaluate command and returns its text and JSON
/// output.
fn evaluate_split(ratings: &Path, seed: &str) -> (Run, Value) {
    let args = |json: bool| {
        let mut args = vec!["evaluate", "--ratings", text(ratings)];
        args.extend(["--test-fraction", "0.25", "--seed", seed, "--quiet"]);
        if json {
            args.push("--json");
        }
        args
    };
    let text_run = descent(args(false)).success();
    let json = descent(args(true)).success().json();
    (text_run, json)
}

#[test]
fn single_rating_users_split() {
    let Some(dir) = case("15-single-rating-users") else {
        return;
    };
    let ratings = dir.join("ratings.csv");
    let (first, first_json) = evaluate_split(&ratings, "3");
    let (second, second_json) = evaluate_split(&ratings, "3");

    let train_count = count(&first_json, "train_ratings");
    let test_count = count(&first_json, "test_ratings");
    assert_eq!(train_count + test_count, 21, "parts do not add up to 21");
    assert!(
        first
            .stdout
            .contains(&format!("train: {train_count} ratings")),
        "text output lacks the training count: {}",
        first.stdout
    );
    assert!(
        first
            .stdout
            .contains(&format!("test: {test_count} ratings")),
        "text output lacks the test count: {}",
        first.stdout
    );

    let cold = &first_json["cold"];
    let unknown_user = count(cold, "unknown_user");
    let unknown_both = count(cold, "unknown_both");
    // Users 1 to 3 have 6 ratings and the test part only 5 rows, so only
    // the single-rating users 4 to 6 can lack training ratings.
    assert!(
        unknown_user + unknown_both <= 3,
        "more cold-user rows than single-rating users: {cold}"
    );
    assert_eq!(
        count(&first_json, "cold_ratings"),
        count(cold, "unknown_user")
            + count(cold, "unknown_item")
            + unknown_both,
        "cold_ratings is not the sum of its parts: {first_json}"
    );
    assert!(
        first
            .stdout
            .contains(&format!("{unknown_user} of unknown users")),
        "text output lacks the cold-user count: {}",
        first.stdout
    );
    assert!(
        first.stdout.contains("scored with"),
        "text output does not say how cold rows are scored: {}",
        first.stdout
    );
    let help = descent(["evaluate", "--help"]).success();
    assert!(
        help.stdout.contains("cold"),
        "evaluate --help does not state the split rule for cold users"
    );

    let strip = |run: &Run| -> String {
        run.stdout
            .lines()
            .filter(|l| !l.starts_with("trained in"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&first), strip(&second), "two runs differ in text");
    for key in ["rmse", "mae", "train_ratings", "test_ratings", "cold"] {
        assert_eq!(
            first_json[key], second_json[key],
            "two runs differ in {key}"
        );
    }

    let (_, other) = evaluate_split(&ratings, "4");
    assert_eq!(
        count(&other, "train_ratings") + count(&other, "test_ratings"),
        21,
        "seed 4: parts do not add up to 21"
    );
}

#[test]
fn model_round_trip() {
    let Some(dir) = case("16-model-round-trip") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let model = out.path().join("model.out");
    train(&dir.join("ratings.csv"), &model, &["--seed", "1"]).success();

    let first = predict(&model, "1", "104").success().number();
    let second = predict(&model, "1", "104").success().number();
    assert_eq!(first, second, "two predictions from one model differ");
    let items: BTreeSet<String> =
        recommended(&model, "2", 2).into_iter().collect();
    assert_eq!(items, set(&["102", "103"]), "items recommended to user 2");

    let bytes = std::fs::read(&model).unwrap();
    let truncated = out.path().join("truncated.model");
    std::fs::write(&truncated, &bytes[..16]).unwrap();
    let broken = [
        truncated,
        dir.join("garbage.model"),
        dir.join("ratings.csv"),
    ];
    for path in broken {
        let run = predict(&path, "1", "104").failure();
        let name = path.file_name().unwrap().to_str().unwrap();
        let line = run
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default();
        assert!(line.contains(name), "{name}: file not named: {line}");
        assert!(
            line.contains("not a readable descent model"),
            "{name}: not said to be unreadable: {line}"
        );
        assert!(run.stdout.is_empty(), "{name}: output: {}", run.stdout);
    }
}

#[test]
fn empty_inputs_rejected() {
    let Some(dir) = case("17-empty-input") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    for (file, model) in [
        ("empty.csv", "a.model"),
        ("header_only.csv", "b.model"),
        ("blank_only.csv", "c.model"),
    ] {
        let model = out.path().join(model);
        let run = train(&dir.join(file), &model, &[]).failure();
        assert!(
            run.stderr.contains(file),
            "{file}: file not named: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("no ratings"),
            "{file}: not said to hold no ratings: {}",
            run.stderr
        );
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(!all.contains("NaN"), "{file}: NaN in the output: {all}");
        assert!(!model.exists(), "{file}: model file created");
    }

    let model = out.path().join("ok.model");
    train(&dir.join("train.csv"), &model, &[]).success();
    let header_only = dir.join("header_only.csv");
    let run = descent([
        "evaluate",
        "--model",
        text(&model),
        "--test",
        text(&header_only),
    ]);
    assert!(
        !run.stdout.contains("RMSE"),
        "RMSE printed for an empty test file: {}",
        run.stdout
    );
    if run.code == 0 {
        assert!(
            run.stdout.contains("0 ratings"),
            "empty test file not reported: {}",
            run.stdout
        );
    } else {
        let run = run.failure();
        assert!(
            run.stderr.contains("header_only.csv"),
            "test file not named: {}",
            run.stderr
        );
    }
}

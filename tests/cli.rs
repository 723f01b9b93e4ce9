//! Runs the `descent` binary on small rating files written to temporary
//! folders and checks its options, output formats and error messages.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use support::{descent, descent_with_stdin, listed_items, text, Run};

/// A temporary folder with a ratings file of 8 users and 10 items.
struct Fixture {
    dir: TempDir,
    ratings: PathBuf,
}

/// Rows `user,item,rating` of the fixture: users 1..=8, items 101..=110,
/// a fixed pattern of gaps and half-star ratings from 1 to 5.
fn fixture_rows() -> Vec<(u32, u32, f32)> {
    let mut rows = Vec::new();
    for user in 1..=8u32 {
        for item in 1..=10u32 {
            if (user + 2 * item) % 3 == 0 {
                continue;
            }
            let rating = 1.0 + ((user + 2 * item) % 9) as f32 * 0.5;
            rows.push((user, 100 + item, rating));
        }
    }
    rows
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("userId,movieId,rating,timestamp\n");
        for (n, (user, item, rating)) in fixture_rows().into_iter().enumerate()
        {
            csv.push_str(&format!("{user},{item},{rating},{}\n", 1000 + n));
        }
        let ratings = dir.path().join("ratings.csv");
        std::fs::write(&ratings, csv).unwrap();
        Fixture { dir, ratings }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` in the folder and returns its path.
    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Trains on the fixture ratings into `name` and returns its path.
    fn model(&self, name: &str) -> PathBuf {
        let model = self.path(name);
        train(&self.ratings, &model, &[]).success();
        model
    }
}

fn train(ratings: &Path, model: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["train", "--ratings", text(ratings)];
    args.extend(["--model", text(model), "--quiet", "--seed", "7"]);
    args.extend_from_slice(extra);
    descent(args)
}

fn predict(model: &Path, user: &str, item: &str, extra: &[&str]) -> Run {
    let mut args = vec!["predict", "--model", text(model)];
    args.extend(["--user", user, "--item", item]);
    args.extend_from_slice(extra);
    descent(args)
}

fn object_keys(json: &Value) -> Vec<&str> {
    json.as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

/// Returns the help text of `option`: its line in `descent COMMAND --help`
/// and the description lines under it.
fn option_help<'a>(help: &'a str, option: &str) -> &'a str {
    let is_option_line = |line: &str| {
        let indent = line.len() - line.trim_start().len();
        indent < 8 && line.trim_start().starts_with('-')
    };
    let start = help
        .lines()
        .position(|l| is_option_line(l) && l.contains(option))
        .unwrap_or_else(|| panic!("{option} not in help:\n{help}"));
    let lines: Vec<&str> = help.lines().collect();
    let end = (start + 1..lines.len())
        .find(|&i| is_option_line(lines[i]))
        .unwrap_or(lines.len());
    let first = lines[start].as_ptr() as usize - help.as_ptr() as usize;
    let last = lines[end - 1].as_ptr() as usize - help.as_ptr() as usize
        + lines[end - 1].len();
    &help[first..last]
}

#[test]
fn help_states_units_and_defaults() {
    let training = [
        "--factors",
        "--epochs",
        "--learning-rate",
        "--adagrad",
        "--adagrad-initial-accumulator",
        "--decay",
        "--regularization",
        "--bias-regularization",
        "--init-std",
        "--seed",
        "--threads",
        "--blocks",
        "--format",
    ];
    let mut evaluate = training.to_vec();
    evaluate.extend(["--test-fraction", "--count"]);
    let defaults: [(&str, &[&str]); 4] = [
        ("train", &training),
        ("recommend", &["--count"]),
        ("similar", &["--count"]),
        ("evaluate", &evaluate),
    ];
    for (command, options) in defaults {
        let help = descent([command, "--help"]).success().stdout;
        for option in options {
            let text = option_help(&help, option);
            assert!(
                text.contains("[default: "),
                "{command} --help: {option} has no default:\n{text}"
            );
        }
    }

    let phrases: [(&str, &str, &str); 10] = [
        ("train", "--threads", "0 uses one per core"),
        ("train", "--decay", "(0, 1]"),
        ("train", "--ratings", "timestamp"),
        ("train", "--ratings", "repeat"),
        ("train", "--model", "safetensors"),
        ("recommend", "--count", "items"),
        ("recommend", "--items", "movies.csv"),
        ("evaluate", "--test-fraction", "Share"),
        ("evaluate", "--ratings", "cold"),
        ("evaluate", "--count", "top-N"),
    ];
    for (command, option, phrase) in phrases {
        let help = descent([command, "--help"]).success().stdout;
        let text = option_help(&help, option);
        assert!(
            text.contains(phrase),
            "{command} --help: {option} lacks {phrase:?}:\n{text}"
        );
    }

    let summaries = [
        ("predict", "clipped"),
        ("predict", "fallback"),
        ("recommend", "predicted rating"),
        ("similar", "cosine"),
        ("evaluate", "RMSE"),
    ];
    for (command, phrase) in summaries {
        let help = descent([command, "--help"]).success().stdout;
        assert!(
            help.contains(phrase),
            "{command} --help lacks {phrase:?}:\n{help}"
        );
    }
}

#[test]
fn train_keeps_existing_model() {
    let fixture = Fixture::new();
    let model = fixture.write("model.st", "old contents");

    let run = train(&fixture.ratings, &model, &[]).failure();
    assert!(
        run.stderr.contains("already exists"),
        "refusal not explained: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--force"),
        "--force not suggested: {}",
        run.stderr
    );
    let kept = std::fs::read_to_string(&model).unwrap();
    assert_eq!(kept, "old contents", "existing file was changed");

    train(&fixture.ratings, &model, &["--force"]).success();
    let value = predict(&model, "1", "101", &[]).success().number();
    assert!(value.is_finite(), "prediction {value} from replaced model");
}

#[test]
fn recommend_json_in_rank_order() {
    let fixture = Fixture::new();
    let model = fixture.model("model.st");
    let movies = fixture.write(
        "movies.csv",
        "movieId,title,genres\n104,\"Dune, Part One (2021)\",Sci-Fi\n",
    );
    let run = descent([
        "recommend",
        "--model",
        text(&model),
        "--user",
        "1",
        "-n",
        "4",
        "--items",
        text(&movies),
        "--json",
    ])
    .success();

    // User 1 has not rated items 101, 104, 107 and 110.
    let json = run.json();
    let rows = json["recommendations"]
        .as_array()
        .unwrap_or_else(|| panic!("no recommendations array: {json}"));
    assert_eq!(rows.len(), 4, "list length: {json}");

    let mut previous = f64::INFINITY;
    for (rank, row) in rows.iter().enumerate() {
        assert!(row["item"].is_string(), "item is not a string: {row}");
        assert!(row.get("title").is_some(), "row has no title key: {row}");
        let score = row["score"].as_f64().unwrap();
        assert!(score.is_finite(), "score {score} is not finite");
        assert!(score <= previous, "scores not in rank order: {json}");
        assert_eq!(row["rank"], rank + 1, "rank field: {row}");
        previous = score;
        let expected_title = if row["item"] == "104" {
            Value::from("Dune, Part One (2021)")
        } else {
            Value::Null
        };
        assert_eq!(row["title"], expected_title, "title of {}", row["item"]);
    }

    let items = listed_items(&json, "recommendations");
    for (_, rated, _) in fixture_rows().into_iter().filter(|r| r.0 == 1) {
        assert!(
            !items.contains(&rated.to_string()),
            "rated item {rated} recommended: {items:?}"
        );
    }
}

#[test]
fn evaluate_json_single_object() {
    let fixture = Fixture::new();
    let args = [
        "evaluate",
        "--ratings",
        text(&fixture.ratings),
        "--test-fraction",
        "0.25",
        "--seed",
        "2",
        "--json",
    ];
    let run = descent(args).success();

    let json = run.json();
    for key in [
        "rmse",
        "mae",
        "test_ratings",
        "cold_ratings",
        "train_seconds",
    ] {
        assert!(json.get(key).is_some(), "key {key} missing: {json}");
    }
    for key in ["rmse", "mae", "train_seconds"] {
        let value = json[key].as_f64().unwrap_or(f64::NAN);
        assert!(value.is_finite(), "{key} is not a finite number: {json}");
        assert!(value >= 0.0, "{key} is negative: {json}");
    }

    let total = fixture_rows().len() as u64;
    let test = json["test_ratings"].as_u64().unwrap();
    let train = json["train_ratings"].as_u64().unwrap();
    assert_eq!(test, (total as f64 * 0.25).round() as u64, "test rows");
    assert_eq!(train + test, total, "train and test rows add up");
    assert!(
        json["cold_ratings"].as_u64().unwrap() <= test,
        "more cold rows than test rows: {json}"
    );

    assert!(
        run.stderr.lines().any(|l| l.starts_with("epoch")),
        "no per-epoch lines on standard error without --quiet"
    );
}

#[test]
fn predict_fallback_marked() {
    let fixture = Fixture::new();
    let model = fixture.model("model.st");
    let cases = [
        ("1", "101", None),
        ("99", "101", Some("unknown_user")),
        ("1", "999", Some("unknown_item")),
        ("99", "999", Some("unknown_user_and_item")),
    ];
    for (user, item, fallback) in cases {
        let run = predict(&model, user, item, &[]).success();
        let value = run.number();
        assert!(
            (1.0..=5.0).contains(&value),
            "{user}/{item}: {value} outside the training range"
        );
        let marked = run.stdout.contains("fallback");
        assert_eq!(
            marked,
            fallback.is_some(),
            "{user}/{item}: text marking: {}",
            run.stdout
        );

        let json = predict(&model, user, item, &["--json"]).success().json();
        assert_eq!(
            json["fallback"],
            fallback.map_or(Value::Null, Value::from),
            "{user}/{item}: JSON fallback field"
        );
        let exact = json["prediction"].as_f64().unwrap();
        assert!(
            (exact - value).abs() < 1e-4,
            "{user}/{item}: text {value} and JSON {exact} differ"
        );
    }
}

#[test]
fn similar_lists_other_items() {
    let fixture = Fixture::new();
    let model = fixture.model("model.st");
    let run = descent([
        "similar",
        "--model",
        text(&model),
        "--item",
        "101",
        "-n",
        "4",
        "--json",
    ])
    .success();
    let json = run.json();
    assert_eq!(json["similar_to"], "101", "similar_to field: {json}");
    let items = listed_items(&json, "similar");
    assert_eq!(items.len(), 4, "list length: {json}");
    assert!(
        !items.iter().any(|i| i == "101"),
        "item listed as its own match"
    );
    let scores: Vec<f64> = json["similar"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["score"].as_f64().unwrap())
        .collect();
    for pair in scores.windows(2) {
        assert!(pair[0] >= pair[1], "scores not in order: {scores:?}");
    }
    for score in &scores {
        assert!(
            (-1.0001..=1.0001).contains(score),
            "cosine {score} outside -1..1"
        );
    }

    let run = descent(["similar", "--model", text(&model), "--item", "999"]);
    let run = run.failure();
    assert!(
        run.stderr.contains("unknown item 999"),
        "unknown item not named: {}",
        run.stderr
    );
}

#[test]
fn skip_bad_rows_reports_count() {
    let fixture = Fixture::new();
    let ratings = fixture.write(
        "bad.csv",
        "user,item,rating\n1,101,4\n1,102,x\n2,101\n2,102,3\n3,101,5\n",
    );
    let model = fixture.path("model.st");
    let run = train(&ratings, &model, &[]).failure();
    assert!(
        run.stderr.contains("bad.csv:3:"),
        "first bad row: {}",
        run.stderr
    );
    assert!(!model.exists(), "model written despite bad rows");

    let run = train(&ratings, &model, &["--skip-bad-rows", "--json"]);
    let run = run.success();
    let json = run.json();
    assert_eq!(json["skipped_rows"], 2, "skipped count: {json}");
    assert_eq!(json["ratings"], 3, "ratings kept: {json}");
    for line in ["bad.csv:3:", "bad.csv:4:"] {
        assert!(
            run.stderr.contains(line),
            "skipped row {line} not named: {}",
            run.stderr
        );
    }

    let model = fixture.path("text.st");
    let run = train(&ratings, &model, &["--skip-bad-rows"]).success();
    let summary = run.summary();
    assert!(
        summary.notes.contains("2 bad rows skipped"),
        "summary lacks the skipped count: {summary:?}"
    );
}

#[test]
fn missing_ratings_file_named() {
    let fixture = Fixture::new();
    let missing = fixture.path("no-such-ratings.csv");
    let model = fixture.path("model.st");
    let run = train(&missing, &model, &[]).failure();
    assert!(
        run.stderr.contains(text(&missing)),
        "path not named: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("No such file"),
        "cause not given: {}",
        run.stderr
    );
    assert!(!model.exists(), "model written without ratings");
}

#[test]
fn missing_model_folder_rejected() {
    let fixture = Fixture::new();
    let model = fixture.path("no-such-folder/model.st");
    let run = train(&fixture.ratings, &model, &[]).failure();
    assert!(
        run.stderr.contains("no-such-folder"),
        "folder not named: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("read "),
        "ratings read before the folder was checked: {}",
        run.stderr
    );
}

#[test]
fn format_option_overrides_detection() {
    let fixture = Fixture::new();
    let spaced = fixture.write("spaced.txt", "1 101 4\n1 102 3\n2 101 5\n");
    let model = fixture.path("model.st");

    let run = train(&spaced, &model, &["--format", "csv"]).failure();
    assert!(
        run.stderr.contains("spaced.txt:1:"),
        "file and line not named: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("commas"),
        "separator not named: {}",
        run.stderr
    );
    assert!(!model.exists(), "model written despite the error");

    let json = train(&spaced, &model, &["--format", "space", "--json"])
        .success()
        .json();
    assert_eq!(json["ratings"], 3, "ratings with --format space: {json}");

    // A tab-separated file with commas in no field reads the same either
    // way, so detection and the option agree.
    let tabbed = fixture.write("u.data", "1\t101\t4\t9\n2\t101\t5\t9\n");
    let detected = train(&tabbed, &fixture.path("a.st"), &["--json"]);
    let forced = train(
        &tabbed,
        &fixture.path("b.st"),
        &["--json", "--format", "tsv"],
    );
    let (detected, forced) =
        (detected.success().json(), forced.success().json());
    assert_eq!(detected["ratings"], 2, "detected tab format: {detected}");
    assert_eq!(forced["ratings"], 2, "forced tab format: {forced}");

    let run = descent(["train", "--format", "xml", "--ratings", "x"]);
    assert_eq!(run.code, 2, "unknown --format value accepted");
    assert!(
        run.stderr.contains("xml"),
        "bad value not named: {}",
        run.stderr
    );
}

#[test]
fn bad_learning_rate_rejected() {
    let fixture = Fixture::new();
    for value in ["0", "-1", "-0.5", "inf", "NaN", "-inf"] {
        let model = fixture.path(&format!("{value}.st"));
        let run = train(&fixture.ratings, &model, &["--learning-rate", value]);
        // Non-finite values fail as usage errors (2), the rest as settings
        // out of range (1).
        assert!([1, 2].contains(&run.code), "{value}: exit {}", run.code);
        assert!(
            run.stderr
                .contains(&format!("invalid --learning-rate {value}")),
            "{value}: option and value not named: {}",
            run.stderr
        );
        assert!(!model.exists(), "{value}: model written");
    }
    let model = fixture.path("abc.st");
    let run = train(&fixture.ratings, &model, &["--learning-rate", "abc"]);
    assert_eq!(run.code, 2, "non-number accepted: {}", run.stderr);
    assert!(
        run.stderr.contains("--learning-rate"),
        "option not named: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("abc"),
        "value not named: {}",
        run.stderr
    );
    assert!(!model.exists(), "model written for a non-number");
}

#[test]
fn adagrad_options_saved_and_checked() {
    let fixture = Fixture::new();
    for (value, expected) in [("false", false), ("true", true)] {
        let model = fixture.path(&format!("adagrad-{value}.st"));
        let json =
            train(&fixture.ratings, &model, &["--adagrad", value, "--json"])
                .success()
                .json();
        assert_eq!(json["params"]["adagrad"], expected, "{json}");
    }

    let model = fixture.path("maybe.st");
    let run = train(&fixture.ratings, &model, &["--adagrad", "maybe"]);
    assert_eq!(run.code, 2, "--adagrad maybe accepted: {}", run.stderr);
    assert!(
        run.stderr.contains("maybe"),
        "value not named: {}",
        run.stderr
    );

    for value in ["0", "-1", "inf"] {
        let model = fixture.path(&format!("initial-{value}.st"));
        let extra = ["--adagrad-initial-accumulator", value];
        let run = train(&fixture.ratings, &model, &extra);
        assert!([1, 2].contains(&run.code), "{value}: exit {}", run.code);
        let expected = format!("invalid --adagrad-initial-accumulator {value}");
        assert!(run.stderr.contains(&expected), "{value}: {}", run.stderr);
        assert!(!model.exists(), "{value}: model written");
    }
}

#[test]
fn negative_numbers_reach_validation() {
    let fixture = Fixture::new();
    let cases = [
        ("--decay", "-0.5", "invalid --decay -0.5"),
        ("--regularization", "-1", "invalid --regularization -1"),
        ("--init-std", "-0.1", "invalid --init-std -0.1"),
        ("--epochs", "-3", "--epochs"),
        ("--factors", "-1", "--factors"),
    ];
    for (option, value, message) in cases {
        let model = fixture.path("model.st");
        let run = train(&fixture.ratings, &model, &[option, value]);
        assert!(run.code == 1 || run.code == 2, "{option} {value} accepted");
        assert!(
            run.stderr.contains(message),
            "{option} {value}: message lacks {message:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(value),
            "{option} {value}: value not named: {}",
            run.stderr
        );
        assert!(!model.exists(), "{option} {value}: model written");
    }
}

#[test]
fn evaluate_saved_model_on_test() {
    let fixture = Fixture::new();
    let model = fixture.model("model.st");
    let test = fixture.write(
        "test.csv",
        "userId,movieId,rating\n1,101,4\n2,105,3.5\n99,101,2\n1,999,5\n",
    );
    let args = ["evaluate", "--model", text(&model), "--test", text(&test)];
    let run = descent(args).success();
    assert!(
        run.stdout.contains("test: 4 ratings"),
        "test count missing: {}",
        run.stdout
    );
    assert!(run.stdout.contains("RMSE"), "no RMSE: {}", run.stdout);
    assert!(
        !run.stdout.contains("trained in"),
        "training time shown for a saved model: {}",
        run.stdout
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json = descent(json_args).success().json();
    assert_eq!(json["test_ratings"], 4, "test rows: {json}");
    assert_eq!(json["cold_ratings"], 2, "cold rows: {json}");
    assert_eq!(json["cold"]["unknown_user"], 1, "unknown users: {json}");
    assert_eq!(json["cold"]["unknown_item"], 1, "unknown items: {json}");
    assert!(json["train_seconds"].is_null(), "train_seconds: {json}");
    let rmse = json["rmse"].as_f64().unwrap();
    assert!(rmse.is_finite(), "RMSE {rmse} is not finite");
    assert!(rmse >= 0.0, "RMSE {rmse} is negative");
    let keys = object_keys(&json);
    assert!(keys.contains(&"mae"), "no mae key: {keys:?}");
    let seen = &json["test_ratings_seen_in_training"];
    assert_eq!(seen, 0, "no test pair was trained on: {json}");
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn evaluate_warns_test_seen_in_training() {
    let fixture = Fixture::new();
    let model = fixture.model("model.st");
    let ratings = text(&fixture.ratings);
    let args = ["evaluate", "--model", text(&model), "--test", ratings];
    let run = descent(args).success();
    let rows = fixture_rows().len();
    let expected = format!("warning: {rows} of {rows} test ratings are");
    assert!(run.stderr.contains(&expected), "{}", run.stderr);

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json = descent(json_args).success().json();
    let seen = &json["test_ratings_seen_in_training"];
    assert_eq!(seen, rows, "seen pairs: {json}");
}

#[test]
fn ranking_scores_not_negative_zero() {
    let fixture = Fixture::new();
    let model = fixture.model("model.st");
    // Every test row was rated in training, so no list can contain one.
    let args = [
        "evaluate",
        "--model",
        text(&model),
        "--test",
        text(&fixture.ratings),
    ];
    let run = descent(args).success();
    assert!(
        run.stdout.contains("NDCG 0.0000"),
        "NDCG of lists without hits: {}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("-0.0"),
        "negative zero: {}",
        run.stdout
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let run = descent(json_args).success();
    assert!(
        !run.stdout.contains("-0.0"),
        "negative zero: {}",
        run.stdout
    );
}

#[test]
fn model_file_reproducible() {
    let fixture = Fixture::new();
    let first = fixture.path("first.st");
    let second = fixture.path("second.st");
    train(&fixture.ratings, &first, &["--threads", "2"]).success();
    train(&fixture.ratings, &second, &["--threads", "2"]).success();
    let first_bytes = std::fs::read(&first).unwrap();
    let second_bytes = std::fs::read(&second).unwrap();
    assert!(
        first_bytes == second_bytes,
        "two trainings with the same settings wrote different files"
    );

    // The same seed and blocks give the same factors for any thread count.
    let single = fixture.path("single.st");
    let blocks = ["--threads", "1", "--blocks", "8"];
    train(&fixture.ratings, &single, &blocks).success();
    let double = fixture.path("double.st");
    let blocks = ["--threads", "2", "--blocks", "8"];
    train(&fixture.ratings, &double, &blocks).success();
    for (user, item) in [("1", "104"), ("5", "110"), ("8", "101")] {
        let a = predict(&single, user, item, &[]).success().stdout;
        let b = predict(&double, user, item, &[]).success().stdout;
        assert_eq!(a, b, "{user}/{item}: 1 and 2 threads differ");
    }
}

#[test]
fn damaged_model_rejected() {
    let fixture = Fixture::new();
    let model = fixture.model("model.st");
    let bytes = std::fs::read(&model).unwrap();
    let cuts = [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1];
    for cut in cuts {
        let damaged = fixture.write("cut.st", &bytes[..cut]);
        let run = predict(&damaged, "1", "101", &[]).failure();
        assert!(
            run.stderr.contains("cut.st: not a readable descent model"),
            "cut at {cut}: {}",
            run.stderr
        );
    }
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x55;
    let damaged = fixture.write("flipped.st", &flipped);
    let run = predict(&damaged, "1", "101", &[]).failure();
    assert!(
        run.stderr.contains("checksum"),
        "changed byte not detected: {}",
        run.stderr
    );
}

#[test]
fn repeated_rows_name_lines() {
    let fixture = Fixture::new();
    let ratings = fixture.write(
        "repeats.csv",
        "user,item,rating\n1,a,4\n2,a,3\n1,a,5\n2,b,1\n2,a,2\n1,a,3\n",
    );
    let model = fixture.path("model.st");
    let run = train(&ratings, &model, &[]).success();
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning"))
        .collect();
    let all = warnings.join("\n");
    assert!(
        all.contains("user 1, item a: lines 2, 4 and 7"),
        "lines of the first pair: {all}"
    );
    assert!(
        all.contains("user 2, item a: lines 3 and 6"),
        "lines of the second pair: {all}"
    );
    assert!(all.contains("3 rows"), "count of repeats: {all}");
    let json = train(&ratings, &model, &["--force", "--json"]);
    assert_eq!(json.success().json()["duplicates"], 3, "JSON count");
    // The last row of a pair is kept.
    let value = predict(&model, "1", "a", &[]).success().number();
    assert!((1.0..=5.0).contains(&value), "prediction {value}");
}

#[test]
fn line_endings_all_read() {
    let fixture = Fixture::new();
    let endings = [("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")];
    for (name, end) in endings {
        let separators = [("csv", ","), ("tsv", "\t"), ("dat", "::")];
        for (extension, separator) in separators {
            // Lines 2 and 4 are empty, and line 5 is invalid.
            let rows = ["1 101 4", "", "2 101 3", "", "2 102 x"];
            let rows: String = rows
                .iter()
                .map(|row| row.replace(' ', separator) + end)
                .collect();
            let file = format!("{name}.{extension}");
            let path = fixture.write(&file, rows);
            let model = fixture.path(&format!("{file}.st"));
            let run = train(&path, &model, &[]).failure();
            assert!(
                run.stderr.contains(&format!("{file}:5:")),
                "{file}: bad row not named by line 5: {}",
                run.stderr
            );
            assert!(!run.stderr.contains('\r'), "{file}: \\r in message");
            let json = train(&path, &model, &["--skip-bad-rows", "--json"]);
            let json = json.success().json();
            assert_eq!(json["ratings"], 2, "{file}: ratings read: {json}");
        }
    }
}

#[test]
fn malformed_rows_named() {
    let fixture = Fixture::new();
    let cases = [
        ("empty-rating.csv", "1,101,4\n2,103,\n", ":2:", "rating"),
        ("empty-user.csv", "1,101,4\n,103,4\n", ":2:", "user"),
        ("separators.csv", "1,101,4\n,,\n2,101,3\n", ":2:", "empty"),
        ("spaces.csv", "1,101,4\n  ,  ,  \n", ":2:", "empty"),
        ("dat-empty.dat", "1::101::4\n2::103::\n", ":2:", "rating"),
        ("quote.csv", "1,101,4\n1,102,\"3\n2,101,5\n", ":2:", "quote"),
        ("last-quote.csv", "1,101,4\n1,102,\"3\n", ":2:", "quote"),
        ("header.csv", "u,i,r\n1,101,4\nu,i,r\n", ":3:", "header"),
        ("semicolon.csv", "1;101;4\n", ":1:", "--format"),
        ("semicolons.csv", "1;101;4\n", ":1:", "tr ';' ','"),
        ("bars.csv", "u|i|r\n1|101|4\n", ":1:", "tr '|' ','"),
        ("decimal-comma.csv", "1;101;3,5\n", ":1:", "tr ';' ','"),
        ("spaced-bars.txt", "1 | 101 | 4\n", ":1:", "tr '|' ','"),
    ];
    for (file, contents, line, word) in cases {
        let path = fixture.write(file, contents);
        let model = fixture.path(&format!("{file}.st"));
        let run = train(&path, &model, &[]).failure();
        let error = run
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default();
        assert!(
            error.contains(&format!("{file}{line}")),
            "{file}: line not named: {}",
            run.stderr
        );
        assert!(error.contains(word), "{file}: lacks {word:?}: {error}");
        assert!(!model.exists(), "{file}: model written");
    }
}

#[test]
fn headerless_movies_csv_titles() {
    let fixture = Fixture::new();
    let model = fixture.model("model.st");
    let mut movies = String::new();
    for item in 101..=110 {
        movies.push_str(&format!("{item},Film {item} (2000),Drama|War\n"));
    }
    let movies = fixture.write("movies.csv", movies);
    let run = descent([
        "recommend",
        "--model",
        text(&model),
        "--user",
        "2",
        "--movies",
        text(&movies),
        "--json",
    ])
    .success();
    let json = run.json();
    for row in json["recommendations"].as_array().unwrap() {
        let item = row["item"].as_str().unwrap();
        assert_eq!(
            row["title"],
            format!("Film {item} (2000)"),
            "title of {item}"
        );
    }
}

fn evaluate_json(fixture: &Fixture, extra: &[&str]) -> Value {
    let mut args = vec!["evaluate", "--ratings", text(&fixture.ratings)];
    args.extend(["--factors", "8", "--epochs", "10", "--json"]);
    args.extend_from_slice(extra);
    descent(args).success().json()
}

#[test]
fn evaluate_split_methods() {
    let fixture = Fixture::new();
    let total = fixture_rows().len() as u64;
    // Users 1..8 have 6 or 7 ratings each, timestamps 1000.. in row order.
    let cases: [(&[&str], u64, &str); 4] = [
        (&["--split", "user", "--holdout", "2"], 16, "user"),
        (&["--split", "user-last", "--holdout", "1"], 8, "user-last"),
        (&["--split", "temporal", "--cutoff", "1040"], 13, "temporal"),
        (
            &["--split", "temporal", "--test-fraction", "0.25"],
            (total as f64 * 0.25).round() as u64,
            "temporal",
        ),
    ];
    for (options, test_rows, method) in cases {
        let json = evaluate_json(&fixture, options);
        assert_eq!(json["test_ratings"], test_rows, "{options:?}: {json}");
        assert_eq!(
            json["train_ratings"].as_u64().unwrap() + test_rows,
            total,
            "{options:?}: parts do not add up"
        );
        assert_eq!(json["split"]["method"], method, "{options:?}");
    }
    // Each user keeps at least one rating, so no test user is cold.
    let json = evaluate_json(&fixture, &["--split", "user-last"]);
    assert_eq!(json["cold"]["unknown_user"], 0, "{json}");
}

#[test]
fn evaluate_reports_baselines() {
    let fixture = Fixture::new();
    let json = evaluate_json(&fixture, &["--seed", "3"]);
    let baselines = &json["baselines"];
    for key in ["global_mean", "bias"] {
        for figure in ["rmse", "mae"] {
            let value = baselines[key][figure].as_f64().unwrap_or(f64::NAN);
            assert!(value.is_finite(), "{key}.{figure}: {json}");
        }
    }
    assert_eq!(baselines["bias"]["user_damping"], 10.0);
    assert_eq!(baselines["bias"]["item_damping"], 25.0);
    for key in ["precision", "recall", "ndcg", "map", "hit_rate", "coverage"] {
        assert!(json["ranking"][key].is_number(), "ranking.{key}: {json}");
        assert!(
            baselines["popularity"][key].is_number(),
            "popularity.{key}: {json}"
        );
    }

    let args = ["evaluate", "--ratings", text(&fixture.ratings)];
    let run = descent(args.iter().chain(&["--quiet"])).success();
    for label in ["model ", "bias baseline ", "global mean ", "popularity "] {
        assert!(
            run.stdout.lines().any(|l| l.starts_with(label)),
            "no {label:?} line: {}",
            run.stdout
        );
    }
}

#[test]
fn temporal_split_needs_timestamps() {
    let fixture = Fixture::new();
    let plain = fixture.write("plain.csv", "1,101,4\n1,102,3\n2,101,5\n");
    for split in ["temporal", "user-last"] {
        let run =
            descent(["evaluate", "--ratings", text(&plain), "--split", split])
                .failure();
        assert!(
            run.stderr.contains(&format!("invalid --split {split}")),
            "{split}: option not named: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("plain.csv has no timestamps"),
            "{split}: file not named: {}",
            run.stderr
        );
    }
}

#[test]
fn split_options_checked() {
    let fixture = Fixture::new();
    let ratings = text(&fixture.ratings);
    let cases: [(&[&str], &str); 2] = [
        (&["--holdout", "2"], "invalid --holdout 2"),
        (&["--split", "user", "--cutoff", "5"], "invalid --cutoff 5"),
    ];
    for (options, message) in cases {
        let mut args = vec!["evaluate", "--ratings", ratings];
        args.extend_from_slice(options);
        let run = descent(args).failure();
        assert!(
            run.stderr.contains(message),
            "{options:?}: lacks {message:?}: {}",
            run.stderr
        );
    }
    // Values out of range are usage errors, found before any file is read.
    let cases: [(&[&str], &str); 2] = [
        (&["--folds", "1"], "invalid --folds 1"),
        (
            &["--early-stop", "--validation-fraction", "1.5"],
            "invalid --validation-fraction 1.5",
        ),
    ];
    for (options, message) in cases {
        let mut args = vec!["evaluate", "--ratings", ratings];
        args.extend_from_slice(options);
        let run = descent(args);
        assert_eq!(run.code, 2, "{options:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(message),
            "{options:?}: lacks {message:?}: {}",
            run.stderr
        );
    }
    let run = descent([
        "evaluate",
        "--ratings",
        ratings,
        "--folds",
        "3",
        "--split",
        "user",
    ]);
    assert_eq!(run.code, 2, "--folds with --split accepted");
}

#[test]
fn evaluate_folds_summary() {
    let fixture = Fixture::new();
    let total = fixture_rows().len() as u64;
    let parallel = evaluate_json(&fixture, &["--folds", "3"]);
    for key in [
        "rmse",
        "mae",
        "test_ratings",
        "cold_ratings",
        "train_seconds",
    ] {
        assert!(!parallel[key].is_null(), "key {key} missing: {parallel}");
    }
    assert_eq!(parallel["test_ratings"], total, "folds cover every row");
    let folds = parallel["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    let mean: f64 = folds
        .iter()
        .map(|f| f["rmse"].as_f64().unwrap())
        .sum::<f64>()
        / 3.0;
    let reported = parallel["rmse"].as_f64().unwrap();
    assert!((mean - reported).abs() < 1e-12, "{mean} vs {reported}");
    assert!(parallel["summary"]["rmse"]["std"].as_f64().unwrap() >= 0.0);
    assert!(parallel["baselines"]["bias"]["rmse"].is_number());
    assert!(parallel["baselines"]["popularity"]["ndcg"].is_number());

    let sequential =
        evaluate_json(&fixture, &["--folds", "3", "--parallel-folds", "1"]);
    assert_eq!(parallel["rmse"], sequential["rmse"], "modes differ");
    assert_eq!(parallel["ranking"], sequential["ranking"], "modes differ");
}

#[test]
fn early_stop_in_train_and_evaluate() {
    let fixture = Fixture::new();
    let model = fixture.path("model.st");
    let curve = fixture.path("curve.csv");
    let json = train(
        &fixture.ratings,
        &model,
        &[
            "--early-stop",
            "--validation-fraction",
            "0.2",
            "--patience",
            "2",
            "--epochs",
            "30",
            "--curve",
            text(&curve),
            "--json",
        ],
    )
    .success()
    .json();
    let stop = &json["early_stop"];
    let best = stop["best_epoch"].as_u64().unwrap();
    let run = stop["epochs_run"].as_u64().unwrap();
    assert!(best >= 1, "{stop}");
    assert!(best <= run, "{stop}");
    assert!(run <= 30, "{stop}");
    assert_eq!(json["params"]["epochs"], best, "saved epochs: {json}");

    // The saved model is the best epoch count trained on every rating, so
    // it equals the model of a plain run with that many epochs.
    let plain = fixture.path("plain.st");
    let epochs = best.to_string();
    train(&fixture.ratings, &plain, &["--epochs", &epochs]).success();
    let saved = std::fs::read(&model).unwrap();
    assert!(saved == std::fs::read(&plain).unwrap(), "models differ");

    let rows = std::fs::read_to_string(&curve).unwrap();
    assert_eq!(rows.lines().count() as u64, run + 1, "curve rows: {rows}");
    let first = rows.lines().nth(1).unwrap();
    assert!(
        first.split(',').nth(3).is_some_and(|v| !v.is_empty()),
        "no validation RMSE: {first}"
    );

    let json = evaluate_json(&fixture, &["--early-stop", "--seed", "4"]);
    assert!(json["early_stop"]["best_epoch"].is_u64(), "{json}");
    let json = evaluate_json(&fixture, &["--seed", "4"]);
    assert!(json["early_stop"].is_null(), "{json}");
}

#[test]
fn curve_files_not_replaced() {
    let fixture = Fixture::new();
    let curve = fixture.path("curve.json");
    let plot = fixture.path("curve.svg");
    let options = ["--curve", text(&curve), "--plot", text(&plot)];
    evaluate_json(&fixture, &options);
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(&curve).unwrap())
            .unwrap();
    let epochs = json["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 10, "one point per epoch");
    assert!(epochs[0]["test_rmse"].is_number(), "{}", epochs[0]);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg"), "not SVG: {}", &svg[..20]);

    let mut args = vec!["evaluate", "--ratings", text(&fixture.ratings)];
    args.extend(options);
    let run = descent(&args).failure();
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    args.push("--force");
    descent(&args).success();

    let run = descent([
        "evaluate",
        "--ratings",
        text(&fixture.ratings),
        "--curve",
        "curve.txt",
    ])
    .failure();
    assert!(
        run.stderr.contains("invalid --curve curve.txt"),
        "{}",
        run.stderr
    );
}

#[test]
fn several_ratings_files_join() {
    let fixture = Fixture::new();
    let extra = fixture.write(
        "extra.csv",
        "userId,movieId,rating,timestamp\n9,101,4,5000\n9,102,2,5001\n\
         1,102,1,5002\n",
    );
    let json = evaluate_json(
        &fixture,
        &["--ratings", text(&fixture.ratings), text(&extra)],
    );
    // User 1 rated item 102 in both files; the later file's row is kept.
    let total = fixture_rows().len() as u64 + 2;
    let train = json["train_ratings"].as_u64().unwrap();
    let test = json["test_ratings"].as_u64().unwrap();
    assert_eq!(train + test, total, "{json}");
}

#[test]
fn matrix_format_reads_dense_file() {
    let fixture = Fixture::new();
    let dense = fixture.write("dense.ascii", "0 4 0 2\n5 0 0 1\n0 3 3 0\n");
    let model = fixture.path("dense.st");
    let json = train(&dense, &model, &["--format", "matrix", "--json"])
        .success()
        .json();
    assert_eq!(json["ratings"], 6);
    assert_eq!(json["users"], 3);
    assert_eq!(json["items"], 4);
    let value = predict(&model, "1", "0", &[]).success().number();
    assert!((1.0..=5.0).contains(&value), "prediction {value}");

    // Read as `user item rating timestamp` rows, a matrix of up to four
    // columns is valid; a wider one is not, and the error names the
    // option.
    let wide = fixture.write("wide.ascii", "0 4 0 2 0 1\n5 0 0 1 0 0\n");
    let run = train(&wide, &fixture.path("guess.st"), &[]).failure();
    assert!(
        run.stderr.contains("--format matrix"),
        "no hint for a dense matrix: {}",
        run.stderr
    );
}

fn tune_args<'a>(fixture: &'a Fixture, out: &'a Path) -> Vec<&'a str> {
    tune_space(fixture, out, "4,8", "0.01")
}

fn tune_space<'a>(
    fixture: &'a Fixture,
    out: &'a Path,
    factors: &'a str,
    learning_rate: &'a str,
) -> Vec<&'a str> {
    vec![
        "tune",
        "--ratings",
        text(&fixture.ratings),
        "--out",
        text(out),
        "--factors",
        factors,
        "--epochs",
        "3,6",
        "--learning-rate",
        learning_rate,
        "--regularization",
        "0.05",
        "--regularization-exponent",
        "0.75",
        "--folds",
        "3",
        "--quiet",
    ]
}

/// Reads the `results` of a tune.json file, without timing fields.
fn tune_results(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("tune.json")).unwrap();
    let mut json: Value = serde_json::from_str(&text).unwrap();
    for row in json["results"].as_array_mut().unwrap() {
        row.as_object_mut().unwrap().remove("train_seconds");
    }
    json["results"].take()
}

#[test]
fn tune_writes_reproducible_results() {
    let fixture = Fixture::new();
    let out = fixture.path("tune");
    let run = descent(tune_args(&fixture, &out)).success();
    let csv = std::fs::read_to_string(out.join("tune.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "header and 4 candidates: {csv}");
    assert!(csv.starts_with("rank,factors,epochs,"), "{csv}");
    let best = std::fs::read_to_string(out.join("best-args.txt")).unwrap();
    assert!(best.starts_with("--factors "), "{best}");
    let command = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("descent train --ratings"))
        .unwrap_or_else(|| panic!("no train command: {}", run.stdout));
    assert!(command.ends_with(best.trim()), "{command} vs {best}");
    let first = tune_results(&out);

    let run = descent(tune_args(&fixture, &out)).failure();
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    let mut again = tune_args(&fixture, &out);
    again.push("--force");
    descent(again).success();
    assert_eq!(first, tune_results(&out), "same seed, other results");

    // The printed options train a model.
    let model = fixture.path("best.st");
    let mut args = vec!["train", "--ratings", text(&fixture.ratings)];
    args.extend(["--model", text(&model), "--quiet"]);
    args.extend(best.split_whitespace());
    descent(args).success();
}

#[test]
fn tune_rejects_bad_space() {
    let fixture = Fixture::new();
    let out = fixture.path("tune");
    let args = tune_space(&fixture, &out, "4,8", "0.001..0.1");
    let run = descent(&args).failure();
    assert!(
        run.stderr.contains("invalid --learning-rate 0.001..0.1"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--search random"), "{}", run.stderr);
    let args = tune_space(&fixture, &out, "eight", "0.01");
    let run = descent(&args).failure();
    assert!(
        run.stderr.contains("invalid --factors eight"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "output folder made for a rejected search");
}

/// Runs `descent train` on a small ratings file with extra arguments and
/// returns the exit success and standard error.
fn train_small(dir: &std::path::Path, extra: &[&str]) -> (bool, String) {
    let ratings = dir.join("small.csv");
    std::fs::write(&ratings, "1,10,4\n1,20,3\n2,10,5\n2,30,2\n3,20,4\n")
        .unwrap();
    let output = assert_cmd::Command::cargo_bin("descent")
        .unwrap()
        .current_dir(dir)
        .args(["train", "--ratings", "small.csv", "--epochs", "2", "-q"])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.success(), stderr)
}

#[test]
fn force_never_replaces_special_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    let (ok, stderr) =
        train_small(dir.path(), &["--model", "folder", "--force"]);
    assert!(!ok, "training onto a folder succeeded");
    assert!(stderr.contains("is a folder"), "{stderr}");
    assert!(dir.path().join("folder").is_dir());

    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("small.csv", dir.path().join("link"))
            .unwrap();
        let (ok, stderr) =
            train_small(dir.path(), &["--model", "link", "--force"]);
        assert!(!ok, "training onto a symbolic link succeeded");
        assert!(stderr.contains("symbolic link"), "{stderr}");
    }
}

#[test]
fn outputs_must_not_share_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr) = train_small(
        dir.path(),
        &["--model", "out.json", "--curve", "out.json", "--force"],
    );
    assert!(!ok, "model and curve in one file succeeded");
    assert!(
        stderr.contains("--curve out.json names the same file as --model"),
        "{stderr}"
    );
    assert!(!dir.path().join("out.json").exists());

    let (ok, stderr) =
        train_small(dir.path(), &["--model", "small.csv", "--force"]);
    assert!(!ok, "model over the ratings file succeeded");
    assert!(stderr.contains("same file as --ratings"), "{stderr}");
}

#[test]
fn zero_init_std_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr) =
        train_small(dir.path(), &["--model", "m.dsc", "--init-std", "0"]);
    assert!(!ok, "--init-std 0 was accepted");
    assert!(stderr.contains("invalid --init-std 0"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn model_file_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (ok, stderr) = train_small(dir.path(), &["--model", "m.dsc"]);
    assert!(ok, "{stderr}");
    let mode = std::fs::metadata(dir.path().join("m.dsc"))
        .unwrap()
        .permissions()
        .mode();
    // Under any usual umask (022, 002) others may read; 0600 would not.
    assert_ne!(mode & 0o777, 0o600, "mode {mode:o}");
}

/// Returns the text of the JSON number at `key` in `json_line`, as
/// written, such as `0.95` in `"relevance_threshold":0.95`.
fn raw_number<'a>(json_line: &'a str, key: &str) -> &'a str {
    let marker = format!("\"{key}\":");
    let start = json_line
        .find(&marker)
        .unwrap_or_else(|| panic!("no {key} in {json_line}"))
        + marker.len();
    let rest = &json_line[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    &rest[..end]
}

/// Asserts that `raw` is the shortest decimal of an `f32`, as an `f32`
/// prints, rather than an `f32` widened to `f64` such as
/// 0.014999999664723873.
fn assert_shortest_f32(raw: &str, what: &str) {
    let value: f64 = raw.parse().unwrap_or_else(|_| panic!("{what}: {raw}"));
    assert_eq!(raw, (value as f32).to_string(), "{what}");
}

#[test]
fn numbers_printed_as_typed() {
    let fixture = Fixture::new();
    // The fixture's ratings moved to a 0.5 to 1.1 scale, on which the
    // default relevance threshold is 0.95 and f32 arithmetic gives
    // 0.95000005.
    let mut csv = String::from("userId,movieId,rating\n");
    for (user, item, rating) in fixture_rows() {
        let scaled = 0.5 + f64::from(rating - 1.0) * 0.15;
        csv.push_str(&format!(
            "{user},{item},{}\n",
            (scaled * 100.0).round() / 100.0
        ));
    }
    // The fixture's lowest rating is 1.5, so a row of 0.5 completes the
    // scale.
    csv.push_str("9,101,0.5\n");
    let ratings = fixture.write("scaled.csv", csv);
    // Training on every rating keeps the whole range.
    let path = text(&ratings);
    let base = ["evaluate", "--train", path, "--test", path, "--quiet"];

    let run = descent(base).success();
    assert!(
        run.stdout.contains("relevant: test rating >= 0.95;"),
        "{}",
        run.stdout
    );
    let mut args = base.to_vec();
    args.extend(["--relevance-threshold", "0.93", "--json"]);
    let run = descent(&args).success();
    let line = run.stdout.trim();
    assert_eq!(raw_number(line, "relevance_threshold"), "0.93", "{line}");
    assert_eq!(raw_number(line, "learning_rate"), "0.0175", "{line}");
    assert_eq!(raw_number(line, "decay"), "0.98", "{line}");

    let run = descent([
        "evaluate",
        "--ratings",
        path,
        "--folds",
        "2",
        "--relevance-threshold",
        "0.93",
        "--quiet",
        "--json",
    ])
    .success();
    let line = run.stdout.trim();
    assert_eq!(raw_number(line, "relevance_threshold"), "0.93", "{line}");

    let model = fixture.path("scaled.st");
    let run = train(&ratings, &model, &["--json"]).success();
    let line = run.stdout.trim();
    assert_eq!(raw_number(line, "rating_max"), "1.1", "{line}");
    assert_eq!(raw_number(line, "init_std"), "0.02", "{line}");
    assert_shortest_f32(raw_number(line, "global_mean"), "global mean");

    let run = predict(&model, "1", "101", &["--json"]).success();
    assert_shortest_f32(raw_number(run.stdout.trim(), "prediction"), "predict");
    let run = descent([
        "recommend",
        "--model",
        text(&model),
        "--user",
        "1",
        "--json",
    ])
    .success();
    assert_shortest_f32(raw_number(run.stdout.trim(), "score"), "score");
}

#[test]
fn output_format_named_apart_from_input() {
    let fixture = Fixture::new();
    let model = fixture.model("model.st");
    let help = descent(["recommend", "--help"]).success().stdout;
    assert!(help.contains("--output-format <"), "{help}");
    assert!(!help.contains("--format <"), "{help}");
    for command in ["train", "evaluate", "tune"] {
        let help = descent([command, "--help"]).success().stdout;
        let text = option_help(&help, "--format");
        assert!(text.contains("input"), "{command}: {text}");
        assert!(text.contains("input-format"), "{command}: {text}");
    }

    let batch = ["recommend", "--model", text(&model), "--all", "-n", "2"];
    let mut args = batch.to_vec();
    args.extend(["--output-format", "jsonl"]);
    let run = descent(&args).success();
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let first: Value =
        serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["user"], "1", "{}", run.stdout);

    // The former spelling still works, with a warning.
    let mut args = batch.to_vec();
    args.extend(["--format", "jsonl"]);
    let old = descent(&args).success();
    assert_eq!(old.stdout, run.stdout);
    assert!(old.stderr.contains("--output-format"), "{}", old.stderr);

    let mut args = batch.to_vec();
    args.extend(["--format", "jsonl", "--output-format", "csv"]);
    assert_eq!(descent(&args).code, 2, "both spellings accepted");

    let mut args = vec!["train", "--ratings", text(&fixture.ratings)];
    let input = fixture.path("input.st");
    args.extend(["--model", text(&input), "--quiet"]);
    args.extend(["--input-format", "csv"]);
    descent(&args).success();
}

/// Returns the repeated names among `names`.
fn repeated<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = std::collections::BTreeSet::new();
    names
        .into_iter()
        .filter(|name| !seen.insert(name.to_lowercase()))
        .collect()
}

#[test]
fn tune_columns_appear_once() {
    let fixture = Fixture::new();
    for metric in ["rmse", "ndcg"] {
        let out = fixture.path(&format!("tune-{metric}"));
        let mut args = tune_args(&fixture, &out);
        args.extend(["--metric", metric]);
        let run = descent(&args).success();
        let header = run.stdout.lines().next().unwrap();
        let columns: Vec<&str> = header.split_whitespace().collect();
        assert_eq!(repeated(columns.iter().copied()), Vec::<&str>::new());
        assert!(columns.contains(&metric), "{metric}: {header}");
        assert!(columns.contains(&"rmse"), "{metric}: {header}");

        let csv = std::fs::read_to_string(out.join("tune.csv")).unwrap();
        let header = csv.lines().next().unwrap();
        assert_eq!(repeated(header.split(',')), Vec::<&str>::new());

        let results = tune_results(&out);
        for row in results.as_array().unwrap() {
            let keys = object_keys(row);
            assert_eq!(repeated(keys.iter().copied()), Vec::<&str>::new());
            assert!(!keys.contains(&"score"), "{metric}: {row}");
            assert!(keys.contains(&"rmse"), "{metric}: {row}");
            let ranked = keys.contains(&"ndcg");
            assert_eq!(ranked, metric == "ndcg", "{metric}: {row}");
        }
    }
}

#[test]
fn counts_of_one_singular() {
    let fixture = Fixture::new();
    let one = fixture.write("one.csv", "user,item,rating\n1,101,4\n1,102,x\n");
    let model = fixture.path("one.st");
    let run = train(&one, &model, &["--skip-bad-rows", "--factors", "2"]);
    let run = run.success();
    let line = run.stderr.lines().find(|l| l.starts_with("read ")).unwrap();
    assert!(line.contains(": 1 rating, 1 user, 1 item,"), "{line}");
    assert!(line.contains("1 bad row skipped"), "{line}");
    assert!(
        run.stdout.starts_with(
            "trained 2 factors for 60 epochs on 1 rating (1 user, 1 item)"
        ),
        "{}",
        run.stdout
    );

    let model = fixture.model("model.st");
    let run = descent([
        "recommend",
        "--model",
        text(&model),
        "--user",
        "1",
        "--exclude",
        "101,104,107",
    ])
    .success();
    let heading = run.stdout.lines().next().unwrap();
    assert!(
        heading.contains("of 1 unrated item for user 1"),
        "{heading}"
    );
    assert!(heading.ends_with("before clipping to the rating range"));
}

#[test]
fn empty_candidates_file_warns() {
    let fixture = Fixture::new();
    let model = fixture.model("model.st");
    let empty = fixture.write("candidates.txt", "# none today\n\n");
    let run = descent([
        "recommend",
        "--model",
        text(&model),
        "--user",
        "1",
        "--candidates",
        text(&empty),
    ])
    .success();
    assert!(
        run.stderr.contains("candidates.txt: no item ids"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.starts_with("top 0 of 0 unrated items"),
        "{}",
        run.stdout
    );
}

#[test]
fn unreachable_relevance_threshold_noted() {
    let fixture = Fixture::new();
    let run = descent([
        "evaluate",
        "--ratings",
        text(&fixture.ratings),
        "--relevance-threshold",
        "100",
        "--epochs",
        "2",
        "--quiet",
    ])
    .success();
    assert!(
        run.stdout
            .contains("top-N not measured: no test user has a rating"),
        "{}",
        run.stdout
    );
}

#[test]
fn evaluate_min_item_ratings_lists() {
    let fixture = Fixture::new();
    let all = evaluate_json(&fixture, &["--seed", "4"]);
    assert_eq!(all["ranking"]["min_item_ratings"], 1, "{all}");
    assert!(
        all["ranking"]["covered_items"].as_u64().unwrap() > 0,
        "{all}"
    );

    // No item of the fixture has 100 ratings, so every list is empty.
    let args = ["--seed", "4", "--min-item-ratings", "100"];
    let none = evaluate_json(&fixture, &args);
    for ranking in [&none["ranking"], &none["baselines"]["popularity"]] {
        assert_eq!(ranking["min_item_ratings"], 100, "{none}");
        assert_eq!(ranking["covered_items"], 0, "{none}");
        assert_eq!(ranking["users"], all["ranking"]["users"], "{none}");
    }
    assert_eq!(none["rmse"], all["rmse"], "RMSE changed");

    let mut args = vec!["evaluate", "--ratings", text(&fixture.ratings)];
    args.extend(["--epochs", "2", "--min-item-ratings", "100"]);
    let run = descent(args).success();
    assert!(
        run.stderr.contains("no list contains an item"),
        "{}",
        run.stderr
    );
}

#[test]
fn dash_reads_stdin_and_writes_stdout() {
    let fixture = Fixture::new();
    let model = fixture.path("piped.st");
    let csv = std::fs::read(&fixture.ratings).unwrap();
    let mut args = vec!["train", "--ratings", "-", "--model", text(&model)];
    args.extend(["--seed", "7"]);
    let run = descent_with_stdin(args, &csv).success();
    assert!(run.stderr.contains("read -:"), "{}", run.stderr);
    let plain = fixture.path("plain.st");
    train(&fixture.ratings, &plain, &[]).success();
    let piped = std::fs::read(&model).unwrap();
    assert!(piped == std::fs::read(&plain).unwrap(), "models differ");

    // --out - writes the lists to standard output, not to a file named -.
    let users = fixture.write("users.txt", "1\n2\n");
    let mut args = vec!["recommend", "--model", text(&model)];
    args.extend(["--users", text(&users), "--out", "-"]);
    let run = descent(args).success();
    assert!(
        run.stdout.starts_with("user,rank,item,score"),
        "{}",
        run.stdout
    );
    assert!(!Path::new("-").exists(), "a file named - was written");
}

#[test]
fn out_without_batch_explained() {
    let fixture = Fixture::new();
    let model = fixture.path("model.st");
    train(&fixture.ratings, &model, &[]).success();
    let out = fixture.path("list.csv");
    let args = ["recommend", "--model", text(&model), "--user", "1"];
    let run = descent(args.into_iter().chain(["--out", text(&out)]));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--out writes the lists of --all or --users"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "the list was written");
}

#[test]
fn predict_notes_training_pair() {
    let fixture = Fixture::new();
    let model = fixture.path("model.st");
    train(&fixture.ratings, &model, &[]).success();
    // The first row of the fixture is a training pair.
    let (user, item) = fixture_rows()
        .into_iter()
        .map(|(user, item, _)| (user.to_string(), item.to_string()))
        .next()
        .unwrap();
    let run = predict(&model, &user, &item, &[]).success();
    assert!(run.stderr.contains("in training"), "{}", run.stderr);
    assert!(run.number().is_finite(), "{}", run.stdout);
    let json = predict(&model, &user, &item, &["--json"]).success().json();
    assert_eq!(json["in_training"], true, "{json}");

    let rated: Vec<u32> = fixture_rows()
        .into_iter()
        .filter(|row| row.0.to_string() == user)
        .map(|row| row.1)
        .collect();
    let unrated = (101..=110).find(|item| !rated.contains(item)).unwrap();
    let unrated = unrated.to_string();
    let run = predict(&model, &user, &unrated, &[]).success();
    assert!(!run.stderr.contains("in training"), "{}", run.stderr);
    let json = predict(&model, &user, &unrated, &["--json"])
        .success()
        .json();
    assert_eq!(json["in_training"], false, "{json}");
}

#[test]
fn dash_misuse_rejected() {
    let fixture = Fixture::new();
    let csv = std::fs::read(&fixture.ratings).unwrap();
    let args = ["evaluate", "--train", "-", "--test", "-"];
    let run = descent_with_stdin(args, &csv).failure();
    assert!(
        run.stderr.contains("given for two inputs"),
        "{}",
        run.stderr
    );

    let args = ["train", "--ratings", text(&fixture.ratings), "--model", "-"];
    let run = descent(args).failure();
    assert!(run.stderr.contains("standard output"), "{}", run.stderr);
    assert!(!Path::new("-").exists(), "a file named - was written");

    let run = descent(["generate", "--out", "-"]).failure();
    assert!(run.stderr.contains("name a folder"), "{}", run.stderr);
    assert!(!Path::new("-").exists(), "a folder named - was made");
}

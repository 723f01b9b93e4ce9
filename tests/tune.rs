//! Runs `descent tune` on a small ratings file where some learning rates
//! make training diverge, and checks that the search goes on, ranks those
//! candidates last and names the fold that diverged.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use support::{descent, text, Run};

/// A temporary folder with a ratings file of 8 users and 10 items.
struct Fixture {
    dir: TempDir,
    ratings: PathBuf,
}

impl Fixture {
    /// Writes users 1..=8 and items 101..=110 with a fixed pattern of gaps
    /// and half-star ratings from 1 to 5, 53 ratings in all.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("userId,movieId,rating,timestamp\n");
        let mut row = 0;
        for user in 1..=8u32 {
            for item in 1..=10u32 {
                if (user + 2 * item) % 3 == 0 {
                    continue;
                }
                let rating = 1.0 + ((user + 2 * item) % 9) as f32 * 0.5;
                csv.push_str(&format!(
                    "{user},{},{rating},{}\n",
                    100 + item,
                    1000 + row
                ));
                row += 1;
            }
        }
        let ratings = dir.path().join("ratings.csv");
        std::fs::write(&ratings, csv).unwrap();
        Fixture { dir, ratings }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs a grid search over 4 factors, 3 folds and the given epochs,
/// learning rates and extra options.
fn tune(
    fixture: &Fixture,
    out: &Path,
    epochs: &str,
    learning_rate: &str,
    extra: &[&str],
) -> Run {
    let mut args = vec!["tune", "--ratings", text(&fixture.ratings)];
    args.extend(["--out", text(out), "--factors", "4"]);
    args.extend(["--epochs", epochs, "--learning-rate", learning_rate]);
    args.extend(["--regularization", "0.05"]);
    args.extend(["--regularization-exponent", "0.75", "--folds", "3"]);
    args.extend(["--quiet"]);
    args.extend_from_slice(extra);
    descent(args)
}

/// Lines of standard error that warn about a diverged candidate.
fn divergence_warnings(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|line| line.starts_with("warning: candidate "))
        .collect()
}

/// Reads tune.csv as a header and rows of fields.
fn read_csv(out: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(out.join("tune.csv")).unwrap();
    let mut lines = text.lines();
    let split = |line: &str| line.split(',').map(String::from).collect();
    let header = split(lines.next().expect("tune.csv has a header"));
    (header, lines.map(split).collect())
}

fn read_json(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("tune.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn diverged_candidates_ranked_last() {
    let fixture = Fixture::new();
    let out = fixture.path("tune");
    let run = tune(&fixture, &out, "2,4", "0.01,1", &[]).success();

    // A learning rate of 1 diverges in the first epoch of the first fold.
    let warnings = divergence_warnings(&run);
    assert_eq!(warnings.len(), 2, "{}", run.stderr);
    for warning in &warnings {
        assert!(warning.contains("--learning-rate 1 "), "{warning}");
        assert!(
            warning.contains("diverged on fold 1 of 3 at epoch 1"),
            "{warning}"
        );
    }
    assert!(warnings[0].contains("--epochs 2 "), "{}", warnings[0]);
    assert!(warnings[1].contains("--epochs 4 "), "{}", warnings[1]);

    let (header, rows) = read_csv(&out);
    assert_eq!(rows.len(), 4, "{rows:?}");
    let column = |name: &str| {
        header
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name} in {header:?}"))
    };
    let (rate, rmse, fold_1) = (
        column("learning_rate"),
        column("rmse_mean"),
        column("fold_1_rmse"),
    );
    let (diverged, fold, epoch) = (
        column("diverged"),
        column("diverged_fold"),
        column("diverged_epoch"),
    );
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), header.len(), "row {index}: {row:?}");
        assert_eq!(row[0], (index + 1).to_string(), "rank: {row:?}");
    }
    for row in &rows[..2] {
        assert_eq!(row[rate], "0.01", "finished rows first: {rows:?}");
        assert_eq!(row[diverged], "false", "{row:?}");
        assert_eq!(row[fold], "", "{row:?}");
        assert!(row[rmse].parse::<f64>().unwrap().is_finite(), "{row:?}");
    }
    for row in &rows[2..] {
        assert_eq!(row[rate], "1", "diverged rows last: {rows:?}");
        assert_eq!(row[diverged], "true", "{row:?}");
        assert_eq!(row[fold], "1", "{row:?}");
        assert_eq!(row[epoch], "1", "{row:?}");
        assert_eq!(row[rmse], "", "{row:?}");
        assert_eq!(row[fold_1], "", "{row:?}");
        assert_eq!(row[column("train_seconds")], "", "{row:?}");
    }

    let json = read_json(&out);
    assert_eq!(json["candidates"], 4, "{json}");
    assert_eq!(json["diverged_candidates"], 2, "{json}");
    assert_eq!(json["best"]["learning_rate"], 0.01, "{json}");
    let results = json["results"].as_array().unwrap();
    for row in &results[..2] {
        assert_eq!(row["diverged"], false, "{row}");
        assert!(row["rmse"]["mean"].is_f64(), "{row}");
    }
    for row in &results[2..] {
        assert_eq!(row["learning_rate"], 1.0, "{row}");
        assert_eq!(row["diverged"], true, "{row}");
        assert_eq!(row["diverged_fold"], 1, "{row}");
        assert_eq!(row["diverged_epoch"], 1, "{row}");
        assert!(row["rmse"].is_null(), "{row}");
        assert!(row["mae"].is_null(), "{row}");
        assert!(row["fold_scores"].is_null(), "{row}");
    }

    let best = std::fs::read_to_string(out.join("best-args.txt")).unwrap();
    assert!(best.contains("--learning-rate 0.01 "), "{best}");
    let command = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("descent train --ratings"))
        .unwrap_or_else(|| panic!("no train command: {}", run.stdout));
    assert!(command.ends_with(best.trim()), "{command} vs {best}");

    let table: Vec<&str> = run.stdout.lines().skip(1).take(4).collect();
    for line in &table[..2] {
        assert!(!line.contains("diverged"), "{line}");
    }
    for line in &table[2..] {
        assert!(line.contains("diverged"), "{line}");
    }
    assert!(
        run.stdout.contains("2 of 4 candidates diverged"),
        "{}",
        run.stdout
    );
}

#[test]
fn diverged_ranking_metric_null() {
    let fixture = Fixture::new();
    let out = fixture.path("tune");
    let extra = ["--metric", "ndcg"];
    let run = tune(&fixture, &out, "2", "0.01,1", &extra).success();
    assert_eq!(divergence_warnings(&run).len(), 1, "{}", run.stderr);

    let json = read_json(&out);
    let results = json["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{json}");
    assert!(results[0]["ndcg"]["mean"].is_f64(), "{}", results[0]);
    assert_eq!(results[1]["diverged"], true, "{}", results[1]);
    assert!(results[1]["ndcg"].is_null(), "{}", results[1]);

    let (header, rows) = read_csv(&out);
    let ndcg = header.iter().position(|c| c == "ndcg_mean").unwrap();
    assert_ne!(rows[0][ndcg], "", "{rows:?}");
    assert_eq!(rows[1][ndcg], "", "{rows:?}");
}

#[test]
fn shorter_epochs_of_diverging_run_finish() {
    // At a learning rate of 0.2 every fold's run survives epoch 1 and
    // diverges later, so the 1-epoch candidate, which shares the run,
    // finishes.
    let fixture = Fixture::new();
    let out = fixture.path("tune");
    let run = tune(&fixture, &out, "1,4", "0.2", &[]).success();
    let warnings = divergence_warnings(&run);
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(warnings[0].contains("--epochs 4 "), "{}", warnings[0]);
    assert!(warnings[0].contains("on fold "), "{}", warnings[0]);

    let json = read_json(&out);
    let results = json["results"].as_array().unwrap();
    assert_eq!(results[0]["epochs"], 1, "{json}");
    assert_eq!(results[0]["diverged"], false, "{json}");
    assert_eq!(results[1]["epochs"], 4, "{json}");
    assert_eq!(results[1]["diverged"], true, "{json}");
    let best = std::fs::read_to_string(out.join("best-args.txt")).unwrap();
    assert!(best.starts_with("--factors 4 --epochs 1 "), "{best}");
}

#[test]
fn all_candidates_diverged_fails() {
    let fixture = Fixture::new();
    let out = fixture.path("tune");
    let run = tune(&fixture, &out, "2", "1,2", &[]).failure();
    let error = run
        .stderr
        .lines()
        .find(|line| line.starts_with("error: "))
        .unwrap();
    assert!(
        error.contains("training diverged for every candidate (2 candidates)"),
        "{error}"
    );
    assert!(error.contains("smaller --learning-rate"), "{error}");
    assert!(error.contains("the smallest tried was 1)"), "{error}");
    assert_eq!(divergence_warnings(&run).len(), 2, "{}", run.stderr);
    for name in ["tune.csv", "tune.json", "best-args.txt"] {
        assert!(!out.join(name).exists(), "{name} was written");
    }
}

#[test]
fn output_naming_input_rejected() {
    let fixture = Fixture::new();
    let input = fixture.path("tune.csv");
    std::fs::copy(&fixture.ratings, &input).unwrap();
    let before = std::fs::read(&input).unwrap();

    let mut args = vec!["tune", "--ratings", text(&input)];
    args.extend(["--out", text(fixture.dir.path()), "--force"]);
    args.extend(["--factors", "4", "--epochs", "2", "--folds", "3"]);
    let run = descent(args).failure();
    assert!(
        run.stderr.contains("names the same file as --ratings"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn huge_values_named_as_typed() {
    let fixture = Fixture::new();
    let out = fixture.path("tune");
    let run = tune(&fixture, &out, "2", "0.01,1e40", &[]).failure();
    assert!(
        run.stderr.contains("1e40 is not a finite 32-bit number"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("inf"), "{}", run.stderr);

    let run = tune(&fixture, &out, "2", "1e-50", &[]).failure();
    assert!(
        run.stderr.contains("1e-50 is too close to 0"),
        "{}",
        run.stderr
    );
    let run = tune(&fixture, &out, "2", "0.01", &["--init-std", "1e40"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--init-std 1e40"), "{}", run.stderr);

    // A usage error of the command line, so exit code 2.
    let extra = ["--metric", "ndcg", "--relevance-threshold", "-1e40"];
    let run = tune(&fixture, &out, "2", "0.01", &extra);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--relevance-threshold -1e40"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "--out was created");
}

#[test]
fn repeated_list_values_tried_once() {
    let fixture = Fixture::new();
    let out = fixture.path("tune");
    let run = tune(&fixture, &out, "2", "0.01,0.010,0.02", &[]).success();
    assert!(
        run.stderr
            .contains("--learning-rate lists 0.010 more than once"),
        "{}",
        run.stderr
    );
    let (_, rows) = read_csv(&out);
    assert_eq!(rows.len(), 2, "{rows:?}");
}

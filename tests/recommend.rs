//! Runs `descent recommend` in batch (`--all`, `--users`), fold-in
//! (`--ratings-of`) and cold-start modes, with filters, and `descent
//! similar` with titles and filters, on the synthetic set in `data/`.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use descent::model::persist;
use descent::Model;
use support::{descent, listed_items, text, Run};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// A folder with a small model trained on `data/ratings.csv`.
struct Fixture {
    dir: TempDir,
    model_path: PathBuf,
    model: Model,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let model_path = dir.path().join("model.dsc");
        descent([
            "train",
            "--ratings",
            text(&data("ratings.csv")),
            "--model",
            text(&model_path),
            "--epochs",
            "4",
            "--factors",
            "8",
            "--quiet",
        ])
        .success();
        let model = persist::load(&model_path).unwrap();
        Fixture {
            dir,
            model_path,
            model,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Runs `descent recommend --model M` with `args`.
    fn recommend(&self, args: &[&str]) -> Run {
        let mut all = vec!["recommend", "--model", text(&self.model_path)];
        all.extend_from_slice(args);
        descent(all)
    }

    fn rated(&self, user: &str) -> Vec<String> {
        let index = self.model.users.get(user).unwrap();
        self.model
            .rated_by(index)
            .iter()
            .map(|&i| self.model.items.id(i).to_string())
            .collect()
    }
}

/// One CSV row of batch output.
#[derive(Debug)]
struct Row {
    user: String,
    rank: usize,
    item: String,
    score: f64,
    extra: Vec<String>,
}

fn parse_csv(text: &str) -> (Vec<String>, Vec<Row>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|record| {
            let record = record.expect("batch output is valid CSV");
            Row {
                user: record[0].to_string(),
                rank: record[1].parse().unwrap(),
                item: record[2].to_string(),
                score: record[3].parse().unwrap(),
                extra: record.iter().skip(4).map(str::to_string).collect(),
            }
        })
        .collect();
    (header, rows)
}

/// Groups rows by user, keeping the order users first appear in.
fn by_user(rows: &[Row]) -> Vec<(String, Vec<&Row>)> {
    let mut groups: Vec<(String, Vec<&Row>)> = Vec::new();
    for row in rows {
        match groups.last_mut() {
            Some((user, list)) if *user == row.user => list.push(row),
            _ => groups.push((row.user.clone(), vec![row])),
        }
    }
    groups
}

#[test]
fn batch_csv_lists_every_user() {
    let fixture = Fixture::new();
    let movies = data("movies.csv");
    let run =
        fixture.recommend(&["--all", "-n", "5", "--items", text(&movies)]);
    let run = run.success();
    let (header, rows) = parse_csv(&run.stdout);
    assert_eq!(header, ["user", "rank", "item", "score", "title"]);

    let groups = by_user(&rows);
    let model = &fixture.model;
    let users: Vec<&str> = groups.iter().map(|(u, _)| u.as_str()).collect();
    // A user who rated every item has no row.
    let expected: Vec<&str> = model
        .users
        .ids()
        .filter(|user| fixture.rated(user).len() < model.items.len())
        .collect();

    assert_eq!(users, expected, "users in training order, each once");

    let titles = descent::data::items::ItemCatalog::load(&movies).unwrap();
    for (user, list) in &groups {
        let rated = fixture.rated(user);
        let unrated = model.items.len() - rated.len();
        assert_eq!(list.len(), unrated.min(5), "user {user}");
        for (position, row) in list.iter().enumerate() {
            assert_eq!(row.rank, position + 1, "user {user}");
            assert!(!rated.contains(&row.item), "user {user}: {row:?}");
            assert_eq!(row.extra[0], titles.title(&row.item).unwrap_or(""));
            if position > 0 {
                assert!(row.score <= list[position - 1].score, "{list:?}");
            }
        }
    }
}

#[test]
fn batch_jsonl_matches_single_queries() {
    let fixture = Fixture::new();
    let users = fixture.write("users.txt", "userId\n5\n\n17\n5\n# note\n3\n");
    let run = fixture
        .recommend(&[
            "--users",
            text(&users),
            "-n",
            "4",
            "--output-format",
            "jsonl",
        ])
        .success();
    assert!(
        run.stderr.contains("1 repeated user id was listed once"),
        "{}",
        run.stderr
    );
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let order: Vec<&str> =
        lines.iter().map(|l| l["user"].as_str().unwrap()).collect();
    assert_eq!(order, ["5", "17", "3"]);
    for line in &lines {
        let user = line["user"].as_str().unwrap();
        assert_eq!(line["kind"], "personalized");
        let single = fixture
            .recommend(&["--user", user, "-n", "4", "--json"])
            .success()
            .json();
        // Batch scores come from a matrix product and may differ in the
        // last bits, so compare scores with a tolerance.
        let batch = line["recommendations"].as_array().unwrap();
        let one = single["recommendations"].as_array().unwrap();
        assert_eq!(batch.len(), one.len(), "user {user}");
        for (b, s) in batch.iter().zip(one) {
            let gap = (b["score"].as_f64().unwrap()
                - s["score"].as_f64().unwrap())
            .abs();
            assert!(gap < 1e-4, "user {user}: {b} vs {s}");
        }
        let batch_items = listed_items(line, "recommendations");
        let single_items = listed_items(&single, "recommendations");
        assert_eq!(batch_items, single_items, "user {user}");
    }
}

#[test]
fn batch_out_written_atomically() {
    let fixture = Fixture::new();
    let out = fixture.write("top.csv", "old contents");
    let args = ["--all", "-n", "2", "--out", text(&out), "--quiet"];
    let run = fixture.recommend(&args).failure();
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old contents");

    let mut forced = args.to_vec();
    forced.push("--force");
    let run = fixture.recommend(&forced).success();
    assert!(run.stdout.is_empty(), "stdout: {}", run.stdout);
    let written = std::fs::read_to_string(&out).unwrap();
    let (_, rows) = parse_csv(&written);
    let model = &fixture.model;
    let expected: usize = model
        .users
        .ids()
        .map(|user| (model.items.len() - fixture.rated(user).len()).min(2))
        .sum();
    assert_eq!(rows.len(), expected);

    let fresh = fixture.path("fresh.csv");
    let run = fixture
        .recommend(&["--all", "-n", "1", "--out", text(&fresh)])
        .success();
    assert!(run.stderr.contains("wrote the top 1 of"), "{}", run.stderr);
    let leftovers: Vec<String> = std::fs::read_dir(fixture.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".descent-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let missing = fixture.path("no/such/folder/top.csv");
    let run = fixture
        .recommend(&["--all", "--out", text(&missing)])
        .failure();
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
}

#[test]
fn batch_unknown_user_named() {
    let fixture = Fixture::new();
    let users = fixture.write("users.txt", "1\nghost\n2\nphantom\n");
    let run = fixture.recommend(&["--users", text(&users)]).failure();
    assert!(run.stderr.contains("users.txt:2:"), "{}", run.stderr);
    assert!(run.stderr.contains("unknown user ghost"), "{}", run.stderr);
    assert!(run.stderr.contains("1 more unknown"), "{}", run.stderr);
    assert!(run.stderr.contains("--cold-start"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "partial output: {}", run.stdout);

    let run = fixture
        .recommend(&[
            "--users",
            text(&users),
            "-n",
            "3",
            "--cold-start",
            "popular",
        ])
        .success();
    let (header, rows) = parse_csv(&run.stdout);
    assert_eq!(header.last().map(String::as_str), Some("kind"));
    let kinds: HashMap<&str, &str> = rows
        .iter()
        .map(|row| (row.user.as_str(), row.extra[0].as_str()))
        .collect();
    assert_eq!(kinds["1"], "personalized");
    assert_eq!(kinds["ghost"], "popular");
    assert_eq!(kinds["phantom"], "popular");
    assert_eq!(rows.len(), 12);
}

#[test]
fn batch_filters_apply() {
    let fixture = Fixture::new();
    let movies = data("movies.csv");
    let candidates =
        fixture.write("candidates.txt", "1\n2\n3\n4\n5\n6\n7\n8\n");
    let run = fixture
        .recommend(&[
            "--all",
            "-n",
            "3",
            "--candidates",
            text(&candidates),
            "--exclude",
            "2,3",
            "--items",
            text(&movies),
        ])
        .success();
    let (_, rows) = parse_csv(&run.stdout);
    assert!(!rows.is_empty());
    for row in &rows {
        assert!(
            ["1", "4", "5", "6", "7", "8"].contains(&row.item.as_str()),
            "{row:?}"
        );
    }

    let run = fixture
        .recommend(&[
            "--all",
            "-n",
            "3",
            "--genre",
            "Horror",
            "--items",
            text(&movies),
        ])
        .success();
    let catalog = descent::data::items::ItemCatalog::load(&movies).unwrap();
    let (_, rows) = parse_csv(&run.stdout);
    assert!(!rows.is_empty());
    for row in &rows {
        let genres = &catalog.items[&row.item].genres;
        assert!(genres.iter().any(|g| g == "Horror"), "{row:?}: {genres:?}");
    }

    let run = fixture.recommend(&["--all", "--genre", "Horror"]);
    assert_eq!(run.code, 2, "--genre without --items: {}", run.stderr);
    assert!(run.stderr.contains("--items"), "{}", run.stderr);
}

#[test]
fn batch_options_need_batch() {
    let fixture = Fixture::new();
    let out = fixture.path("out.csv");
    let cases: [&[&str]; 4] = [
        &["--user", "1", "--out", text(&out)],
        &["--user", "1", "--output-format", "jsonl"],
        &["--user", "1", "--format", "jsonl"],
        &["--all", "--json"],
    ];
    for args in cases {
        let run = fixture.recommend(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
    let run = fixture.recommend(&[]);
    assert_eq!(run.code, 2, "no target: {}", run.stderr);
    assert!(run.stderr.contains("--user"), "{}", run.stderr);
}

#[test]
fn cold_start_only_on_request() {
    let fixture = Fixture::new();
    let run = fixture.recommend(&["--user", "stranger"]).failure();
    assert!(
        run.stderr.contains("unknown user stranger"),
        "{}",
        run.stderr
    );

    let run = fixture
        .recommend(&[
            "--user",
            "stranger",
            "-n",
            "3",
            "--cold-start",
            "popular",
            "--json",
        ])
        .success();
    let json = run.json();
    assert_eq!(json["kind"], "popular");
    assert!(json["note"].as_str().unwrap().contains("not personalized"));
    let counts: Vec<f64> = json["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["score"].as_f64().unwrap())
        .collect();
    assert_eq!(counts.len(), 3);
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");

    // The table shows rating counts as whole numbers.
    let args = ["--user", "stranger", "-n", "1", "--cold-start", "popular"];
    let run = fixture.recommend(&args).success();
    let row = run.stdout.lines().nth(2).unwrap();
    let score = row.split_whitespace().nth(2).unwrap();
    assert_eq!(score, format!("{}", counts[0]), "{}", run.stdout);

    let run = fixture
        .recommend(&["--user", "stranger", "-n", "3", "--cold-start", "bias"])
        .success();
    assert!(run.stdout.contains("not personalized"), "{}", run.stdout);
    assert!(run.stdout.contains("item bias"), "{}", run.stdout);

    let known = fixture
        .recommend(&[
            "--user",
            "1",
            "-n",
            "2",
            "--cold-start",
            "popular",
            "--json",
        ])
        .success()
        .json();
    assert_eq!(known["kind"], "personalized");
}

#[test]
fn ratings_of_folds_in_new_user() {
    let fixture = Fixture::new();
    let mine =
        fixture.write("mine.csv", "item,rating\n10,5\n20,4.5\n30,1\nghost,4\n");
    let run = fixture
        .recommend(&[
            "--ratings-of",
            text(&mine),
            "-n",
            "5",
            "--exclude",
            "40",
            "--json",
        ])
        .success();
    assert!(run.stderr.contains("ghost"), "{}", run.stderr);
    let json = run.json();
    assert_eq!(json["kind"], "personalized");
    assert_eq!(json["ratings_used"], 3);
    let items = listed_items(&json, "recommendations");
    assert_eq!(items.len(), 5);
    for left_out in ["10", "20", "30", "40"] {
        assert!(!items.contains(&left_out.to_string()), "{items:?}");
    }

    let text_run = fixture
        .recommend(&["--ratings-of", text(&mine), "-n", "2"])
        .success();
    assert!(
        text_run.stdout.contains("fitted to 3 ratings"),
        "{}",
        text_run.stdout
    );

    let strangers = fixture.write("strangers.csv", "ghost,4\nphantom,2\n");
    let run = fixture
        .recommend(&["--ratings-of", text(&strangers)])
        .failure();
    assert!(
        run.stderr.contains("none of the 2 rated items"),
        "{}",
        run.stderr
    );
    let run = fixture
        .recommend(&[
            "--ratings-of",
            text(&strangers),
            "--cold-start",
            "popular",
            "--json",
        ])
        .success();
    assert_eq!(run.json()["kind"], "popular");

    let bad = fixture.write("bad.csv", "10,5\n20,high\n");
    let run = fixture.recommend(&["--ratings-of", text(&bad)]).failure();
    assert!(run.stderr.contains("bad.csv:2:"), "{}", run.stderr);

    let twice = fixture.write("twice.csv", "10,1\n20,4\n10,5\n10,4\n");
    let run = fixture
        .recommend(&["--ratings-of", text(&twice), "--json"])
        .success();
    assert!(
        run.stderr.contains(
            "twice.csv: 1 item rated more than once, and only the last \
             rating of each counts: 10 (3 times)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(run.json()["ratings_used"], 2);

    let wild = fixture.write("wild.csv", "10,50\n");
    let run = fixture.recommend(&["--ratings-of", text(&wild)]).failure();
    assert!(run.stderr.contains("wild.csv: rating 50"), "{}", run.stderr);
    let bare = fixture.write("bare.csv", "\n10\n");
    let run = fixture.recommend(&["--ratings-of", text(&bare)]).failure();
    assert!(
        run.stderr.contains("bare.csv:2: expected item,rating"),
        "{}",
        run.stderr
    );
}

#[test]
fn similar_by_title_with_filters() {
    let fixture = Fixture::new();
    let movies = data("movies.csv");
    let catalog = descent::data::items::ItemCatalog::load(&movies).unwrap();
    let title = catalog.title("10").unwrap().to_string();
    let by_id = descent([
        "similar",
        "--model",
        text(&fixture.model_path),
        "--item",
        "10",
        "-n",
        "5",
        "--items",
        text(&movies),
        "--json",
    ])
    .success()
    .json();
    let by_title = descent([
        "similar",
        "--model",
        text(&fixture.model_path),
        "--title",
        &title.to_uppercase(),
        "-n",
        "5",
        "--items",
        text(&movies),
        "--json",
    ])
    .success()
    .json();
    assert_eq!(by_title["similar_to"], "10");
    assert_eq!(by_title["title"], title.as_str());
    assert_eq!(
        listed_items(&by_id, "similar"),
        listed_items(&by_title, "similar")
    );

    let first = listed_items(&by_id, "similar")[0].clone();
    let filtered = descent([
        "similar",
        "--model",
        text(&fixture.model_path),
        "--item",
        "10",
        "-n",
        "5",
        "--items",
        text(&movies),
        "--genre",
        "Comedy",
        "--exclude",
        &first,
        "--json",
    ])
    .success()
    .json();
    for item in listed_items(&filtered, "similar") {
        assert_ne!(item, first);
        let genres = &catalog.items[&item].genres;
        assert!(genres.iter().any(|g| g == "Comedy"), "{item}: {genres:?}");
    }

    let run = descent([
        "similar",
        "--model",
        text(&fixture.model_path),
        "--title",
        "no such film at all",
        "--items",
        text(&movies),
    ])
    .failure();
    assert!(
        run.stderr.contains("no item of the model"),
        "{}",
        run.stderr
    );
}

#[test]
fn min_item_ratings_drops_rare_items() {
    let fixture = Fixture::new();
    let model = &fixture.model;
    let mut counts = vec![0u32; model.items.len()];
    for user in 0..model.users.len() as u32 {
        for &item in model.rated_by(user) {
            counts[item as usize] += 1;
        }
    }
    let count_of = |id: &str| counts[model.items.get(id).unwrap() as usize];
    let listed = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["--all", "-n", "10", "--output-format", "csv"];
        all.extend_from_slice(args);
        let run = fixture.recommend(&all).success();
        run.stdout
            .lines()
            .skip(1)
            .map(|line| line.split(',').nth(2).unwrap().to_string())
            .collect()
    };

    let minimum = 60;
    let every = listed(&[]);
    assert!(
        every.iter().any(|id| count_of(id) < minimum),
        "no list holds an item with fewer than {minimum} ratings"
    );
    let common = listed(&["--min-item-ratings", "60"]);
    assert_eq!(common.len(), every.len());
    for id in &common {
        assert!(count_of(id) >= minimum, "item {id}: {}", count_of(id));
    }

    let run = fixture
        .recommend(&["--user", "1", "--min-item-ratings", "1000000"])
        .success();
    assert!(
        run.stderr
            .contains("no item has 1000000 or more training ratings"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.starts_with("top 0 of 0 unrated items"));

    let run = fixture.recommend(&["--user", "1", "--min-item-ratings", "0"]);
    assert_eq!(run.code, 2, "a usage error: {}", run.stderr);
    assert!(
        run.stderr.contains("invalid --min-item-ratings 0"),
        "{}",
        run.stderr
    );
}

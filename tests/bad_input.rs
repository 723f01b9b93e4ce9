//! Runs the `descent` binary on bad inputs written to temporary folders:
//! ids with invisible characters, inputs that are not regular files,
//! endless input and numeric options out of range. Each must end with a
//! message naming the file, line or option, and a non-zero exit code.

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use support::{descent, text};

/// Maximum time that a run on bad input may take before the test fails,
/// so that input that is read forever fails the test instead of hanging
/// it.
const DEADLINE: Duration = Duration::from_secs(60);

/// A temporary folder with a small ratings file and a model trained on it.
struct Fixture {
    dir: TempDir,
    ratings: PathBuf,
    model: PathBuf,
    /// A model path that no run may write, since each run fails.
    unwritten: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ratings = dir.path().join("ratings.csv");
        std::fs::write(
            &ratings,
            "userId,movieId,rating\n1,10,4\n1,20,3\n2,10,5\n2,30,2\n\
             3,20,4\n3,30,5\n",
        )
        .unwrap();
        let model = dir.path().join("model.dsc");
        descent([
            "train",
            "--ratings",
            text(&ratings),
            "--model",
            text(&model),
            "--quiet",
            "--epochs",
            "3",
            "--factors",
            "4",
        ])
        .success();
        let unwritten = dir.path().join("unwritten.dsc");
        Fixture {
            dir,
            ratings,
            model,
            unwritten,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

fn train_args<'a>(ratings: &'a str, model: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--ratings",
        ratings,
        "--model",
        model,
        "--quiet",
        "--epochs",
        "2",
        "--factors",
        "4",
        "--force",
    ]
}

/// Exit code and standard error of a child process that is killed when it
/// outlives [`DEADLINE`].
fn finish(mut child: Child, command: &str) -> (i32, String) {
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("{command}: still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = reader.join().unwrap();
    assert!(!stderr.contains("panicked"), "{command}: {stderr}");
    (status.code().unwrap_or(-1), stderr)
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_descent"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `descent` with `args` within [`DEADLINE`] and returns its exit
/// code and standard error.
fn run_within_deadline(args: &[&str]) -> (i32, String) {
    finish(spawn(args), &args.join(" "))
}

#[test]
fn bom_inside_ratings_rejected() {
    let fixture = Fixture::new();
    let model = fixture.path("bom.dsc");
    // Two files joined with cat: the second one starts with a mark.
    let joined = fixture.write(
        "joined.csv",
        "userId,movieId,rating\n1,10,4\n2,10,5\n\u{feff}3,20,4\n3,30,5\n",
    );
    let run = descent(train_args(text(&joined), text(&model))).failure();
    let stderr = &run.stderr;
    assert!(
        stderr.contains("joined.csv:4: column \"userId\""),
        "{stderr}"
    );
    assert!(stderr.contains("\"\\u{feff}3\""), "{stderr}");
    assert!(stderr.contains("U+FEFF at character 1"), "{stderr}");
    assert!(!model.exists(), "model written from a bad file");

    let mut args = train_args(text(&joined), text(&model));
    args.push("--skip-bad-rows");
    let run = descent(args).success();
    let summary = run.summary();
    assert_eq!(summary.ratings, 3, "{summary:?}");
    assert_eq!(summary.users, 3, "{summary:?}");
    assert!(summary.notes.contains("1 bad row skipped"), "{summary:?}");
    assert!(run.stderr.contains("warning: skipped"), "{}", run.stderr);
}

#[test]
fn control_characters_in_ids_rejected() {
    let fixture = Fixture::new();
    let model = fixture.path("control.dsc");
    let cases: [(&str, &str, &[&str], &str); 4] = [
        ("bell.csv", "1,10,4\n2,1\u{7}0,5\n", &[], "U+0007"),
        (
            "tab.csv",
            "1,10,4\n2\t7,10,5\n",
            &["--format", "csv"],
            "U+0009",
        ),
        ("vt.txt", "1 10 4\n2\u{b} 10 5\n", &[], "U+000B"),
        ("nel.dat", "1::10::4\n2::\u{85}10::5\n", &[], "U+0085"),
    ];
    for (name, contents, extra, character) in cases {
        let ratings = fixture.write(name, contents);
        let mut args = train_args(text(&ratings), text(&model));
        args.extend_from_slice(extra);
        let run = descent(args).failure();
        let stderr = &run.stderr;
        assert!(stderr.contains(&format!("{name}:2: column")), "{stderr}");
        assert!(stderr.contains(character), "{name}: {stderr}");
        assert!(stderr.contains("\\u{"), "{name}: not escaped: {stderr}");
        assert!(!stderr.contains('\u{7}'), "{name}: raw control character");
    }
}

#[test]
fn invisible_ids_in_other_inputs_rejected() {
    let fixture = Fixture::new();
    let model = text(&fixture.model);

    let items = fixture
        .write("movies.csv", "movieId,title\n10,A\n\u{feff}20,B\n30,C\n");
    let run = descent([
        "recommend",
        "--model",
        model,
        "--user",
        "1",
        "--items",
        text(&items),
    ])
    .failure();
    assert!(run.stderr.contains("movies.csv:3:"), "{}", run.stderr);
    assert!(run.stderr.contains("\\u{feff}20"), "{}", run.stderr);

    let users = fixture.write("users.txt", "1\n2\u{7}\n");
    let run = descent(["recommend", "--model", model, "--users", text(&users)])
        .failure();
    assert!(run.stderr.contains("users.txt:2:"), "{}", run.stderr);
    assert!(run.stderr.contains("U+0007"), "{}", run.stderr);

    let mine = fixture.write("mine.csv", "10,4\n\u{feff}20,5\n");
    let run =
        descent(["recommend", "--model", model, "--ratings-of", text(&mine)])
            .failure();
    assert!(run.stderr.contains("mine.csv:2:"), "{}", run.stderr);
    assert!(run.stderr.contains("U+FEFF"), "{}", run.stderr);
}

/// Returns argument lists that read `path` as each kind of input.
fn readers_of<'a>(fixture: &'a Fixture, path: &'a str) -> Vec<Vec<&'a str>> {
    let ratings = text(&fixture.ratings);
    let model = text(&fixture.model);
    let out = text(fixture.dir.path());
    vec![
        train_args(path, text(&fixture.unwritten)),
        vec!["evaluate", "--train", path, "--test", ratings, "-q"],
        vec!["evaluate", "--ratings", path, "--folds", "2", "-q"],
        vec!["tune", "--ratings", path, "--out", out, "--quiet"],
        vec!["predict", "--model", path, "--user", "1", "--item", "10"],
        vec![
            "recommend",
            "--model",
            model,
            "--user",
            "1",
            "--items",
            path,
        ],
        vec!["recommend", "--model", model, "--users", path],
        vec!["recommend", "--model", model, "--ratings-of", path],
        vec![
            "recommend",
            "--model",
            model,
            "--user",
            "1",
            "--exclude-file",
            path,
        ],
    ]
}

#[test]
fn directories_and_devices_rejected() {
    let fixture = Fixture::new();
    let folder = fixture.path("folder");
    std::fs::create_dir(&folder).unwrap();
    let mut cases = vec![(text(&folder), "is a directory")];
    if cfg!(unix) {
        cases.push(("/dev/zero", "is a character device"));
        cases.push(("/dev/null", "is a character device"));
    }
    for (path, kind) in cases {
        for args in readers_of(&fixture, path) {
            let command = args.join(" ");
            let (code, stderr) = run_within_deadline(&args);
            assert_eq!(code, 1, "{command}: {stderr}");
            assert!(
                stderr.contains(&format!("{path}: {kind}")),
                "{command}: {stderr}"
            );
            assert!(
                stderr.contains("expected a regular file or a pipe"),
                "{command}: {stderr}"
            );
        }
    }
    assert!(!fixture.unwritten.exists(), "a model was written");
}

#[test]
fn endless_line_on_a_pipe_stops() {
    let fixture = Fixture::new();
    let model = fixture.path("stream.dsc");
    let args = train_args("/dev/stdin", text(&model));
    let mut child = Command::new(env!("CARGO_BIN_EXE_descent"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let mut stdin = child.stdin.take().unwrap();
    // Zeros without a line end, as `cat /dev/zero` writes them, until
    // descent stops reading and the pipe breaks.
    let writer = std::thread::spawn(move || {
        let block = vec![0u8; 1 << 16];
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            if stdin.write_all(&block).is_err() {
                return;
            }
        }
    });
    let (code, stderr) = finish(child, "train --ratings /dev/stdin");
    writer.join().unwrap();

    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("/dev/stdin:1: the line is longer than 1 MiB"),
        "{stderr}"
    );
    assert!(!model.exists());
}

#[test]
fn long_line_in_file_named() {
    let fixture = Fixture::new();
    let mut contents = b"1,10,4\n2,10,5\n2,20,".to_vec();
    contents.resize(contents.len() + (2 << 20), b' ');
    contents.extend(b"4\n");
    let ratings = fixture.write("padded.csv", contents);
    let model = fixture.path("padded.dsc");
    let run = descent(train_args(text(&ratings), text(&model))).failure();
    assert!(
        run.stderr
            .contains("padded.csv:3: the line is longer than 1 MiB"),
        "{}",
        run.stderr
    );
}

#[test]
fn pipes_read_as_streams() {
    let fixture = Fixture::new();
    let model = fixture.path("piped.dsc");
    let args = train_args("/dev/stdin", text(&model));
    let mut child = Command::new(env!("CARGO_BIN_EXE_descent"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"1,10,4\n2,10,5\n2,20,3\n").unwrap();
    drop(stdin);
    let (code, stderr) = finish(child, "train --ratings /dev/stdin");
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("read /dev/stdin: 3 ratings"), "{stderr}");
    assert!(model.exists());
}

#[cfg(target_os = "linux")]
fn make_fifo(path: &Path) {
    let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: `name` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
}

#[cfg(target_os = "linux")]
#[test]
fn named_pipe_wait_announced() {
    use std::io::BufRead;
    use std::sync::mpsc;

    let fixture = Fixture::new();
    let pipe = fixture.path("ratings.fifo");
    make_fifo(&pipe);
    let model = fixture.path("fifo.dsc");
    let args = train_args(text(&pipe), text(&model));
    let mut child = spawn(&args);
    let stderr = child.stderr.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let _ = sender.send(line.unwrap());
        }
    });

    // No process writes to the pipe yet, so descent warns that it waits.
    let first = match lines.recv_timeout(DEADLINE) {
        Ok(line) => line,
        Err(_) => {
            child.kill().unwrap();
            panic!("no notice of the wait within {DEADLINE:?}");
        }
    };
    assert!(first.starts_with("warning: "), "{first}");
    assert!(first.contains("ratings.fifo"), "{first}");
    assert!(
        first.contains("waiting for a process to open this named pipe"),
        "{first}"
    );

    let mut end = std::fs::OpenOptions::new().write(true).open(&pipe).unwrap();
    end.write_all(b"1,10,4\n2,10,5\n2,20,3\n").unwrap();
    drop(end);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            child.kill().unwrap();
            panic!("still running after the pipe was written");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let rest: Vec<String> = lines.iter().collect();
    assert!(status.success(), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("3 ratings")), "{rest:?}");
    assert!(model.exists());
}

/// Options of each command with a value outside their range, and the
/// range the message must state.
const OUT_OF_RANGE: [(&str, &str, &str, &str); 24] = [
    ("train", "--epochs", "0", "1 to 10000"),
    ("train", "--epochs", "10001", "1 to 10000"),
    ("train", "--factors", "0", "1 to 4096"),
    ("train", "--factors", "4097", "1 to 4096"),
    ("train", "--threads", "1025", "0 to 1024"),
    ("train", "--blocks", "1025", "0 to 1024"),
    ("train", "--patience", "0", "1 to 10000"),
    ("evaluate", "--folds", "101", "2 to 100"),
    ("evaluate", "--count", "0", "1 to 100000"),
    ("evaluate", "--holdout", "0", "1 to 1000000"),
    ("evaluate", "--parallel-folds", "1025", "0 to 1024"),
    ("evaluate", "--epochs", "99999999999999999999", "1 to 10000"),
    ("recommend", "--count", "0", "1 to 100000"),
    ("recommend", "--count", "100001", "1 to 100000"),
    ("recommend", "--threads", "1025", "0 to 1024"),
    ("similar", "--count", "0", "1 to 100000"),
    ("tune", "--trials", "100001", "1 to 100000"),
    ("tune", "--folds", "1", "2 to 100"),
    ("tune", "--jobs", "1025", "0 to 1024"),
    ("generate", "--rank", "1025", "1 to 1024"),
    ("generate", "--users", "4294967296", "1 to 4294967295"),
    ("serve", "--max-n", "0", "1 to 100000"),
    ("serve", "--max-batch", "0", "1 to 1000000"),
    ("serve", "--max-body-bytes", "0", "1 to 1073741824"),
];

/// Returns the arguments that `command` needs besides the option under
/// test.
fn required<'a>(command: &str, fixture: &'a Fixture) -> Vec<&'a str> {
    let ratings = text(&fixture.ratings);
    let model = text(&fixture.model);
    let out = text(fixture.dir.path());
    match command {
        "train" => {
            vec!["--ratings", ratings, "--model", text(&fixture.unwritten)]
        }
        "evaluate" => vec!["--ratings", ratings],
        "recommend" => vec!["--model", model, "--all"],
        "similar" => vec!["--model", model, "--item", "10"],
        "tune" => vec!["--ratings", ratings, "--out", out],
        "generate" => vec!["--out", out],
        "serve" => vec!["--model", model],
        other => panic!("no arguments for {other}"),
    }
}

#[test]
fn numbers_out_of_range_rejected() {
    let fixture = Fixture::new();
    for (command, option, value, range) in OUT_OF_RANGE {
        let mut args = vec![command];
        args.extend(required(command, &fixture));
        args.extend([option, value]);
        let (code, stderr) = run_within_deadline(&args);
        let case = format!("{command} {option} {value}");
        assert_eq!(code, 2, "{case}: {stderr}");
        let expected = format!(
            "invalid {option} {value}: must be a whole number from {range}"
        );
        assert!(stderr.contains(&expected), "{case}: {stderr}");
    }
    let fractions = [
        ("evaluate", "--test-fraction", "1"),
        ("train", "--validation-fraction", "0"),
    ];
    for (command, option, value) in fractions {
        let mut args = vec![command];
        args.extend(required(command, &fixture));
        args.extend([option, value]);
        let (code, stderr) = run_within_deadline(&args);
        assert_eq!(code, 2, "{command} {option} {value}: {stderr}");
        let expected =
            format!("invalid {option} {value}: must be a number above 0");
        assert!(stderr.contains(&expected), "{stderr}");
    }
}

/// Returns the words of the help of `option` in `help`: its line and the
/// description lines under it, up to the next option.
fn option_words(help: &str, option: &str) -> String {
    let is_option_line = |line: &str| {
        let indent = line.len() - line.trim_start().len();
        indent < 8 && line.trim_start().starts_with('-')
    };
    let lines: Vec<&str> = help.lines().collect();
    let start = lines
        .iter()
        .position(|l| is_option_line(l) && l.contains(&format!("{option} <")))
        .unwrap_or_else(|| panic!("{option} not in help:\n{help}"));
    let end = (start + 1..lines.len())
        .find(|&i| is_option_line(lines[i]))
        .unwrap_or(lines.len());
    lines[start..end]
        .iter()
        .flat_map(|line| line.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn ranges_stated_in_help() {
    for (command, option, _, range) in OUT_OF_RANGE {
        let help = descent([command, "--help"]).success().stdout;
        let words = option_words(&help, option);
        assert!(
            words.contains(range),
            "{command} {option}: help lacks {range:?}: {words}"
        );
    }
}

#[test]
fn range_limits_accepted() {
    let fixture = Fixture::new();
    let model = fixture.path("limits.dsc");
    let run = descent([
        "train",
        "--ratings",
        text(&fixture.ratings),
        "--model",
        text(&model),
        "--quiet",
        "--factors",
        "1",
        "--epochs",
        "10000",
        "--threads",
        "1",
    ]);
    run.success();
    let run = descent([
        "recommend",
        "--model",
        text(&model),
        "--user",
        "1",
        "-n",
        "100000",
    ])
    .success();
    assert!(run.stdout.starts_with("top 1 of 1 unrated item for user 1"));
}

#[test]
fn output_over_an_input_rejected() {
    let fixture = Fixture::new();
    let before = std::fs::read(&fixture.ratings).unwrap();
    let dotted = fixture.dir.path().join(".").join("ratings.csv");
    let run =
        descent(train_args(text(&fixture.ratings), text(&dotted))).failure();
    assert!(
        run.stderr.contains("names the same file as --ratings"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&fixture.ratings).unwrap(), before);

    let test = fixture.write("test.csv", "1,30,4\n2,20,3\n");
    let curve = fixture.dir.path().join(".").join("test.csv");
    let run = descent([
        "evaluate",
        "--train",
        text(&fixture.ratings),
        "--test",
        text(&test),
        "--curve",
        text(&curve),
        "--force",
        "--quiet",
    ])
    .failure();
    assert!(run.stderr.contains("--curve"), "{}", run.stderr);
    assert!(run.stderr.contains("same file as --test"), "{}", run.stderr);

    let model_bytes = std::fs::read(&fixture.model).unwrap();
    let out = fixture.dir.path().join(".").join("model.dsc");
    let run = descent([
        "recommend",
        "--model",
        text(&fixture.model),
        "--all",
        "--out",
        text(&out),
        "--force",
    ])
    .failure();
    assert!(
        run.stderr.contains("same file as --model"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&fixture.model).unwrap(), model_bytes);
}

#[test]
fn output_under_a_file_named() {
    let fixture = Fixture::new();
    let inside = fixture.ratings.join("model.dsc");
    let run =
        descent(train_args(text(&fixture.ratings), text(&inside))).failure();
    assert!(run.stderr.contains("is not a folder"), "{}", run.stderr);
}

#[test]
fn runaway_training_rejected() {
    let fixture = Fixture::new();
    let mut args = train_args(text(&fixture.ratings), text(&fixture.unwritten));
    args.extend(["--regularization", "500"]);
    let run = descent(args).failure();
    assert!(
        run.stderr.contains("training diverged at epoch 1"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("rating spread"), "{}", run.stderr);
    assert!(!fixture.unwritten.exists());
}

#[test]
fn test_file_seen_in_training_warned() {
    let fixture = Fixture::new();
    let run = descent([
        "evaluate",
        "--train",
        text(&fixture.ratings),
        "--test",
        text(&fixture.ratings),
        "--epochs",
        "2",
        "--json",
    ])
    .success();
    assert!(
        run.stderr.contains("6 of 6 test ratings are (user, item) pairs the training file holds"),
        "{}",
        run.stderr
    );
    assert_eq!(run.json()["test_ratings_seen_in_training"], 6);
}

#[test]
fn more_threads_than_cores_warned() {
    let fixture = Fixture::new();
    let mut args = train_args(text(&fixture.ratings), text(&fixture.unwritten));
    args.extend(["--threads", "1024"]);
    let run = descent(args).success();
    assert!(
        run.stderr.contains("--threads 1024 is more than the"),
        "{}",
        run.stderr
    );
}

/// Sends SIGINT to `child` once a `.descent-*` temporary file shows up
/// in `folder`, and returns whether one did.
fn interrupt_while_writing(child: &Child, folder: &Path) -> bool {
    let started = Instant::now();
    while started.elapsed() < DEADLINE {
        let writing = std::fs::read_dir(folder).unwrap().any(|entry| {
            let name = entry.unwrap().file_name();
            name.to_string_lossy().starts_with(".descent-")
        });
        if writing {
            let pid = child.id().to_string();
            Command::new("kill").args(["-INT", &pid]).status().unwrap();
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn interrupted_write_leaves_no_file() {
    let fixture = Fixture::new();
    let data = fixture.path("big");
    descent([
        "generate",
        "--out",
        text(&data),
        "--users",
        "40000",
        "--items",
        "2000",
        "--ratings",
        "400000",
    ])
    .success();
    let model = fixture.path("big.dsc");
    let ratings = data.join("ratings.csv");
    descent([
        "train",
        "--ratings",
        text(&ratings),
        "--model",
        text(&model),
        "--epochs",
        "1",
        "--quiet",
    ])
    .success();

    let out_dir = fixture.path("lists");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("all.csv");
    let args = [
        "recommend",
        "--model",
        text(&model),
        "--all",
        "-n",
        "200",
        "--out",
        text(&out),
    ];
    let child = spawn(&args);
    let caught = interrupt_while_writing(&child, &out_dir);
    let (code, stderr) = finish(child, &args.join(" "));
    assert!(caught, "no temporary file appeared: {stderr}");
    assert_eq!(code, 130, "{stderr}");
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn folders_and_files_swapped_named() {
    let fixture = Fixture::new();
    let run =
        descent(train_args(text(&fixture.ratings), text(fixture.dir.path())))
            .failure();
    assert!(run.stderr.contains("it is a folder"), "{}", run.stderr);

    let run = descent(["generate", "--out", text(&fixture.ratings)]).failure();
    assert!(
        run.stderr.contains("it is a file, not a folder"),
        "{}",
        run.stderr
    );
}

#[test]
fn every_output_checked_before_work() {
    let fixture = Fixture::new();
    let tune_args = |out: &Path| {
        let mut args = vec!["tune", "--ratings", text(&fixture.ratings)];
        args.extend(["--out", text(out), "--force", "--factors", "4"]);
        args.extend(["--epochs", "2", "--folds", "2", "--quiet"]);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };

    // A folder where tune's third file goes stops it before any file is
    // written.
    let out = fixture.dir.path().join("tuned");
    std::fs::create_dir_all(out.join("best-args.txt")).unwrap();
    let run = descent(tune_args(&out)).failure();
    assert!(run.stderr.contains("it is a folder"), "{}", run.stderr);
    assert!(!out.join("tune.csv").exists(), "tune.csv was written");

    // An --out below a file fails naming --out.
    let below = fixture.ratings.join("sub");
    let run = descent(tune_args(&below)).failure();
    assert!(run.stderr.contains("--out folder"), "{}", run.stderr);

    // generate checks both files before writing either.
    let data = fixture.dir.path().join("generated");
    std::fs::create_dir_all(data.join("movies.csv")).unwrap();
    let generate = |extra: &[&str]| {
        let mut args = vec!["generate", "--out", text(&data)];
        args.extend(["--users", "5", "--items", "5", "--ratings", "10"]);
        args.extend_from_slice(extra);
        descent(args)
    };
    let run = generate(&["--force"]).failure();
    assert!(run.stderr.contains("it is a folder"), "{}", run.stderr);
    assert!(
        !data.join("ratings.csv").exists(),
        "ratings.csv was written"
    );

    #[cfg(unix)]
    {
        std::fs::remove_dir(data.join("movies.csv")).unwrap();
        let target = fixture.dir.path().join("keep.csv");
        std::fs::write(&target, "keep me\n").unwrap();
        std::os::unix::fs::symlink(&target, data.join("ratings.csv")).unwrap();
        let run = generate(&["--force"]).failure();
        assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
        let link = std::fs::symlink_metadata(data.join("ratings.csv")).unwrap();
        assert!(link.file_type().is_symlink(), "the link was replaced");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
    }
}

#[test]
fn test_ratings_on_other_scale_warned() {
    let fixture = Fixture::new();
    // The model was trained on ratings 2 to 5; these run to 10.
    let test = fixture.dir.path().join("tenfold.csv");
    std::fs::write(&test, "userId,movieId,rating\n1,30,10\n2,20,8\n3,10,4\n")
        .unwrap();
    let run = descent([
        "evaluate",
        "--model",
        text(&fixture.model),
        "--test",
        text(&test),
    ])
    .success();
    assert!(
        run.stderr.contains("2 of 3 test ratings in"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("range 2 to 5"), "{}", run.stderr);
    assert!(run.stderr.contains("from 4 to 10"), "{}", run.stderr);

    let run = descent([
        "evaluate",
        "--train",
        text(&fixture.ratings),
        "--test",
        text(&test),
        "--epochs",
        "2",
    ])
    .success();
    assert!(run.stderr.contains("same scale"), "{}", run.stderr);

    // Test ratings within the range give no such warning.
    let run = descent([
        "evaluate",
        "--model",
        text(&fixture.model),
        "--test",
        text(&fixture.ratings),
    ])
    .success();
    assert!(!run.stderr.contains("same scale"), "{}", run.stderr);
}

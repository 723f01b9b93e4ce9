//! Runs the `descent` binary and reads its output, for the integration
//! tests in `cases.rs` and `cli.rs`.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

/// Exit code, standard output and standard error of one run.
pub struct Run {
    /// The command line, for assert messages.
    pub command: String,
    /// Exit code; -1 when the process was killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `descent` with `args` and checks what must hold for every run:
/// no panic (exit code 101 or `panicked at` on standard error) and no
/// carriage return on standard output.
pub fn descent<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    descent_with_stdin(args, b"")
}

/// Runs `descent` as [`descent`] does, with `stdin` as standard input.
pub fn descent_with_stdin<I, S>(args: I, stdin: &[u8]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> =
        args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let command = std::iter::once("descent".into())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<String>>()
        .join(" ");
    let output = Command::cargo_bin("descent")
        .expect("the descent binary is built")
        .args(&args)
        .write_stdin(stdin)
        .output()
        .expect("descent starts");
    let run = Run {
        command,
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_ne!(run.code, 101, "{}: exit code 101 (panic)", run.command);
    assert_ne!(run.code, -1, "{}: killed by a signal", run.command);
    assert!(
        !run.stderr.contains("panicked at"),
        "{}: panicked:\n{}",
        run.command,
        run.stderr
    );
    assert!(
        !output.stdout.contains(&b'\r'),
        "{}: carriage return on standard output: {:?}",
        run.command,
        run.stdout
    );
    run
}

impl Run {
    /// Asserts exit code 0 and returns the run.
    pub fn success(self) -> Run {
        assert_eq!(
            self.code, 0,
            "{}: expected success\nstdout:\n{}\nstderr:\n{}",
            self.command, self.stdout, self.stderr
        );
        self
    }

    /// Asserts exit code 1 (an error, reported as such) and returns the
    /// run.
    pub fn failure(self) -> Run {
        assert_eq!(
            self.code, 1,
            "{}: expected exit code 1\nstdout:\n{}\nstderr:\n{}",
            self.command, self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains("error:"),
            "{}: no error message on standard error: {:?}",
            self.command,
            self.stderr
        );
        self
    }

    /// Parses standard output as exactly one JSON object on one line.
    pub fn json(&self) -> Value {
        let lines: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{}: expected one line of JSON, found {:?}",
            self.command,
            self.stdout
        );
        let value: Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| {
            panic!("{}: invalid JSON ({e}): {}", self.command, lines[0])
        });
        assert!(
            value.is_object(),
            "{}: JSON is not an object: {value}",
            self.command
        );
        value
    }

    /// Reads standard output as one number, ignoring a trailing note such
    /// as `(fallback for ...)`.
    pub fn number(&self) -> f64 {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "{}: expected one line, found {:?}",
            self.command,
            self.stdout
        );
        let first = lines[0].split_whitespace().next().unwrap_or("");
        first.parse().unwrap_or_else(|_| {
            panic!("{}: not a number: {:?}", self.command, self.stdout)
        })
    }

    /// Parses the training summary line, which starts with `read `.
    pub fn summary(&self) -> Summary {
        let line = self
            .stderr
            .lines()
            .find(|l| l.starts_with("read "))
            .unwrap_or_else(|| {
                panic!("{}: no summary line in {:?}", self.command, self.stderr)
            });
        Summary::parse(line).unwrap_or_else(|| {
            panic!("{}: unreadable summary line {line:?}", self.command)
        })
    }
}

/// The counts in `read FILE: N ratings, U users, I items, ratings LO to
/// HI, mean M (notes)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub ratings: usize,
    pub users: usize,
    pub items: usize,
    pub low: f64,
    pub high: f64,
    pub mean: f64,
    pub notes: String,
}

impl Summary {
    fn parse(line: &str) -> Option<Summary> {
        let (_, rest) = line.rsplit_once(": ")?;
        let (counts, notes) = rest.split_once(" (")?;
        let parts: Vec<&str> = counts.split(", ").collect();
        // A count of 1 takes the singular: `1 rating`, `2 ratings`.
        let count = |part: &str, unit: &str| -> Option<usize> {
            let number = part
                .strip_suffix(unit)
                .or_else(|| part.strip_suffix(unit.strip_suffix('s')?))?;
            let number: usize = number.trim().parse().ok()?;
            let plural = part.ends_with('s');
            (plural != (number == 1)).then_some(number)
        };
        let (low, high) =
            parts.get(3)?.strip_prefix("ratings ")?.split_once(" to ")?;
        Some(Summary {
            ratings: count(parts.first()?, " ratings")?,
            users: count(parts.get(1)?, " users")?,
            items: count(parts.get(2)?, " items")?,
            low: low.parse().ok()?,
            high: high.parse().ok()?,
            mean: parts.get(4)?.strip_prefix("mean ")?.parse().ok()?,
            notes: notes.trim_end_matches(')').to_string(),
        })
    }
}

/// Item ids of a `recommend --json` or `similar --json` list, in order.
pub fn listed_items(json: &Value, key: &str) -> Vec<String> {
    json[key]
        .as_array()
        .unwrap_or_else(|| panic!("no array {key:?} in {json}"))
        .iter()
        .map(|row| {
            row["item"]
                .as_str()
                .unwrap_or_else(|| panic!("item is not a string in {row}"))
                .to_string()
        })
        .collect()
}

/// Path as a string, for building argument lists.
pub fn text(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

#[test]
fn summary_line_parses() {
    let line = "read a.csv: 5 ratings, 3 users, 3 items, ratings 2 to 5, \
                mean 3.8000 (comma-separated, header line skipped)";
    let summary = Summary::parse(line).unwrap();
    assert_eq!(summary.ratings, 5);
    assert_eq!(summary.users, 3);
    assert_eq!(summary.items, 3);
    assert_eq!((summary.low, summary.high), (2.0, 5.0));
    assert_eq!(summary.mean, 3.8);
    assert_eq!(summary.notes, "comma-separated, header line skipped");

    let line = "read b.csv: 1 rating, 1 user, 1 item, ratings 4 to 4, \
                mean 4.0000 (comma-separated)";
    let summary = Summary::parse(line).unwrap();
    assert_eq!((summary.ratings, summary.users, summary.items), (1, 1, 1));
    let wrong = "read c.csv: 1 ratings, 1 user, 1 item, ratings 4 to 4, \
                 mean 4.0000 (comma-separated)";
    assert_eq!(Summary::parse(wrong), None, "1 with a plural noun");
}

//! Starts `descent serve` on 127.0.0.1 with an ephemeral port and sends
//! it real HTTP requests: every endpoint, bad requests, reloads under load,
//! SIGHUP and a clean stop on SIGTERM.

#![cfg(target_os = "linux")]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

use descent::model::persist;
use descent::Model;
use support::{descent, text};

/// Returns the path of a file of the synthetic set in `data/`.
fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(name)
}

/// Trains a small model on `data/ratings.csv` into `path`.
fn train(path: &Path, seed: &str) {
    descent([
        "train",
        "--ratings",
        text(&data("ratings.csv")),
        "--model",
        text(path),
        "--epochs",
        "4",
        "--factors",
        "8",
        "--seed",
        seed,
        "--quiet",
        "--force",
    ])
    .success();
}

/// A running `descent serve` process.
struct Server {
    child: Child,
    base: String,
    stderr: Option<JoinHandle<String>>,
}

impl Server {
    /// Starts the server on `model` and waits for the address it prints.
    fn start(model: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_descent"))
            .args(["serve", "--model", text(model), "--port", "0"])
            .args(["--bind", "127.0.0.1", "--threads", "2"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("descent serve starts");
        // The server logs every request, so standard error is read all
        // the time to keep the pipe from filling up.
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut log = String::new();
            let _ = stderr.read_to_string(&mut log);
            log
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(base) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let log = stderr.join().unwrap();
            panic!("no address line, found {line:?}; stderr:\n{log}");
        };
        assert!(
            base.starts_with("http://127.0.0.1:"),
            "bound address {base}"
        );
        Server {
            base: base.to_string(),
            child,
            stderr: Some(stderr),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill has no memory effects; the pid is our child's.
        let result = unsafe { libc::kill(pid, signal) };
        assert_eq!(result, 0, "kill({pid}, {signal}) failed");
    }

    /// Sends SIGTERM and returns the exit status and standard error.
    fn stop(mut self) -> (ExitStatus, String) {
        self.signal(libc::SIGTERM);
        let status = wait_for_exit(&mut self.child);
        let log = self.stderr.take().unwrap().join().unwrap();
        (status, log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits up to a minute for `child` to exit, then kills it.
fn wait_for_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not stop within a minute of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Status and parsed JSON body of a response.
fn read(
    url: &str,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> (u16, Value) {
    let mut response =
        result.unwrap_or_else(|e| panic!("request to {url} failed: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.body_mut().read_to_string().unwrap();
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "{url}: content type of {body}"
    );
    let value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{url}: invalid JSON ({e}): {body}"));
    (status, value)
}

fn get(agent: &ureq::Agent, url: &str) -> (u16, Value) {
    read(url, agent.get(url).call())
}

fn post(agent: &ureq::Agent, url: &str, body: &str) -> (u16, Value) {
    let request = agent.post(url).header("content-type", "application/json");
    read(url, request.send(body))
}

/// Item ids of a list in a response, in order.
fn items_of(value: &Value, key: &str) -> Vec<String> {
    value[key]
        .as_array()
        .unwrap_or_else(|| panic!("no array {key:?} in {value}"))
        .iter()
        .map(|row| row["item"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts ranks 1, 2, ... and scores that do not increase.
fn assert_ranked(value: &Value, key: &str) {
    let rows = value[key].as_array().unwrap();
    let mut previous = f64::INFINITY;
    for (position, row) in rows.iter().enumerate() {
        assert_eq!(row["rank"], position + 1, "rank in {value}");
        let score = row["score"].as_f64().unwrap();
        assert!(score <= previous, "scores out of order in {value}");
        previous = score;
    }
}

fn error_of(value: &Value) -> &str {
    value["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {value}"))
}

/// Ids of the items `user` rated in training.
fn rated_ids(model: &Model, user: &str) -> Vec<String> {
    let index = model.users.get(user).unwrap();
    model
        .rated_by(index)
        .iter()
        .map(|&item| model.items.id(item).to_string())
        .collect()
}

struct Fixture {
    _dir: TempDir,
    model_path: PathBuf,
    model: Model,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("model.dsc");
    train(&model_path, "3");
    let model = persist::load(&model_path).unwrap();
    Fixture {
        _dir: dir,
        model_path,
        model,
    }
}

#[test]
fn endpoints_answer_json() {
    let fixture = fixture();
    let model = &fixture.model;
    let movies = data("movies.csv");
    let server =
        Server::start(&fixture.model_path, &["--items", text(&movies)]);
    let agent = agent();

    let (status, health) = get(&agent, &server.url("/health"));
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["generation"], 1);
    assert_eq!(health["users"], model.users.len());
    assert_eq!(health["items"], model.items.len());

    // User recommendations leave out rated items and match the library.
    let (status, list) =
        get(&agent, &server.url("/users/7/recommendations?n=5"));
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["kind"], "personalized");
    assert_ranked(&list, "recommendations");
    let items = items_of(&list, "recommendations");
    let expected: Vec<String> = model
        .recommend("7", 5)
        .unwrap()
        .iter()
        .map(|s| model.items.id(s.item).to_string())
        .collect();
    assert_eq!(items, expected);
    let rated = rated_ids(model, "7");
    assert!(items.iter().all(|item| !rated.contains(item)), "{items:?}");
    assert!(list["recommendations"][0]["title"].is_string(), "{list}");

    // Filters: genre, exclude and candidates.
    let url = format!(
        "/users/7/recommendations?n=3&genre=drama&exclude={}",
        items[0]
    );
    let (status, drama) = get(&agent, &server.url(&url));
    assert_eq!(status, 200, "{drama}");
    for row in drama["recommendations"].as_array().unwrap() {
        let genres = row["genres"].as_array().unwrap();
        assert!(genres.contains(&json!("Drama")), "{row}");
        assert_ne!(row["item"], items[0].as_str());
    }
    let url = format!(
        "/users/7/recommendations?n=10&candidates={},{},nothing",
        items[1], items[3]
    );
    let (status, picked) = get(&agent, &server.url(&url));
    assert_eq!(status, 200, "{picked}");
    assert_eq!(
        items_of(&picked, "recommendations"),
        vec![items[1].clone(), items[3].clone()]
    );
    assert_eq!(picked["unknown_items"], json!(["nothing"]));

    // min_item_ratings leaves out rarely rated items in every list.
    let mut counts = std::collections::HashMap::new();
    for user in 0..model.users.len() as u32 {
        for &item in model.rated_by(user) {
            *counts.entry(model.items.id(item).to_string()).or_insert(0) += 1;
        }
    }
    let mut sorted: Vec<u32> = counts.values().copied().collect();
    sorted.sort_unstable();
    let least = sorted[sorted.len() / 2];
    let query = format!("n=20&min_item_ratings={least}");
    let body = json!({
        "ratings": [{"item": "10", "rating": 5}],
        "n": 20,
        "min_item_ratings": least,
    });
    let lists = [
        get(
            &agent,
            &server.url(&format!("/users/7/recommendations?{query}")),
        ),
        get(&agent, &server.url(&format!("/items/10/similar?{query}"))),
        post(&agent, &server.url("/recommend"), &body.to_string()),
    ];
    for ((status, list), key) in
        lists
            .iter()
            .zip(["recommendations", "similar", "recommendations"])
    {
        assert_eq!(*status, 200, "{list}");
        let items = items_of(list, key);
        assert_eq!(items.len(), 20, "{list}");
        for item in &items {
            assert!(counts[item] >= least, "{item} in {list}");
        }
    }
    let url = "/users/7/recommendations?min_item_ratings=0";
    let (status, error) = get(&agent, &server.url(url));
    assert_eq!(status, 400, "{error}");
    assert!(error_of(&error).contains("min_item_ratings"), "{error}");

    // Cold start is labelled and only on request.
    let (status, cold) = get(
        &agent,
        &server.url("/users/stranger/recommendations?n=4&cold_start=popular"),
    );
    assert_eq!(status, 200, "{cold}");
    assert_eq!(cold["kind"], "popular");
    assert!(cold["note"].as_str().unwrap().contains("not personalized"));
    assert_eq!(cold["recommendations"].as_array().unwrap().len(), 4);
    assert_ranked(&cold, "recommendations");

    // Similar items.
    let (status, similar) = get(&agent, &server.url("/items/10/similar?n=4"));
    assert_eq!(status, 200, "{similar}");
    let expected: Vec<String> = model
        .similar_items("10", 4)
        .unwrap()
        .iter()
        .map(|s| model.items.id(s.item).to_string())
        .collect();
    assert_eq!(items_of(&similar, "similar"), expected);
    assert!(similar["title"].is_string(), "{similar}");

    // Batch predictions, ids as strings or integers, with fallbacks.
    let body = r#"[{"user": "7", "item": 10}, {"user": "zz", "item": "10"}]"#;
    let (status, predicted) = post(&agent, &server.url("/predict"), body);
    assert_eq!(status, 200, "{predicted}");
    let rows = predicted["predictions"].as_array().unwrap();
    let direct = model.predict("7", "10").value;
    assert!(
        (rows[0]["prediction"].as_f64().unwrap() - f64::from(direct)).abs()
            < 1e-6
    );
    assert_eq!(rows[0]["fallback"], Value::Null);
    assert_eq!(rows[1]["fallback"], "unknown_user");
    let body = r#"{"pairs": [{"user": "7", "item": "10"}]}"#;
    let (status, object) = post(&agent, &server.url("/predict"), body);
    assert_eq!(status, 200, "{object}");
    assert_eq!(object["predictions"].as_array().unwrap().len(), 1);

    // Fold-in of a new user's ratings leaves the rated items out.
    let body = json!({
        "ratings": [
            {"item": "10", "rating": 5},
            {"item": 20, "rating": 1},
            {"item": "no-such-item", "rating": 3},
        ],
        "n": 6,
        "exclude": ["30"],
    });
    let (status, folded) =
        post(&agent, &server.url("/recommend"), &body.to_string());
    assert_eq!(status, 200, "{folded}");
    assert_eq!(folded["kind"], "personalized");
    assert_eq!(folded["ratings_used"], 2);
    assert_eq!(folded["unknown_items"], json!(["no-such-item"]));
    let items = items_of(&folded, "recommendations");
    assert_eq!(items.len(), 6);
    for left_out in ["10", "20", "30"] {
        assert!(!items.contains(&left_out.to_string()), "{items:?}");
    }
    assert_ranked(&folded, "recommendations");

    let (status, log) = server.stop();
    assert!(status.success(), "exit status {status}; log:\n{log}");
}

#[test]
fn bad_requests_get_clear_errors() {
    let fixture = fixture();
    let movies = data("movies.csv");
    let limits = ["--max-body-bytes", "4096", "--max-n", "50"];
    let mut extra = vec!["--items", text(&movies), "--max-batch", "3"];
    extra.extend(limits);
    let server = Server::start(&fixture.model_path, &extra);
    let agent = agent();

    let cases: [(&str, u16, &str); 9] = [
        ("/users/ghost/recommendations", 404, "unknown user ghost"),
        ("/items/ghost/similar", 404, "unknown item ghost"),
        ("/users/7/recommendations?n=51", 400, "limit of 50"),
        ("/users/7/recommendations?n=many", 400, "invalid n \"many\""),
        (
            "/users/7/recommendations?count=3",
            400,
            "unknown field `count`",
        ),
        (
            "/users/7/recommendations?genre=Noir",
            400,
            "unknown genre Noir",
        ),
        (
            "/users/ghost/recommendations?cold_start=x",
            400,
            "cold_start",
        ),
        (
            "/no/such/endpoint",
            404,
            "no endpoint GET /no/such/endpoint",
        ),
        ("/items/10/similar?n=1000000", 400, "limit of 50"),
    ];
    for (path, expected, phrase) in cases {
        let (status, body) = get(&agent, &server.url(path));
        assert_eq!(status, expected, "{path}: {body}");
        let message = error_of(&body);
        assert!(message.contains(phrase), "{path}: {message}");
    }

    let posts: [(&str, String, u16, &str); 10] = [
        ("/predict", "[{\"user\": 1,".into(), 400, "malformed JSON"),
        (
            "/predict",
            "{\"pairs\": [{\"user\": 1}]}".into(),
            400,
            "`item`",
        ),
        ("/predict", "42".into(), 400, "expected a JSON array"),
        (
            "/predict",
            serde_json::to_string(&vec![json!({"user": 1, "item": 1}); 4])
                .unwrap(),
            400,
            "limit of 3",
        ),
        (
            "/recommend",
            "{\"ratings\": []}".into(),
            400,
            "no ratings given",
        ),
        (
            "/recommend",
            "{\"ratings\": [{\"item\": \"ghost\", \"rating\": 4}]}".into(),
            400,
            "none of the 1 rated items",
        ),
        (
            "/recommend",
            "x".repeat(64 * 1024),
            413,
            "limit of 4096 bytes",
        ),
        (
            "/recommend",
            "{\"ratings\": [{\"item\": \"1\", \"rating\": 1e40}]}".into(),
            400,
            "rating 1e40 of item 1 is outside",
        ),
        (
            "/recommend",
            "{\"ratings\": [{\"item\": \"1\", \"rating\": 9.5}]}".into(),
            400,
            "rating 9.5 of item 1 is outside",
        ),
        (
            "/recommend",
            "{\"ratings\": [{\"item\": \"1\", \"rating\": 4}], \
             \"min_item_ratings\": 0}"
                .into(),
            400,
            "invalid min_item_ratings 0",
        ),
    ];
    for (path, body, expected, phrase) in posts {
        let (status, answer) = post(&agent, &server.url(path), &body);
        assert_eq!(status, expected, "{path}: {answer}");
        let message = error_of(&answer);
        assert!(message.contains(phrase), "{path}: {message}");
    }

    let url = server.url("/health");
    let (status, body) = read(&url, agent.delete(&url).call());
    assert_eq!(status, 405, "{body}");
    assert!(error_of(&body).contains("not allowed"), "{body}");

    // The server still responds after all of the above.
    let (status, _) = get(&agent, &server.url("/health"));
    assert_eq!(status, 200);
    let (status, log) = server.stop();
    assert!(status.success(), "exit status {status}; log:\n{log}");
}

/// Read timeout of [`send_raw`]. The server waits 5 s for a stalled body
/// before it responds with 408, so a response that waits for the body
/// never arrives within it.
const RAW_TIMEOUT: Duration = Duration::from_secs(3);

/// Sends `head` and then `body` unchanged on a new connection and reads one
/// response. Unlike ureq, this can declare a `Content-Length` that the body
/// does not match.
fn send_raw(server: &Server, head: &str, body: &[u8]) -> (u16, Value) {
    send_raw_within(server, head, body, RAW_TIMEOUT)
}

/// As [`send_raw`], waiting up to `timeout` for the response.
fn send_raw_within(
    server: &Server,
    head: &str,
    body: &[u8],
    timeout: Duration,
) -> (u16, Value) {
    let address = server.base.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut reader = BufReader::new(stream);

    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap_or_else(|e| {
        panic!("no response within {timeout:?} to {head:?}: {e}")
    });
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("invalid status line {status_line:?}"));

    let mut length = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>().unwrap());
            }
        }
    }
    let length = length.unwrap_or_else(|| {
        panic!("no Content-Length in the {status} response to {head:?}")
    });
    let mut content = vec![0; length];
    reader.read_exact(&mut content).unwrap();
    let value = serde_json::from_slice(&content).unwrap_or_else(|e| {
        let text = String::from_utf8_lossy(&content);
        panic!("invalid JSON ({e}): {text}")
    });
    (status, value)
}

fn post_head(path: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/json\r\n{extra}\r\n"
    )
}

#[test]
fn oversize_content_length_gets_413() {
    let fixture = fixture();
    let extra = ["--max-body-bytes", "4096"];
    let server = Server::start(&fixture.model_path, &extra);

    // The body is 2 bytes, so only a response that does not wait for the
    // declared length arrives within RAW_TIMEOUT.
    for declared in ["4097", "2000000", "99999999999"] {
        for path in ["/predict", "/recommend"] {
            let length = format!("Content-Length: {declared}\r\n");
            let head = post_head(path, &length);
            let (status, body) = send_raw(&server, &head, b"[]");
            let case = format!("{path} with Content-Length {declared}");
            assert_eq!(status, 413, "{case}: {body}");
            let message = error_of(&body);
            assert!(message.contains("limit of 4096 bytes"), "{case}: {body}");
            assert!(message.contains("--max-body-bytes"), "{case}: {body}");
        }
    }

    // A client that waits for 100 Continue gets the 413 in its place.
    let expect = "Content-Length: 2000000\r\nExpect: 100-continue\r\n";
    let (status, body) = send_raw(&server, &post_head("/predict", expect), b"");
    assert_eq!(status, 413, "{body}");

    // A body of exactly the limit is read as before.
    let mut exact = b"[]".to_vec();
    exact.resize(4096, b' ');
    let head = post_head("/predict", "Content-Length: 4096\r\n");
    let (status, body) = send_raw(&server, &head, &exact);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["predictions"], json!([]));

    // A chunked body has no declared length and is checked as it is read.
    let chunked = "Transfer-Encoding: chunked\r\n";
    let small = b"2\r\n[]\r\n0\r\n\r\n";
    let (status, body) =
        send_raw(&server, &post_head("/predict", chunked), small);
    assert_eq!(status, 200, "{body}");
    let mut large = format!("{:x}\r\n", 8192).into_bytes();
    large.resize(large.len() + 8192, b' ');
    large.extend_from_slice(b"\r\n0\r\n\r\n");
    let (status, body) =
        send_raw(&server, &post_head("/predict", chunked), &large);
    assert_eq!(status, 413, "{body}");
    assert!(error_of(&body).contains("limit of 4096 bytes"), "{body}");

    let (status, _) = get(&agent(), &server.url("/health"));
    assert_eq!(status, 200);
    let (status, log) = server.stop();
    assert!(status.success(), "exit status {status}; log:\n{log}");
}

#[test]
fn stalled_clients_time_out() {
    let fixture = fixture();
    let server = Server::start(&fixture.model_path, &[]);

    // A body shorter than its Content-Length gets 408 once it stops
    // arriving, rather than holding the request open.
    let head = post_head("/predict", "Content-Length: 50\r\n");
    let wait = Duration::from_secs(30);
    let (status, body) = send_raw_within(&server, &head, b"[", wait);
    assert_eq!(status, 408, "{body}");
    assert!(error_of(&body).contains("was not complete"), "{body}");

    // A client that sends part of its headers and then nothing neither
    // blocks other requests nor keeps the server from stopping.
    let address = server.base.strip_prefix("http://").unwrap();
    let mut stalled = TcpStream::connect(address).unwrap();
    stalled.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
    let (status, _) = get(&agent(), &server.url("/health"));
    assert_eq!(status, 200);

    // A second signal ends the wait for open connections. The pause lets
    // the server take the first signal on its own.
    server.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    let (status, log) = server.stop();
    assert!(status.success(), "exit status {status}; log:\n{log}");
    assert!(log.contains("received SIGTERM again"), "{log}");
    drop(stalled);
}

#[cfg(unix)]
#[test]
fn pipe_as_model_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let pipe = dir.path().join("model.dsc");
    let made = Command::new("mkfifo").arg(&pipe).status().unwrap();
    assert!(made.success(), "mkfifo failed");
    let run = descent(["serve", "--model", text(&pipe), "--port", "0"]);
    let run = run.failure();
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
    assert!(run.stderr.contains("--model"), "{}", run.stderr);
}

/// Replaces `target` with `source` by a copy and a rename, as a deploy
/// would, so the server never reads a half-written file.
fn swap_model(source: &Path, target: &Path) {
    let staging = target.with_extension("staging");
    std::fs::copy(source, &staging).unwrap();
    std::fs::rename(&staging, target).unwrap();
}

#[test]
fn reload_under_load_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.dsc");
    let second = dir.path().join("second.dsc");
    let served = dir.path().join("served.dsc");
    train(&first, "1");
    train(&second, "2");
    swap_model(&first, &served);
    let server = Server::start(&served, &[]);
    let model = persist::load(&first).unwrap();
    // Users with at least 5 unrated items, so every list is full.
    let users: Vec<String> = (0..model.users.len() as u32)
        .filter(|&u| model.rated_by(u).len() + 5 <= model.items.len())
        .take(50)
        .map(|u| model.users.id(u).to_string())
        .collect();

    const THREADS: usize = 4;
    const REQUESTS: usize = 150;
    const MAX_REQUESTS: usize = 5000;
    let failures = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let failures = Arc::clone(&failures);
            let finished = Arc::clone(&finished);
            let users = users.clone();
            let base = server.url("");
            std::thread::spawn(move || {
                let agent = agent();
                let mut statuses = Vec::new();
                // Each thread sends at least REQUESTS requests and goes on
                // until the reloads are done, up to MAX_REQUESTS.
                for request in 0..MAX_REQUESTS {
                    if request >= REQUESTS && finished.load(Ordering::SeqCst) {
                        break;
                    }
                    let user = &users[(thread * 31 + request) % users.len()];
                    let url =
                        format!("{base}/users/{user}/recommendations?n=5");
                    let (status, body) = get(&agent, &url);
                    if status != 200
                        || body["recommendations"]
                            .as_array()
                            .map_or(0, Vec::len)
                            != 5
                    {
                        failures.fetch_add(1, Ordering::SeqCst);
                        statuses.push((status, body.to_string()));
                    }
                }
                statuses
            })
        })
        .collect();

    let agent = agent();
    let mut generation = 1;
    for round in 0..6 {
        let source = if round % 2 == 0 { &second } else { &first };
        swap_model(source, &served);
        let (status, body) = post(&agent, &server.url("/reload"), "");
        assert_eq!(status, 200, "reload {round}: {body}");
        generation += 1;
        assert_eq!(body["generation"], generation, "{body}");
    }

    // A damaged file fails to load, and the old model keeps serving.
    std::fs::write(&served, b"not a model").unwrap();
    let (status, body) = post(&agent, &server.url("/reload"), "");
    assert_eq!(status, 500, "{body}");
    let message = error_of(&body);
    assert!(message.contains("reload failed"), "{message}");
    assert!(
        message.contains(&format!("still serving generation {generation}")),
        "{message}"
    );
    let (status, health) = get(&agent, &server.url("/health"));
    assert_eq!(status, 200);
    assert_eq!(health["generation"], generation, "{health}");

    finished.store(true, Ordering::SeqCst);
    let mut bad = Vec::new();
    for worker in workers {
        bad.extend(worker.join().unwrap());
    }
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "failed requests: {bad:?}"
    );
    let (status, log) = server.stop();
    assert!(status.success(), "exit status {status}");
    let served_requests = log.matches(" request ").count();
    assert!(
        served_requests >= THREADS * REQUESTS + 8,
        "{served_requests} request log lines"
    );
}

#[test]
fn sighup_reloads_model() {
    let fixture = fixture();
    let server = Server::start(&fixture.model_path, &[]);
    let agent = agent();
    server.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, health) = get(&agent, &server.url("/health"));
        if health["generation"] == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no reload after SIGHUP: {health}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, log) = server.stop();
    assert!(status.success(), "exit status {status}");
    assert!(log.contains("received SIGHUP"), "{log}");
    assert!(log.contains("reloaded model"), "{log}");
}

#[test]
fn stop_logs_each_request() {
    let fixture = fixture();
    let server = Server::start(&fixture.model_path, &[]);
    let agent = agent();
    for path in ["/health", "/users/7/recommendations", "/items/x/similar"] {
        get(&agent, &server.url(path));
    }
    let (status, log) = server.stop();
    assert!(status.success(), "exit status {status}; log:\n{log}");
    let lines: Vec<&str> =
        log.lines().filter(|l| l.contains(" request ")).collect();
    assert_eq!(lines.len(), 3, "{log}");
    for (line, expected) in lines.iter().zip(["200", "200", "404"]) {
        assert!(line.contains("method=GET"), "{line}");
        assert!(line.contains(&format!("status={expected}")), "{line}");
        assert!(line.contains("latency_ms="), "{line}");
    }
    assert!(!log.contains('\u{1b}'), "color codes in a piped log: {log}");
    assert!(log.contains("received SIGTERM"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn port_in_use_reported() {
    let fixture = fixture();
    let server = Server::start(&fixture.model_path, &[]);
    let port = server.base.rsplit(':').next().unwrap().to_string();
    let run = descent([
        "serve",
        "--model",
        text(&fixture.model_path),
        "--port",
        &port,
    ])
    .failure();
    assert!(
        run.stderr.contains("cannot listen on 127.0.0.1:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--port"), "{}", run.stderr);
    let (status, _) = server.stop();
    assert!(status.success());
}

#[test]
fn missing_model_fails_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.dsc");
    let run =
        descent(["serve", "--model", text(&missing), "--port", "0"]).failure();
    assert!(run.stderr.contains("none.dsc"), "{}", run.stderr);
    assert!(!run.stdout.contains("listening"), "{}", run.stdout);
}

//! Times `load_ratings` on synthetic MovieLens `ratings.csv` files of 1M
//! and 10M rows against `wc -l` on the same file, at 1 and 2 threads, and
//! measures the peak resident memory of one load in a child process.
//!
//! Run with `cargo bench --bench load`. The files are generated once per
//! run into a temporary folder and read once before timing, so every
//! timed read comes from the page cache. Each figure is the median of
//! [`RUNS`] runs, and the runs of `wc -l` and of the loader alternate.
//! The 1-minute load average after the runs is printed with each file,
//! since other jobs on the machine slow both. Results are recorded in
//! `BENCHMARKS.md`, section "Loading".

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use descent::data::generate::{generate, SyntheticSpec};
use descent::data::load::{load_ratings, LoadOptions};

/// Timed runs of each command; the median is reported.
const RUNS: usize = 7;

const THREADS: [usize; 2] = [1, 2];

/// Argument that makes this binary load one file and print its peak
/// resident memory, so that the figure covers nothing but the load.
const PEAK_RSS_ARG: &str = "--peak-rss";

struct Size {
    users: usize,
    items: usize,
    ratings: usize,
}

const SIZES: [Size; 2] = [
    Size {
        users: 20_000,
        items: 5_000,
        ratings: 1_000_000,
    },
    Size {
        users: 100_000,
        items: 20_000,
        ratings: 10_000_000,
    },
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == PEAK_RSS_ARG) {
        let path = &args[at + 1];
        let threads: usize = args[at + 2].parse().expect("a thread count");
        print_peak_rss(Path::new(path), threads);
        return;
    }

    let dir = tempfile::tempdir().expect("failed to create a temporary dir");
    for size in &SIZES {
        let folder = dir.path().join(size.ratings.to_string());
        let spec = SyntheticSpec {
            users: size.users,
            items: size.items,
            ratings: size.ratings,
            ..SyntheticSpec::default()
        };
        generate(&spec)
            .and_then(|data| data.write(&folder, true))
            .expect("failed to write the synthetic ratings");
        bench_file(&folder.join("ratings.csv"), size);
    }
}

fn thread_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("failed to start the rayon thread pool")
}

fn load(path: &Path) -> usize {
    let (ratings, _) = load_ratings(path, &LoadOptions::default())
        .expect("failed to load the ratings CSV");
    ratings.len()
}

/// Runs `wc -l FILE` and returns its time.
fn time_wc(path: &Path) -> Duration {
    let start = Instant::now();
    let output = Command::new("wc")
        .arg("-l")
        .arg(path)
        .output()
        .expect("failed to run wc -l");
    let elapsed = start.elapsed();
    assert!(output.status.success(), "wc -l failed: {output:?}");
    elapsed
}

/// Loads `path` in `pool` and returns the time, without the time taken to
/// free the ratings.
fn time_load(pool: &rayon::ThreadPool, path: &Path, rows: usize) -> Duration {
    let start = Instant::now();
    let loaded = pool.install(|| {
        load_ratings(path, &LoadOptions::default())
            .expect("failed to load the ratings CSV")
    });
    let elapsed = start.elapsed();
    assert_eq!(loaded.0.len(), rows, "ratings loaded from {path:?}");
    drop(loaded);
    elapsed
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn bench_file(path: &Path, size: &Size) {
    let bytes = std::fs::metadata(path).expect("the file was written").len();
    let megabytes = bytes as f64 / 1e6;
    let pools: Vec<rayon::ThreadPool> = THREADS
        .iter()
        .map(|&threads| thread_pool(threads))
        .collect();

    // One untimed pass reads the file into the page cache.
    time_wc(path);
    let rows = load(path);

    let mut wc = Vec::new();
    let mut loads = vec![Vec::new(); THREADS.len()];
    for _ in 0..RUNS {
        wc.push(time_wc(path));
        for (pool, times) in pools.iter().zip(&mut loads) {
            times.push(time_load(pool, path, rows));
        }
    }

    let wc = median(wc);
    println!(
        "{} ratings, {} users, {} items: {path:?}, {megabytes:.1} MB, \
         load average {}",
        size.ratings,
        size.users,
        size.items,
        load_average()
    );
    println!(
        "  wc -l       {:8.1} ms {:8.0} MB/s",
        wc.as_secs_f64() * 1e3,
        megabytes / wc.as_secs_f64()
    );
    for (threads, times) in THREADS.iter().zip(loads) {
        let time = median(times);
        let rss = peak_rss_of_child(path, *threads);
        println!(
            "  load {threads} thr  {:8.1} ms {:8.0} MB/s  {:5.2}x wc -l  \
             peak RSS {:.0} MB",
            time.as_secs_f64() * 1e3,
            megabytes / time.as_secs_f64(),
            time.as_secs_f64() / wc.as_secs_f64(),
            rss as f64 / 1e6
        );
    }
}

/// Returns the 1-minute load average from `/proc/loadavg` (Linux only), so
/// that figures measured while other jobs ran are marked as such.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

/// Runs this binary to load `path` once with `threads` threads and returns
/// the peak resident memory of that process in bytes.
fn peak_rss_of_child(path: &Path, threads: usize) -> u64 {
    let exe = std::env::current_exe().expect("the path of this benchmark");
    let output = Command::new(exe)
        .arg(PEAK_RSS_ARG)
        .arg(path)
        .arg(threads.to_string())
        .output()
        .expect("failed to run the peak memory measurement");
    assert!(
        output.status.success(),
        "peak memory run failed: {output:?}"
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("the child prints its peak memory in bytes")
}

/// Loads `path` and prints the peak resident memory of this process in
/// bytes, read from `VmHWM` in `/proc/self/status` (Linux only).
fn print_peak_rss(path: &Path, threads: usize) {
    thread_pool(threads).install(|| load(path));
    let status = std::fs::read_to_string("/proc/self/status")
        .expect("failed to read /proc/self/status");
    let kilobytes: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|number| number.trim().parse().ok())
        .expect("VmHWM in kB in /proc/self/status");
    println!("{}", kilobytes * 1024);
}

//! Runs independent training jobs, such as cross-validation folds, either
//! several at once or one after another with several threads each.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{Error, Result};

/// Builds a rayon pool of `threads` threads.
///
/// # Errors
///
/// Fails when the operating system cannot start the threads.
pub fn pool(threads: usize) -> Result<ThreadPool> {
    ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Error::Invalid(format!("cannot start threads: {e}")))
}

/// Runs `task(0)`, ..., `task(count - 1)` and returns their results in
/// that order.
///
/// With `at_once` above 1, a pool of `at_once` threads works through the
/// tasks, each thread taking the next task when it finishes one, so at
/// most `at_once` tasks are in memory at a time. Rayon work inside a task
/// (the SGD blocks of an epoch) runs on the same pool, so a thread that
/// waits inside its task helps the others. With `at_once` of 1, the tasks
/// run one after another on a pool of `threads` threads.
///
/// `done(index, result)` is called as each task finishes, from the thread
/// that ran it. After the first failure no new task starts.
///
/// # Errors
///
/// Returns the error of the lowest-numbered failed task, or a failure to
/// start threads.
pub fn run_tasks<T, F, D>(
    at_once: usize,
    threads: usize,
    count: usize,
    task: F,
    done: D,
) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(usize) -> Result<T> + Sync,
    D: Fn(usize, &Result<T>) + Sync,
{
    let results: Mutex<Vec<Option<Result<T>>>> =
        Mutex::new((0..count).map(|_| None).collect());
    let failed = AtomicBool::new(false);
    let run_one = |index: usize| {
        let result = task(index);
        done(index, &result);
        if result.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        results
            .lock()
            .expect("no task panics while holding the lock")[index] =
            Some(result);
    };
    if at_once <= 1 {
        pool(threads)?.install(|| {
            for index in 0..count {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                run_one(index);
            }
        });
    } else {
        // `broadcast` runs the loop once on every thread of the pool, and
        // no task is queued where another thread could steal it, so each
        // thread runs at most one task at a time.
        let next = AtomicUsize::new(0);
        pool(at_once.min(count))?.broadcast(|_| loop {
            if failed.load(Ordering::Relaxed) {
                break;
            }
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index >= count {
                break;
            }
            run_one(index);
        });
    }
    let mut results = results.into_inner().expect("no task panicked");
    // After a failure some later tasks never ran, and their slots are
    // empty; without a failure every slot is filled.
    let first_failure = results.iter().position(|r| matches!(r, Some(Err(_))));
    if let Some(index) = first_failure {
        if let Some(Err(error)) = results.swap_remove(index) {
            return Err(error);
        }
    }
    Ok(results
        .into_iter()
        .map(|slot| match slot {
            Some(Ok(value)) => value,
            _ => unreachable!("every task ran and none failed"),
        })
        .collect())
}

/// Chooses how many of `tasks` jobs to run at once on `cores` cores, when
/// each needs about `bytes_per_task` bytes. That is one per core, unless
/// that would take more than half of `available_bytes`, and then as many
/// as fit, at least 1.
pub fn tasks_at_once(
    tasks: usize,
    cores: usize,
    bytes_per_task: u64,
    available_bytes: Option<u64>,
) -> usize {
    let one_per_core = tasks.min(cores).max(1);
    match available_bytes {
        Some(available) if bytes_per_task > 0 => {
            let fit = (available / 2 / bytes_per_task) as usize;
            one_per_core.min(fit).max(1)
        }
        _ => one_per_core,
    }
}

/// Memory the operating system reports as available to new work, from
/// `MemAvailable` in `/proc/meminfo`; `None` where that file is missing
/// or unreadable.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_task_order() {
        for at_once in [1, 2, 3] {
            let out = run_tasks(at_once, 2, 7, |i| Ok(i * i), |_, _| {});
            assert_eq!(out.unwrap(), vec![0, 1, 4, 9, 16, 25, 36]);
        }
    }

    #[test]
    fn first_failure_returned() {
        for at_once in [1, 2] {
            let out = run_tasks(
                at_once,
                2,
                5,
                |i| {
                    if i == 1 {
                        Err(Error::Invalid("task 1 failed".into()))
                    } else {
                        Ok(i)
                    }
                },
                |_, _| {},
            );
            let error = out.unwrap_err().to_string();
            assert!(error.contains("task 1 failed"), "{error}");
        }
    }

    #[test]
    fn memory_limits_tasks_at_once() {
        assert_eq!(tasks_at_once(5, 2, 1000, Some(1_000_000)), 2);
        assert_eq!(tasks_at_once(5, 8, 1000, None), 5);
        assert_eq!(tasks_at_once(5, 4, 1000, Some(2500)), 1);
        assert_eq!(tasks_at_once(5, 4, 1000, Some(4000)), 2);
        assert_eq!(tasks_at_once(1, 4, 1000, Some(100)), 1);
    }
}

//! Locates the shared rating data sets for the integration tests.

use std::path::PathBuf;

/// Returns the path of `relative` under `../shared/data`, or `None` after
/// printing a note when it is missing.
///
/// # Panics
///
/// Panics when the file is missing and the `CI` environment variable is
/// set, so that CI never passes by skipping.
pub fn shared_data(relative: &str) -> Option<PathBuf> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");
    let path = PathBuf::from(root).join(relative);
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{} is missing", path.display());
    }
    eprintln!("note: {} is missing; test skipped", path.display());
    None
}

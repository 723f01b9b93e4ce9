//! The crate's error type.
//!
//! Policy: anything caused by input data, parameters or the file system is
//! an [`Error`]; a broken internal contract (for example factor matrices
//! whose lengths disagree) panics with a message.

use std::path::{Path, PathBuf};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while loading, training or querying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A row of a ratings or items file could not be read.
    #[error("{}:{line}: column \"{column}\": {message}", path.display())]
    Parse {
        /// The file that contains the row.
        path: PathBuf,
        /// Line number, counted from 1.
        line: u64,
        /// Column name, from the header when the file has one.
        column: String,
        /// The expected and the found value, in words.
        message: String,
    },

    /// A row has the wrong number of fields.
    #[error("{}:{line}: {message}", path.display())]
    Row {
        /// The file that contains the row.
        path: PathBuf,
        /// Line number, counted from 1.
        line: u64,
        /// The expected and the found value, in words.
        message: String,
    },

    /// A ratings file contains no ratings at all.
    #[error("{}: no ratings found ({detail})", path.display())]
    Empty {
        /// The file that was read.
        path: PathBuf,
        /// A description of what the file contained instead.
        detail: String,
    },

    /// A training or query parameter is out of its valid range.
    #[error("invalid {name} {value}: {reason}")]
    InvalidParameter {
        /// The parameter, spelled as the command-line option.
        name: &'static str,
        /// The value given.
        value: String,
        /// The valid range.
        reason: String,
    },

    /// Training produced a non-finite loss or factor.
    #[error(
        "training diverged at epoch {epoch}: the {what} became {value}; \
         try a smaller --learning-rate (it was {learning_rate}) or \
         --bias-learning-rate, a smaller --init-std or --regularization, \
         or rescale ratings far from the 1-10 range"
    )]
    Diverged {
        /// Epoch at which it was detected, counted from 1.
        epoch: usize,
        /// The quantity that became non-finite.
        what: &'static str,
        /// The offending value.
        value: f64,
        /// The learning rate in use.
        learning_rate: f32,
    },

    /// A model file is missing parts, damaged or of another format.
    #[error("{}: not a readable descent model: {reason}", path.display())]
    Model {
        /// The file given as a model.
        path: PathBuf,
        /// The reason it could not be read.
        reason: String,
    },

    /// A user id that the model has never seen.
    #[error(
        "unknown user {0}: the model has no ratings from this user; \
         `recommend --cold-start popular` lists popular items instead"
    )]
    UnknownUser(String),

    /// An item id that the model has never seen.
    #[error("unknown item {0}: the model has no ratings of this item")]
    UnknownItem(String),

    /// A genre that no item of the items file has.
    #[error(
        "unknown genre {genre}: no item has it; the items file lists {}",
        genre_list(known)
    )]
    UnknownGenre {
        /// The genre as given.
        genre: String,
        /// The genres the items file lists, sorted.
        known: Vec<String>,
    },

    /// An output file exists and would be replaced.
    #[error(
        "{} already exists; pass --force to replace it",
        path.display()
    )]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },

    /// A request that cannot be met for another stated reason.
    #[error("{0}")]
    Invalid(String),
}

/// Joins genre names for [`Error::UnknownGenre`].
fn genre_list(known: &[String]) -> String {
    if known.is_empty() {
        "no genres".to_string()
    } else {
        known.join(", ")
    }
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// Builds a [`Error::Model`] for `path`.
    pub fn model(path: impl AsRef<Path>, reason: impl Into<String>) -> Self {
        Error::Model {
            path: path.as_ref().to_path_buf(),
            reason: reason.into(),
        }
    }
}

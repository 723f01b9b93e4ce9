//! descent: a recommender built on biased matrix factorization, trained
//! with parallel stochastic gradient descent.
//!
//! Load ratings, train, then query:
//!
//! ```
//! use std::path::Path;
//! use descent::data::load::{parse_ratings, LoadOptions};
//! use descent::{fit, TrainParams};
//!
//! let text = "userId,movieId,rating\n1,10,4\n1,20,2\n2,10,5\n2,30,3\n";
//! let (ratings, _report) =
//!     parse_ratings(text.as_bytes(), Path::new("ratings.csv"), &LoadOptions::default())?;
//! let model = fit(&ratings, &TrainParams { epochs: 10, ..TrainParams::default() })?;
//!
//! // User 1 has rated items 10 and 20, so only 30 is left to recommend.
//! let top = model.recommend("1", 5)?;
//! assert_eq!(model.items.id(top[0].item), "30");
//!
//! // Failures are values, with the id in the message.
//! let error = model.recommend("99", 5).unwrap_err();
//! assert!(error.to_string().contains("unknown user 99"));
//! # Ok::<(), descent::Error>(())
//! ```

#![deny(missing_docs)]

pub mod data;
pub mod error;
pub mod eval;
pub mod model;
pub mod plural;
pub mod serve;

pub use error::{Error, Result};
pub use model::params::TrainParams;
pub use model::train::{fit, fit_with, EpochReport, HeldOut, Trainer};
pub use model::Model;

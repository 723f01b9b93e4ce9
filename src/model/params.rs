//! Training settings, checked once before training starts.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Settings of biased matrix factorization trained with parallel SGD.
///
/// The defaults were chosen by measurement on the MovieLens 100K folds
/// u1..u5, the fixed 80/20 split of MovieLens latest-small and planted
/// synthetic data (see `BENCHMARKS.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainParams {
    /// Length of each user and item factor vector. Default 128, 1 to
    /// [`TrainParams::MAX_FACTORS`].
    pub factors: usize,
    /// Passes over the training ratings. Default 60, 1 to
    /// [`TrainParams::MAX_EPOCHS`].
    pub epochs: usize,
    /// SGD step size of the factors in the first epoch. With `adagrad`,
    /// each row divides it by the root of its AdaGrad sum. Default 0.0175,
    /// above 0.
    pub learning_rate: f32,
    /// Whether factor steps are scaled per row, AdaGrad-style as in LIBMF.
    /// Each user and item row keeps a sum that starts at
    /// `adagrad_initial_accumulator` and grows by the squared norm of the
    /// gradient of its factor vector, divided by 128, after each of its
    /// updates, and takes factor steps of
    /// `learning_rate * decay^(e-1) / sqrt(sum)`. Rows with many ratings
    /// thus slow down sooner. The divisor is fixed rather than the factor
    /// count, so the same settings suit any factor count. Bias steps are
    /// not scaled.
    /// Default true. A saved model without this setting reads as false,
    /// because it was trained before the setting existed.
    #[serde(default)]
    pub adagrad: bool,
    /// Starting value of each row's AdaGrad sum, so the first factor step
    /// of a row is `learning_rate / sqrt(adagrad_initial_accumulator)`.
    /// Default 0.01, above 0.
    pub adagrad_initial_accumulator: f32,
    /// SGD step size of the user and item biases in the first epoch; it
    /// shrinks by `decay` like `learning_rate` but is never scaled by
    /// AdaGrad. A small step keeps the biases from chasing noise. Default
    /// 0.004, above 0.
    pub bias_learning_rate: f32,
    /// Factor by which the step size shrinks after each epoch, so epoch
    /// `e` (from 1) uses `learning_rate * decay^(e-1)`. Default 0.98,
    /// in (0, 1].
    pub decay: f32,
    /// L2 penalty on user and item factors. Default 0.1, at least 0.
    pub regularization: f32,
    /// How the factor penalty of a row depends on its rating count: each
    /// update of a row with `n` ratings applies
    /// `regularization * (100 / n)^regularization_exponent`. 0 gives
    /// every update the same penalty; 1 gives every row the same total.
    /// Default 0.75, in [0, 1].
    pub regularization_exponent: f32,
    /// L2 penalty on user and item biases. Default 0.01, at least 0.
    pub bias_regularization: f32,
    /// Standard deviation of the Gaussian that initial factors are drawn
    /// from. Default 0.02, above 0.
    pub init_std: f32,
    /// Seed of every random choice: initial factors, the order of ratings
    /// within a block and the order of blocks. Default 42.
    pub seed: u64,
    /// Worker threads; 0 uses one per core. Default 0, at most
    /// [`TrainParams::MAX_THREADS`].
    pub threads: usize,
    /// Bands the users and the items are each cut into, giving
    /// `blocks * blocks` blocks; 0 picks `max(8, 2 * threads)`, lowered
    /// (not below 8) until blocks average at least 256 ratings. The model
    /// depends on this number, not on the thread count, so with the same
    /// seed and blocks it is bit-identical for any number of threads.
    /// Default 0, at most [`TrainParams::MAX_BLOCKS`].
    pub blocks: usize,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            factors: 128,
            epochs: 60,
            learning_rate: 0.0175,
            adagrad: true,
            adagrad_initial_accumulator: 0.01,
            bias_learning_rate: 0.004,
            decay: 0.98,
            regularization: 0.1,
            regularization_exponent: 0.75,
            bias_regularization: 0.01,
            init_std: 0.02,
            seed: 42,
            threads: 0,
            blocks: 0,
        }
    }
}

fn invalid(name: &'static str, value: impl ToString, reason: &str) -> Error {
    Error::InvalidParameter {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

impl TrainParams {
    /// Maximum `factors`.
    pub const MAX_FACTORS: usize = 4096;
    /// Maximum `epochs`, far above the default of 60, so that a mistyped
    /// count fails at once instead of training for days.
    pub const MAX_EPOCHS: usize = 10_000;
    /// Maximum `threads`.
    pub const MAX_THREADS: usize = 1024;
    /// Maximum `blocks`.
    pub const MAX_BLOCKS: usize = 1024;

    /// Checks every setting against its valid range.
    ///
    /// # Errors
    ///
    /// Returns [`Error::InvalidParameter`] naming the first bad setting,
    /// by its command-line option, and its value.
    pub fn validate(&self) -> Result<()> {
        if !(1..=Self::MAX_FACTORS).contains(&self.factors) {
            return Err(invalid(
                "--factors",
                self.factors,
                &format!("must be 1 to {}", Self::MAX_FACTORS),
            ));
        }
        if !(1..=Self::MAX_EPOCHS).contains(&self.epochs) {
            return Err(invalid(
                "--epochs",
                self.epochs,
                &format!("must be 1 to {}", Self::MAX_EPOCHS),
            ));
        }
        let lr = self.learning_rate;
        if !(lr.is_finite() && lr > 0.0) {
            return Err(invalid(
                "--learning-rate",
                lr,
                "must be a finite number above 0",
            ));
        }
        let bias_lr = self.bias_learning_rate;
        if !(bias_lr.is_finite() && bias_lr > 0.0) {
            return Err(invalid(
                "--bias-learning-rate",
                bias_lr,
                "must be a finite number above 0",
            ));
        }
        let initial = self.adagrad_initial_accumulator;
        if !(initial.is_finite() && initial > 0.0) {
            return Err(invalid(
                "--adagrad-initial-accumulator",
                initial,
                "must be a finite number above 0",
            ));
        }
        if !(self.decay > 0.0 && self.decay <= 1.0) {
            return Err(invalid(
                "--decay",
                self.decay,
                "must be above 0 and at most 1",
            ));
        }
        // Factors that all start at 0 get 0 gradients and stay 0.
        if !(self.init_std.is_finite() && self.init_std > 0.0) {
            return Err(invalid(
                "--init-std",
                self.init_std,
                "must be a finite number above 0",
            ));
        }
        let penalties = [
            ("--regularization", self.regularization),
            ("--bias-regularization", self.bias_regularization),
        ];
        for (name, value) in penalties {
            if !(value.is_finite() && value >= 0.0) {
                return Err(invalid(
                    name,
                    value,
                    "must be a finite number >= 0",
                ));
            }
        }
        let exponent = self.regularization_exponent;
        if !(0.0..=1.0).contains(&exponent) {
            return Err(invalid(
                "--regularization-exponent",
                exponent,
                "must be between 0 and 1",
            ));
        }
        if self.threads > Self::MAX_THREADS {
            return Err(invalid(
                "--threads",
                self.threads,
                &format!("must be 0 to {}", Self::MAX_THREADS),
            ));
        }
        if self.blocks > Self::MAX_BLOCKS {
            return Err(invalid(
                "--blocks",
                self.blocks,
                &format!("must be 0 to {}", Self::MAX_BLOCKS),
            ));
        }
        Ok(())
    }

    /// Worker threads to use: `threads`, or one per core when it is 0.
    pub fn thread_count(&self) -> usize {
        if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        }
    }

    /// Bands per side: `blocks`, or `max(8, 2 * threads)` (at most 1024)
    /// when it is 0.
    pub fn band_count(&self) -> usize {
        if self.blocks == 0 {
            (2 * self.thread_count()).clamp(8, 1024)
        } else {
            self.blocks
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        TrainParams::default().validate().unwrap();
    }

    #[test]
    fn bad_values_name_option_and_value() {
        type Change = fn(&mut TrainParams);
        let cases: [(Change, &str); 9] = [
            (|p| p.learning_rate = -0.01, "invalid --learning-rate -0.01"),
            (
                |p| p.learning_rate = f32::NAN,
                "invalid --learning-rate NaN",
            ),
            (|p| p.factors = 0, "invalid --factors 0"),
            (|p| p.epochs = 0, "invalid --epochs 0"),
            (
                |p| p.epochs = 10_001,
                "invalid --epochs 10001: must be 1 to 10000",
            ),
            (|p| p.decay = 1.5, "invalid --decay 1.5"),
            (|p| p.regularization = -1.0, "invalid --regularization -1"),
            (
                |p| p.adagrad_initial_accumulator = 0.0,
                "invalid --adagrad-initial-accumulator 0",
            ),
            (
                |p| p.adagrad_initial_accumulator = f32::INFINITY,
                "invalid --adagrad-initial-accumulator inf",
            ),
        ];
        for (change, expected) in cases {
            let mut params = TrainParams::default();
            change(&mut params);
            let message = params.validate().unwrap_err().to_string();
            assert!(message.starts_with(expected), "{message}");
        }
    }

    #[test]
    fn settings_saved_without_adagrad_read_as_plain_sgd() {
        let mut saved = serde_json::to_value(TrainParams::default()).unwrap();
        saved.as_object_mut().unwrap().remove("adagrad");
        let params: TrainParams = serde_json::from_value(saved).unwrap();
        assert!(!params.adagrad);
        assert!(TrainParams::default().adagrad);
    }
}

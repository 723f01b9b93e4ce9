//! Value parsers of numeric options that reject values outside the
//! option's range, with a message that states the range.

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;

/// Upper limit of list lengths (`--count`, `serve --max-n`), far above
/// what a person reads, so that a mistyped length fails at once.
pub(super) const MAX_COUNT: usize = 100_000;

/// Upper limit of thread and job counts.
pub(super) const MAX_THREADS: usize = descent::TrainParams::MAX_THREADS;

/// A whole number from `min` to `max`.
#[derive(Clone, Copy, Debug)]
pub(super) struct WholeNumber {
    min: u64,
    max: u64,
}

/// Accepts whole numbers from `min` to `max`, both included.
pub(super) fn whole(min: u64, max: u64) -> WholeNumber {
    WholeNumber { min, max }
}

impl TypedValueParser for WholeNumber {
    type Value = usize;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<usize, clap::Error> {
        let text = value.to_string_lossy();
        let parsed = text.trim().parse::<u64>().ok();
        match parsed {
            Some(number) if (self.min..=self.max).contains(&number) => {
                usize::try_from(number).map_err(|_| {
                    out_of_range(command, arg, &text, &self.range())
                })
            }
            _ => Err(out_of_range(command, arg, &text, &self.range())),
        }
    }
}

impl WholeNumber {
    fn range(&self) -> String {
        format!("must be a whole number from {} to {}", self.min, self.max)
    }
}

/// A number above 0 and below 1, such as a share of the ratings.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fraction;

impl TypedValueParser for Fraction {
    type Value = f64;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<f64, clap::Error> {
        let text = value.to_string_lossy();
        match text.trim().parse::<f64>() {
            Ok(number) if number > 0.0 && number < 1.0 => Ok(number),
            _ => Err(out_of_range(
                command,
                arg,
                &text,
                "must be a number above 0 and below 1",
            )),
        }
    }
}

/// Builds the error `invalid --NAME VALUE: REASON`, in the wording of the
/// library's own range checks.
fn out_of_range(
    command: &clap::Command,
    arg: Option<&clap::Arg>,
    value: &str,
    reason: &str,
) -> clap::Error {
    let name = arg
        .and_then(clap::Arg::get_long)
        .map_or_else(|| "value".to_string(), |long| format!("--{long}"));
    clap::Error::raw(
        ErrorKind::ValueValidation,
        format!("invalid {name} {value}: {reason}\n"),
    )
    .with_cmd(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<P: TypedValueParser>(
        parser: P,
        text: &str,
    ) -> Result<P::Value, String> {
        let command = clap::Command::new("descent");
        let arg = clap::Arg::new("epochs").long("epochs");
        parser
            .parse_ref(&command, Some(&arg), OsStr::new(text))
            .map_err(|error| error.to_string())
    }

    #[test]
    fn whole_numbers_in_range() {
        assert_eq!(parse(whole(1, 10), "1"), Ok(1));
        assert_eq!(parse(whole(1, 10), "10"), Ok(10));
        for text in ["0", "11", "-1", "2.5", "x", "", "99999999999999999999"] {
            let error = parse(whole(1, 10), text).unwrap_err();
            assert!(
                error.contains(&format!(
                    "invalid --epochs {text}: must be a whole number from 1 \
                     to 10"
                )),
                "{error}"
            );
        }
    }

    #[test]
    fn fractions_strictly_inside() {
        assert_eq!(parse(Fraction, "0.2"), Ok(0.2));
        for text in ["0", "1", "1.5", "-0.1", "NaN", "inf", "x"] {
            let error = parse(Fraction, text).unwrap_err();
            assert!(error.contains("above 0 and below 1"), "{error}");
        }
    }
}

//! Value parsers of numeric options that reject values outside the
//! option's range, with a message that states the range.

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use descent::data::ids::{escape_invisible, find_invalid_char};

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

/// A number that fits a 32-bit float: not infinite or NaN once read, and
/// not so close to 0 that it reads as 0. Each option's own range is
/// checked with the other settings.
#[derive(Clone, Copy, Debug)]
pub(super) struct Real;

impl TypedValueParser for Real {
    type Value = f32;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<f32, clap::Error> {
        let text = value.to_string_lossy();
        let Ok(number) = text.trim().parse::<f32>() else {
            return Err(out_of_range(command, arg, &text, "must be a number"));
        };
        let wide = text.trim().parse::<f64>().unwrap_or(f64::NAN);
        if !number.is_finite() {
            return Err(out_of_range(
                command,
                arg,
                &text,
                "must be a finite number (at most about 3.4e38)",
            ));
        }
        if number == 0.0 && wide != 0.0 {
            return Err(out_of_range(
                command,
                arg,
                &text,
                "is too close to 0 for a 32-bit number, which reads it as 0",
            ));
        }
        Ok(number)
    }
}

/// A user or item id typed on the command line: not empty, and without
/// the control characters or byte order mark that no ratings file may put
/// in an id.
#[derive(Clone, Copy, Debug)]
pub(super) struct IdArg;

impl TypedValueParser for IdArg {
    type Value = String;

    fn parse_ref(
        &self,
        command: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        let text = value.to_string_lossy();
        let shown = format!("\"{}\"", escape_invisible(&text));
        if text.trim().is_empty() {
            return Err(out_of_range(
                command,
                arg,
                &shown,
                "an id may not be empty",
            ));
        }
        if let Some(invalid) = find_invalid_char(&text) {
            let reason = format!("an id may not contain {invalid}");
            return Err(out_of_range(command, arg, &shown, &reason));
        }
        Ok(text.into_owned())
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

    #[test]
    fn reals_rejected_as_typed() {
        assert_eq!(parse(Real, "0.0175"), Ok(0.0175));
        assert_eq!(parse(Real, "-2"), Ok(-2.0));
        assert_eq!(parse(Real, "0"), Ok(0.0));
        let huge = parse(Real, "1e39").unwrap_err();
        assert!(
            huge.contains("invalid --epochs 1e39: must be a finite"),
            "{huge}"
        );
        let tiny = parse(Real, "1e-46").unwrap_err();
        assert!(tiny.contains("1e-46: is too close to 0"), "{tiny}");
        assert!(parse(Real, "NaN").is_err());
        assert!(parse(Real, "x").unwrap_err().contains("must be a number"));
    }

    #[test]
    fn ids_checked_for_invisible_characters() {
        assert_eq!(parse(IdArg, "42"), Ok("42".to_string()));
        let empty = parse(IdArg, " ").unwrap_err();
        assert!(
            empty.contains("invalid --epochs \" \": an id may not be empty"),
            "{empty}"
        );
        let control = parse(IdArg, "1\u{1b}[2J").unwrap_err();
        assert!(control.contains("\"1\\u{1b}[2J\""), "{control}");
        assert!(control.contains("U+001B"), "{control}");
        let mark = parse(IdArg, "\u{feff}1").unwrap_err();
        assert!(mark.contains("byte order mark"), "{mark}");
    }
}

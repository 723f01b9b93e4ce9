//! Parsing of the numbers in a row eight bytes at a time: ratings,
//! timestamps and ids written as small decimal numbers.
//!
//! Each function takes the whole chunk text and the field's range in it,
//! so that it can load the eight bytes at the start of a field even when
//! the field is shorter. Each returns what the row-by-row reader in
//! `load.rs` reads from the field, or `None` where it would report an
//! error or where only the general parser can tell.

/// The byte value 1 in every byte.
pub(super) const ONES: u64 = 0x0101_0101_0101_0101;

const LOW_SEVEN_BITS: u64 = 0x7F7F_7F7F_7F7F_7F7F;
const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
const ASCII_ZEROS: u64 = 0x3030_3030_3030_3030;

/// Returns the eight bytes of `text` from `at` as a little-endian word,
/// with zero bytes past the end of the text.
#[inline(always)]
pub(super) fn load_word(text: &[u8], at: usize) -> u64 {
    match text.get(at..at + 8) {
        Some(bytes) => u64::from_le_bytes(bytes.try_into().unwrap()),
        None => {
            let tail = &text[at.min(text.len())..];
            let mut bytes = [0u8; 8];
            bytes[..tail.len()].copy_from_slice(tail);
            u64::from_le_bytes(bytes)
        }
    }
}

/// Sets the high bit of each byte of `word` that is zero, and no other
/// bit. Bit `8 * i + 7` stands for byte `i`.
#[inline(always)]
pub(super) fn zero_bytes(word: u64) -> u64 {
    !(((word & LOW_SEVEN_BITS) + LOW_SEVEN_BITS) | word | LOW_SEVEN_BITS)
}

/// Reads `text[start..end]`, one to eight ASCII digits, as a number.
#[inline(always)]
fn digits(text: &[u8], start: usize, end: usize) -> Option<u32> {
    word_digits(load_word(text, start), end - start)
}

/// Reads the first `len` bytes of `word`, one to eight ASCII digits, as a
/// number.
#[inline(always)]
fn word_digits(word: u64, len: usize) -> Option<u32> {
    if !(1..=8).contains(&len) {
        return None;
    }
    // The digits move to the top of the word, in the place of the last
    // digits of an eight-digit number, and zeros fill the bytes below.
    let word = word << (8 * (8 - len))
        | ASCII_ZEROS.checked_shr(8 * len as u32).unwrap_or(0);
    // Every byte from 0x30 to 0x39: its high nibble is 3, and adding 6
    // leaves it at 3.
    let high = word & HIGH_NIBBLES;
    let high_after_six = word.wrapping_add(6 * ONES) & HIGH_NIBBLES;
    if high != ASCII_ZEROS || high_after_six != ASCII_ZEROS {
        return None;
    }
    // Pairs of digits, then groups of four, then all eight are combined
    // by multiplying, as in simdjson's `parse_eight_digits_unrolled`.
    let mut value = word & 0x0F0F_0F0F_0F0F_0F0F;
    value = value.wrapping_mul(10 << 8 | 1) >> 8;
    value = (value & 0x00FF_00FF_00FF_00FF).wrapping_mul(100 << 16 | 1) >> 16;
    value =
        (value & 0x0000_FFFF_0000_FFFF).wrapping_mul(10_000 << 32 | 1) >> 32;
    Some(value as u32)
}

/// Values at or above this are not read as numbers by [`small_number`],
/// which keeps the tables indexed by them at most 4 MiB.
pub(super) const SMALL_NUMBER_LIMIT: u32 = 1 << 20;

/// Reads an id written as a decimal number without leading zeros, such as
/// `0` or `4021`, below [`SMALL_NUMBER_LIMIT`]. Each such value has only
/// one spelling, so two ids get the same value only when their bytes are
/// equal: `042` and `42` stay apart, because `042` is not read.
pub(super) fn small_number(id: &[u8]) -> Option<u32> {
    small_number_at(id, 0, id.len())
}

/// Reads `text[start..end]` as [`small_number`] does.
#[inline(always)]
pub(super) fn small_number_at(
    text: &[u8],
    start: usize,
    end: usize,
) -> Option<u32> {
    let len = end - start;
    if len > 7 || (len > 1 && text[start] == b'0') {
        return None;
    }
    digits(text, start, end).filter(|&value| value < SMALL_NUMBER_LIMIT)
}

/// Reads a timestamp with the grammar of `str::parse::<i64>`: an optional
/// sign and at least one ASCII digit, within the range of `i64`.
#[inline(always)]
pub(super) fn timestamp_at(
    text: &[u8],
    start: usize,
    end: usize,
) -> Option<i64> {
    let len = end - start;
    if len <= 8 {
        if let Some(value) = digits(text, start, end) {
            return Some(i64::from(value));
        }
    } else if len <= 16 {
        let high = digits(text, start, end - 8);
        let low = digits(text, end - 8, end);
        if let (Some(high), Some(low)) = (high, low) {
            return Some(i64::from(high) * 100_000_000 + i64::from(low));
        }
    }
    parse_signed(&text[start..end])
}

/// Parses `[+-]?[0-9]+` into an `i64`, as `str::parse::<i64>` does.
fn parse_signed(field: &[u8]) -> Option<i64> {
    let (negative, digits) = match field {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, field),
    };
    if digits.is_empty() {
        return None;
    }
    // The value is summed negated, so that `i64::MIN` fits.
    let mut value: i64 = 0;
    for &byte in digits {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(digit))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// Powers of ten that are exact in an `f64`.
const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
    1e14, 1e15,
];

/// Reads a rating as the row-by-row reader does: as an `f64`, rounded to
/// `f32`, and finite in both.
#[inline(always)]
pub(super) fn rating_at(text: &[u8], start: usize, end: usize) -> Option<f32> {
    let value = match short_decimal(text, start, end) {
        Some(value) => value,
        None => fast_float2::parse::<f64, _>(&text[start..end]).ok()?,
    };
    let single = value as f32;
    (value.is_finite() && single.is_finite()).then_some(single)
}

/// Reads digits with an optional fraction, such as `4` or `3.5`, of at
/// most eight bytes, and returns `None` for any other text.
///
/// The digits form an integer below 2^53, and the divisor is a power of
/// ten below 2^53, both exact in an `f64`. The one rounding of the
/// division then gives the `f64` nearest to the decimal, as a correctly
/// rounded parser such as `fast_float2` does.
#[inline(always)]
fn short_decimal(text: &[u8], start: usize, end: usize) -> Option<f64> {
    let len = end - start;
    if !(1..=8).contains(&len) {
        return None;
    }
    let word = load_word(text, start);
    let field_bytes = u64::MAX >> (8 * (8 - len));
    let points = zero_bytes(word ^ (ONES * u64::from(b'.'))) & field_bytes;
    if points == 0 {
        return word_digits(word, len).map(f64::from);
    }
    // The digits on both sides of the point, with the point taken out.
    let point = (points.trailing_zeros() / 8) as usize;
    let fraction_digits = len - point - 1;
    if point == 0 || fraction_digits == 0 {
        return None;
    }
    let below = word & ((1 << (8 * point)) - 1);
    let above = (word >> (8 * (point + 1))) << (8 * point);
    let mantissa = word_digits(below | above, len - 1)?;
    Some(match DECIMALS.get(fraction_digits - 1) {
        Some(table) if (mantissa as usize) < TABLE_MANTISSAS => {
            table[mantissa as usize]
        }
        _ => f64::from(mantissa) / POWERS_OF_TEN[fraction_digits],
    })
}

/// Mantissas in [`DECIMALS`].
const TABLE_MANTISSAS: usize = 1024;

/// `m / 10` and `m / 100` for each mantissa `m` below [`TABLE_MANTISSAS`],
/// so that ratings such as `4.5` and `2.28` need no division.
static DECIMALS: [[f64; TABLE_MANTISSAS]; 2] = {
    let mut table = [[0.0; TABLE_MANTISSAS]; 2];
    let mut mantissa = 0;
    while mantissa < TABLE_MANTISSAS {
        table[0][mantissa] = mantissa as f64 / 10.0;
        table[1][mantissa] = mantissa as f64 / 100.0;
        mantissa += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn scalar_small_number(id: &[u8]) -> Option<u32> {
        if id.is_empty() || id.len() > 7 || (id[0] == b'0' && id.len() > 1) {
            return None;
        }
        let text = std::str::from_utf8(id).ok()?;
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse()
            .ok()
            .filter(|&value| value < SMALL_NUMBER_LIMIT)
    }

    fn parse_rating_reference(field: &[u8]) -> Option<f32> {
        let value = fast_float2::parse::<f64, _>(field).ok()?;
        let single = value as f32;
        (value.is_finite() && single.is_finite()).then_some(single)
    }

    /// Places `field` in a text between other bytes, as in a row.
    fn in_text(field: &[u8], before: &[u8], after: &[u8]) -> (Vec<u8>, usize) {
        let mut text = before.to_vec();
        text.extend_from_slice(field);
        text.extend_from_slice(after);
        (text, before.len())
    }

    #[test]
    fn digits_of_every_length() {
        for text in ["0", "7", "12", "00000000", "99999999", "1234567", "05"] {
            let bytes = text.as_bytes();
            let expected: u32 = text.parse().unwrap();
            assert_eq!(digits(bytes, 0, bytes.len()), Some(expected), "{text}");
        }
        for text in ["", "a", "1a", "12345678x", "1 2", "-1", "+1", "1.5"] {
            let bytes = text.as_bytes();
            let found = digits(bytes, 0, bytes.len());
            assert_eq!(found, None, "{text:?}");
        }
    }

    #[test]
    fn timestamps_match_str_parse() {
        let cases = [
            "0",
            "1156284335",
            "-5",
            "+5",
            "-",
            "+",
            "",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "0000000000000001",
            "12345678901234567",
            "1e9",
            " 1",
        ];
        for case in cases {
            let bytes = case.as_bytes();
            let expected = case.parse::<i64>().ok();
            let found = timestamp_at(bytes, 0, bytes.len());
            assert_eq!(found, expected, "{case:?}");
        }
    }

    #[test]
    fn ratings_match_fast_float() {
        let cases = [
            "4",
            "4.5",
            "2.28",
            "0.1",
            "0.3",
            "5.",
            ".5",
            "1e3",
            "-1",
            "+2",
            "00.5",
            "1.2.3",
            "NaN",
            "inf",
            "1e39",
            "3.999999999",
            "9.99999999",
            "123456789012345",
            "1234567890123456",
            "0.000000001",
            "16777217",
            "0.1000000000000001",
        ];
        for case in cases {
            let (text, start) = in_text(case.as_bytes(), b"1,2,", b",99\n");
            let end = start + case.len();
            let expected = parse_rating_reference(case.as_bytes());
            let found = rating_at(&text, start, end);
            assert_eq!(
                found.map(f32::to_bits),
                expected.map(f32::to_bits),
                "{case:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn small_numbers_match_scalar(
            id in "[0-9a]{0,9}",
            before in "[0-9,]{0,3}",
            after in "[0-9,\n]{0,9}",
        ) {
            let (text, start) =
                in_text(id.as_bytes(), before.as_bytes(), after.as_bytes());
            let found = if id.is_empty() {
                None
            } else {
                small_number_at(&text, start, start + id.len())
            };
            prop_assert_eq!(found, scalar_small_number(id.as_bytes()));
        }

        #[test]
        fn decimals_match_fast_float(
            whole in "[0-9]{0,9}",
            fraction in proptest::option::of("[0-9]{0,9}"),
            after in "[0-9,.\n]{0,9}",
        ) {
            let field = match &fraction {
                Some(fraction) => format!("{whole}.{fraction}"),
                None => whole.clone(),
            };
            let (text, start) =
                in_text(field.as_bytes(), b"7,", after.as_bytes());
            let found = rating_at(&text, start, start + field.len());
            let expected = parse_rating_reference(field.as_bytes());
            prop_assert_eq!(found.map(f32::to_bits), expected.map(f32::to_bits));
        }

        #[test]
        fn timestamps_match_parse(
            digits in "[+-]?[0-9]{0,20}",
            after in "[0-9,\n]{0,9}",
        ) {
            let (text, start) = in_text(digits.as_bytes(), b",", after.as_bytes());
            let found = timestamp_at(&text, start, start + digits.len());
            prop_assert_eq!(found, digits.parse::<i64>().ok());
        }
    }
}

//! Counts in messages, with the noun in the singular for exactly one and
//! in the plural otherwise: `1 rating`, `0 ratings`, `2 ratings`.

/// Writes `count` followed by `noun`, adding "s" to the noun unless the
/// count is 1. Every noun that the messages of this crate count takes
/// that plural; use [`form`] for any other word.
pub fn count(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Returns `one` when `count` is 1 and `other` otherwise, for verbs and
/// irregular nouns: `form(n, "was", "were")`.
pub fn form<'a>(count: usize, one: &'a str, other: &'a str) -> &'a str {
    if count == 1 {
        one
    } else {
        other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_only_for_one() {
        assert_eq!(count(0, "rating"), "0 ratings");
        assert_eq!(count(1, "rating"), "1 rating");
        assert_eq!(count(2, "user"), "2 users");
        assert_eq!(form(1, "was", "were"), "was");
        assert_eq!(form(3, "was", "were"), "were");
    }
}

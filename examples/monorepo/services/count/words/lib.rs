//! Counts the words of a text: a library crate of the monorepo.

/// The number of whitespace-separated words in `text`.
pub fn count(text: &str) -> usize {
    text.split_whitespace().count()
}

//! Exact token counting with the o200k tokenizer (GPT-4o / GPT-5 family).
//!
//! Terminal output is token-dense (paths, hashes, box-drawing characters), so a
//! `chars / 4` estimate undercounts it by about a third; every budget in this
//! crate is measured with this module instead.

use std::sync::LazyLock;

use tiktoken::CoreBpe;

/// Built once per process: constructing the vocabulary costs tens of milliseconds.
static O200K: LazyLock<CoreBpe> = LazyLock::new(tiktoken::encoding::o200k_base);

/// Number of o200k tokens in `text` (special-token markers count as plain text).
///
/// ```
/// assert_eq!(ai_session_output::tokens::count("hello world"), 2);
/// assert_eq!(ai_session_output::tokens::count(""), 0);
/// ```
pub fn count(text: &str) -> usize {
    O200K.count(text)
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_match_reference_tokenizer() {
        // Reference values from OpenAI's tiktoken (o200k_base).
        let cases = [
            ("", 0),
            ("hello world", 2),
            ("The quick brown fox jumps over the lazy dog.", 10),
        ];
        for (text, expected) in cases {
            assert_eq!(count(text), expected, "{text:?}");
        }
    }
}

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

/// A byte offset near `target` where `text` can be cut without changing the
/// count: `count(a) + count(b) == count(a + b)`.
///
/// o200k never lets a pre-token run from a newline into a following letter or
/// digit (newlines only end whitespace and punctuation pieces, and a word's
/// optional leading character excludes `\r`/`\n`), so cutting right after a
/// `\n` that precedes an ASCII alphanumeric is exact. `None` if no such place
/// exists near `target`.
pub fn exact_split_point(text: &str, target: usize) -> Option<usize> {
    const WINDOW: usize = 1 << 20;
    let bytes = text.as_bytes();
    let target = target.min(bytes.len());
    let is_cut = |newline: usize| {
        bytes
            .get(newline + 1)
            .is_some_and(u8::is_ascii_alphanumeric)
    };
    let end = (target + WINDOW).min(bytes.len());
    memchr::memchr_iter(b'\n', &bytes[target..end])
        .map(|i| target + i)
        .find(|&i| is_cut(i))
        .or_else(|| {
            let start = target.saturating_sub(WINDOW);
            memchr::memrchr_iter(b'\n', &bytes[start..target])
                .map(|i| start + i)
                .find(|&i| is_cut(i))
        })
        .map(|newline| newline + 1)
}

#[cfg(test)]
mod tests {
    use super::{count, exact_split_point};

    #[test]
    fn split_points_keep_counts_exact() {
        let samples = [
            "fn main() {\n    println!(\"hi\");\n}\nerror: x\n  --> src/main.rs:1:1\n",
            "a.\n/usr/include\n/usr/lib\n42 items\nok\n",
            "line one\n\n\nline two  \n   \nthree\n",
            "{\"k\": 1}\n{\"k\": 2}\nDone.\n",
        ];
        for text in samples {
            for target in 0..text.len() {
                if let Some(cut) = exact_split_point(text, target) {
                    let (a, b) = text.split_at(cut);
                    assert_eq!(count(a) + count(b), count(text), "{text:?} cut at {cut}");
                }
            }
        }
    }

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

//! Exact o200k token counts.
//!
//! TEMPORARY shim: delegates to `ai_session_output::tokens::count` once that crate lands.

use std::sync::LazyLock;

static O200K: LazyLock<tiktoken::CoreBpe> = LazyLock::new(tiktoken::encoding::o200k_base);

/// Number of o200k tokens in `text`.
pub fn count(text: &str) -> usize {
    O200K.count(text)
}

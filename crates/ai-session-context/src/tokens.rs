//! Exact o200k token counts: the output crate's tokenizer, so every count in the project agrees.
//!
//! `tiktoken` 4.x was measured against `tiktoken-rs` and `bpe-openai` on the corpus (all three
//! give identical counts; tiktoken 4.x is 4-6x faster), see `docs/performance.md`.

pub use ai_session_output::tokens::count;

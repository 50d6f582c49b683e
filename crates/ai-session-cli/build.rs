//! Links the `ai-session` binary as a position-dependent executable.
//!
//! The binary is ~20 MB of code with ~32k pointers in its read-only data. As a PIE, every
//! start has the dynamic loader rewrite those pointers, copying ~150 pages, which made
//! each `ai-session sandbox` launch (and every CLI call) ~0.9 ms slower: measured 5.4 ms
//! vs 4.5 ms for `sandbox --policy strict -- true`. Linked at a fixed address there is
//! nothing to relocate. Shared libraries, heap and stack stay randomised; see
//! docs/security.md for the trade-off.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo::rustc-link-arg-bin=ai-session=-no-pie");
    }
}

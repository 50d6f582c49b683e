//! The README's example is `examples/hello.rs`, the code that really runs against a daemon
//! (in `ai-session-cli`'s `tests/protocol_example.rs`): the two must not drift apart.

#[test]
fn the_readme_example_is_examples_hello() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/hello.rs");
    let block = readme
        .split_once("```rust,no_run\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(code, _)| code)
        .expect("README.md has a ```rust,no_run block");
    assert_eq!(
        block.trim_end(),
        example.trim_end(),
        "README.md's example differs from examples/hello.rs: make them the same"
    );
}

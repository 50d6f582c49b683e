cargo test --no-fail-fast
exit=101

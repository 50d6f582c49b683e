cargo clippy -- -D warnings
exit=101

cargo test --no-fail-fast -- --test-threads=1
exit=101

cargo test --color=always --no-fail-fast
exit=101

cargo test -q --no-fail-fast
exit=101

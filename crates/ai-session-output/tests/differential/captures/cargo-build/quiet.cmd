cargo build -q
exit=101

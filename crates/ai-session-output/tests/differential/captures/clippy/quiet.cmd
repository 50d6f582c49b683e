cargo clippy -q
exit=0

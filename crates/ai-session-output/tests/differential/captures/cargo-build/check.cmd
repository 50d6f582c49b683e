cargo check
exit=101

cargo build --color=always
exit=101

cargo clippy --color=always
exit=0

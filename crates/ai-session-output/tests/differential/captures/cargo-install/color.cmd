cargo install --color=always --offline --path . --root inst
exit=101

cargo install -q --offline --path . --root inst
exit=101

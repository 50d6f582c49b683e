cargo install --offline --path . --root inst
exit=101

ruff check --output-format full --no-cache .
exit=1

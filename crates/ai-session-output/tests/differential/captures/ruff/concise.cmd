ruff check --output-format concise .
exit=1

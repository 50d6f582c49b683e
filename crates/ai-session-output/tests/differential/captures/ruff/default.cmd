ruff check .
exit=1

ruff check --no-fix .
exit=1

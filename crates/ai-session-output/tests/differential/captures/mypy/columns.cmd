mypy --show-column-numbers app.py
exit=1

mypy app.py
exit=1

mypy --pretty app.py
exit=1

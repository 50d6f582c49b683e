mypy --no-error-summary --no-color-output app.py
exit=1

pytest -v
exit=1

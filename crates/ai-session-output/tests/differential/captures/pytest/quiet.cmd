pytest -q
exit=1

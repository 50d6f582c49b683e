pytest -x
exit=1

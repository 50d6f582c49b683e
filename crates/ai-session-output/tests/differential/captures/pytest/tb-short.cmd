pytest --tb=short -q
exit=1

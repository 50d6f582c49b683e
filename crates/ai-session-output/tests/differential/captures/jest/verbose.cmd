jest --verbose
exit=1

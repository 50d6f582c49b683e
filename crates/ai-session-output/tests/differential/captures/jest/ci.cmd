jest --ci
exit=1

eslint .
exit=1

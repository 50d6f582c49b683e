eslint --quiet .
exit=1

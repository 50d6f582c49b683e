eslint --no-color .
exit=1

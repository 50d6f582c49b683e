eslint --color .
exit=1

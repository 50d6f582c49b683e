tsc --pretty false
exit=2

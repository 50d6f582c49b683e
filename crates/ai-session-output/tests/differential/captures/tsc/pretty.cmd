tsc --pretty
exit=2

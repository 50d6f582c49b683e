mocha --no-colors
exit=3

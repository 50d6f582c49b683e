mocha
exit=3

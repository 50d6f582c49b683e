mocha --colors
exit=3

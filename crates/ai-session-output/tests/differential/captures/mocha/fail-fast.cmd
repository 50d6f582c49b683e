mocha --bail
exit=1

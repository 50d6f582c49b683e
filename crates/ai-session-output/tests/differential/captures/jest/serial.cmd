jest --runInBand
exit=1

jest --colors
exit=1

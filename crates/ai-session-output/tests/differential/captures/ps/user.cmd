ps u -p 1
exit=0

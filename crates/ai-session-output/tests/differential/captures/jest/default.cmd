jest
exit=1

make -s -k
exit=2

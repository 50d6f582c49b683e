ls -lA
exit=0

ls -l
exit=0

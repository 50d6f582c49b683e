git status -s -uall
exit=0

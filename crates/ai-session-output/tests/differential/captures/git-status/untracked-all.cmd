git status -uall
exit=0

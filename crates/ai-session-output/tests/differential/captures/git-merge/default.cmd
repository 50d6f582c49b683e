git merge feature
exit=1

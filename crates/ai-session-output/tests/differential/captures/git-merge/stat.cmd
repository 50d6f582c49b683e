git merge --stat feature
exit=1

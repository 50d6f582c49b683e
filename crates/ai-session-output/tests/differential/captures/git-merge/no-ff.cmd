git merge --no-ff feature
exit=1

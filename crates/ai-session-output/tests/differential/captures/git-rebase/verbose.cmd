git rebase -v main
exit=1

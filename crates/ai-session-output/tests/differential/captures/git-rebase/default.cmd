git rebase main
exit=1

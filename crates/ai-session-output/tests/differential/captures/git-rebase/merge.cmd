git rebase --merge main
exit=1

ls -lh --color=always
exit=0

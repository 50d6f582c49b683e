pytest --color=yes
exit=1

pytest --color=no -q
exit=1

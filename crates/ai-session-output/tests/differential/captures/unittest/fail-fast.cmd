python3 -m unittest -f
exit=1

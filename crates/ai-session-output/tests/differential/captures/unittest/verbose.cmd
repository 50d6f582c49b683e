python3 -m unittest -v
exit=1

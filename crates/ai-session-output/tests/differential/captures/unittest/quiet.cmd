python3 -m unittest -q
exit=1

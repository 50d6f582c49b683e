python3 -m unittest
exit=1

python3 worker.py
exit=0

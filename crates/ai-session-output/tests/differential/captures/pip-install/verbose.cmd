pip install -v --no-index no-such-pkg-corpus
exit=1

pip install --no-index no-such-pkg-corpus
exit=1

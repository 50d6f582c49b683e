npm install --offline no-such-pkg-corpus
exit=1

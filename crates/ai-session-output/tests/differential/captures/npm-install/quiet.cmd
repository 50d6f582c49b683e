npm install --offline --loglevel=error no-such-pkg-corpus
exit=1

npm install --offline --color=always no-such-pkg-corpus
exit=1

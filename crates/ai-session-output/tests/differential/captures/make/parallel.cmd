make -j2 -k
exit=2

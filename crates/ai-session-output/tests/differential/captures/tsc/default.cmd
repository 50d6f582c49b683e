tsc
exit=2

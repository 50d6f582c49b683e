clang -Wall -c main.c
exit=1

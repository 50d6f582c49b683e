clang -Wall -fcolor-diagnostics -c main.c
exit=1

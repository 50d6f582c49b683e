clang -Wall -fno-caret-diagnostics -c main.c
exit=1

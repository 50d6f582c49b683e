gcc -Wall -fno-diagnostics-show-caret -c main.c
exit=1

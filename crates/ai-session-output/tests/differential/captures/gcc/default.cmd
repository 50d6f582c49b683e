gcc -Wall -c main.c
exit=1

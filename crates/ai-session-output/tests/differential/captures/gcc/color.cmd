gcc -Wall -fdiagnostics-color=always -c main.c
exit=1

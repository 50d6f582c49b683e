gcc -Wall -Wextra -c main.c
exit=1

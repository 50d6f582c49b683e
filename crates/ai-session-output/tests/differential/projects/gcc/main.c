#include <stdio.h>

static int square(int x) {
    return x * x;
}

int main(void) {
    int unused = 4;
    int total = square(3)
    printf("%d\n", total);
    char *name = 42;
    return undefined_value;
}

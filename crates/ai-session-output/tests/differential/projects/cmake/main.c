#include <stdio.h>

int scale(int);

int main(void) {
    int ratio;
    printf("%d\n", scale(ratio));
    return 0;
}

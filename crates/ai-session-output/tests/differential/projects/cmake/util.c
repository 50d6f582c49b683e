int scale(int x) {
    int y = x * 2
    return y;
}

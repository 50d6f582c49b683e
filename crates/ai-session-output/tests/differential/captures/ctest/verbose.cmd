cd build && ctest -V
exit=8

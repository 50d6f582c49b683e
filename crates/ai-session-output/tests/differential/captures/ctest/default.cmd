cd build && ctest
exit=8

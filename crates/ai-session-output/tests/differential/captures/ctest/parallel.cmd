cd build && ctest -j2
exit=8

cd build && ctest --output-on-failure
exit=8

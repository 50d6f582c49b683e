cmake -S . -B build >/dev/null && cmake --build build --verbose
exit=2

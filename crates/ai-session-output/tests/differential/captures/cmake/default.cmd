cmake -S . -B build >/dev/null && cmake --build build
exit=2

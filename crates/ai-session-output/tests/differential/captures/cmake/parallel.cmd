cmake -S . -B build >/dev/null && cmake --build build -j 2 -- -k
exit=2

vitest run
exit=1

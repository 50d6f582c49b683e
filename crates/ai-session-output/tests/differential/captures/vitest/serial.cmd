vitest run --no-file-parallelism
exit=1

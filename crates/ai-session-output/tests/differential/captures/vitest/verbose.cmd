vitest run --reporter=verbose
exit=1

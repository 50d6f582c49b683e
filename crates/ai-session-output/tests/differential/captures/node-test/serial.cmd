node --test --test-concurrency=1
exit=1

node --test --test-reporter=spec
exit=1

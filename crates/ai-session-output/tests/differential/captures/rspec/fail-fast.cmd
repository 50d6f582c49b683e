rspec --fail-fast
exit=1

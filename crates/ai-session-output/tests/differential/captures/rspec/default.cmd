rspec
exit=1

rspec --no-color
exit=1

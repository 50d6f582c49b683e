rspec --force-color
exit=1

phpunit --verbose tests
exit=2
